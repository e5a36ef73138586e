"""The per-workspace send budget shared by every delivering process.

Revision ID: 0006_ratelimit
Revises: 0007_speed
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006_ratelimit"
down_revision = "0007_speed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratelimit",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("blocked_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("ratelimit")
