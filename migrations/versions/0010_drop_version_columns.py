"""review.version and transfer.version dropped

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every UPDATE bumped them and none compared them: each race is decided by the state (and
    # holder) in the UPDATE's own WHERE, so a version would only repeat what the state says.
    op.drop_column('review', 'version')
    op.drop_column('transfer', 'version')


def downgrade() -> None:
    for table in ('review', 'transfer'):
        op.add_column(
            table, sa.Column('version', sa.Integer(), nullable=False, server_default='1')
        )
