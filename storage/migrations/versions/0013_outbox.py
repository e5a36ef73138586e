"""The outbox stops paying per-row foreign-key checks: `nudge` loses its two foreign keys and the
index on workspace_id.

A first sweep writes ~230k nudge rows in bulk; on PostgreSQL the RI triggers (a FOR KEY SHARE lock
on the person per row) were ~40% of the server's CPU for it. The references stay declared on the
model (storage.models.refers_to), where erasure, export and workspace deletion follow them, and
delivery deletes a row whose person is gone. No read filters on workspace_id alone.

SQLite cannot drop a constraint: the table is rebuilt. That is safe while foreign keys are enforced
(PRAGMA foreign_keys=ON, storage.db) because no table points at `nudge`; its own unnamed foreign keys
are named for the batch by a naming convention, so they can be dropped by name.

Revision ID: 0013_outbox
Revises: 0012_tidy
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_outbox"
down_revision = "0012_tidy"
branch_labels = None
depends_on = None

# (PostgreSQL's name, the name the batch's naming convention gives SQLite's unnamed key, column, target)
_FKS = (
    ("nudge_person_id_fkey", "fk_nudge_person_id_person", "person_id", "person"),
    ("nudge_workspace_id_fkey", "fk_nudge_workspace_id_workspace", "workspace_id", "workspace"),
)
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_INDEX = "ix_nudge_workspace_id"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("nudge", recreate="always", naming_convention=_NAMING) as batch:
            for _pg_name, name, _column, _target in _FKS:
                batch.drop_constraint(name, type_="foreignkey")
            batch.drop_index(_INDEX)
        return
    for pg_name, _name, _column, _target in _FKS:
        op.drop_constraint(pg_name, "nudge", type_="foreignkey")
    op.drop_index(_INDEX, table_name="nudge")


def downgrade() -> None:
    # Rows a sweep wrote for someone erased meanwhile would fail the restored keys: they were never to
    # be sent (delivery deletes them), so they go first.
    for _pg_name, _name, column, target in _FKS:
        op.execute(sa.text(f"DELETE FROM nudge WHERE {column} NOT IN (SELECT id FROM {target})"))
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("nudge", recreate="always") as batch:
            for _pg_name, name, column, target in _FKS:
                batch.create_foreign_key(name, target, [column], ["id"])
            batch.create_index(_INDEX, ["workspace_id"], unique=False)
        return
    for pg_name, _name, column, target in _FKS:
        op.create_foreign_key(pg_name, "nudge", target, [column], ["id"])
    op.create_index(_INDEX, "nudge", ["workspace_id"], unique=False)
