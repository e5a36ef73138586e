"""The coach: a person's aim (shapes suggested questions) and a goal a participant raises for themselves.

Revision ID: 0011_coach
Revises: 0005_sec
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0011_coach"
down_revision = "0009_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("aim", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True))
    with op.batch_alter_table("acceptance") as batch:
        batch.add_column(sa.Column("goal", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acceptance") as batch:
        batch.drop_column("goal")
    with op.batch_alter_table("person") as batch:
        batch.drop_column("aim")
