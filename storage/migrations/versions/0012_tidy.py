"""Drop cohort.home_channel: nothing ever read or wrote it.

Revision ID: 0012_tidy
Revises: 0011_coach
"""

import sqlite3

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0012_tidy"
down_revision = "0011_coach"
branch_labels = None
depends_on = None

# SQLite drops a plain column in place from 3.35 on. A batch that rebuilt `cohort` would fail once
# rows point at it (foreign keys are enforced), so the batch is told never to recreate the table.
_SQLITE_DROPS_COLUMNS = sqlite3.sqlite_version_info >= (3, 35, 0)


def _has_home_channel() -> bool:
    return "home_channel" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("cohort")}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and not _SQLITE_DROPS_COLUMNS:
        return  # older SQLite: the column stays, nullable and unread
    with op.batch_alter_table("cohort", recreate="never") as batch:
        batch.drop_column("home_channel")


def downgrade() -> None:
    if _has_home_channel():
        return
    with op.batch_alter_table("cohort", recreate="never") as batch:
        batch.add_column(sa.Column("home_channel", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
