"""turn request hash: an Idempotency-Key reused with another body is refused

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('turn', sa.Column('request_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('turn', 'request_hash')
