"""Drop cohort.home_channel: nothing ever read or wrote it.

Revision ID: 0012_tidy
Revises: 0011_coach
"""
import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0012_tidy"
down_revision = "0011_coach"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cohort") as batch:
        batch.drop_column("home_channel")


def downgrade() -> None:
    with op.batch_alter_table("cohort") as batch:
        batch.add_column(sa.Column("home_channel", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
