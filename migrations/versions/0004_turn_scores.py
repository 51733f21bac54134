"""turn scores: what the semantic detector read in each message

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Kept so that replaying history under new thresholds needs no re-encoding.
    op.add_column('turn', sa.Column('scores', postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column('turn', 'scores')
