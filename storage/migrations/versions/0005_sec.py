"""Workspaces whose token the platform rejected: their DMs are held until a new token arrives.

Revision ID: 0005_sec
Revises: 0007_speed
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005_sec"
down_revision = "0006_ratelimit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspace") as batch:
        batch.add_column(sa.Column("token_rejected_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("token_error", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspace") as batch:
        batch.drop_column("token_error")
        batch.drop_column("token_rejected_at")
