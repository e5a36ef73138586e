"""The outbox's due index covers only the rows delivery looks for: `ix_nudge_due (status, due_at)`
gives way to two partial indexes, pending rows by due time and claimed rows by claim expiry.

A first sweep of 100k people writes ~230k rows, ~93k of them "dropped", and sent rows are never
looked up by status either; the index over every status cost SQLite ~0.4 s of that sweep's ~1.2 s
insert. The queries compare status with the same literal (storage.models.nudge_status_is): PostgreSQL's
generic plans cannot use a partial index from a bound parameter, and SQLite re-prepares for one.

Revision ID: 0015_partial
Revises: 0014_lean
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_partial"
down_revision = "0014_lean"
branch_labels = None
depends_on = None

# (index, column, status): as storage.models.Nudge declares them.
PARTIAL = (
    ("ix_nudge_pending", "due_at", "pending"),
    ("ix_nudge_claimed", "claimed_until", "claimed"),
)
OLD = ("ix_nudge_due", ["status", "due_at"])


def _indexes() -> set[str]:
    return {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("nudge") if ix["name"]}


def upgrade() -> None:
    have = _indexes()
    for name, column, status in PARTIAL:
        if name not in have:
            where = sa.text(f"status = '{status}'")
            op.create_index(name, "nudge", [column], sqlite_where=where, postgresql_where=where)
    if OLD[0] in have:
        op.drop_index(OLD[0], table_name="nudge")


def downgrade() -> None:
    have = _indexes()
    if OLD[0] not in have:
        op.create_index(OLD[0], "nudge", OLD[1])
    for name, _column, _status in PARTIAL:
        if name in have:
            op.drop_index(name, table_name="nudge")
