"""Privacy: anonymous per-cohort totals, forgotten-contact counts, retention, uninstall and forget-me marks.

Only columns are added (no table is rebuilt on SQLite, where rows pointing at it would block that).

Revision ID: 0009_privacy
Revises: 0005_sec
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009_privacy"
down_revision = "0008_dash"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forgottenactivity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("counted_from", sa.Date(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_attempts", sa.Integer(), nullable=False),
        sa.Column("follow_ups", sa.Integer(), nullable=False),
        sa.Column("later_attempts", sa.Integer(), nullable=False),
        sa.Column("reached", sa.Integer(), nullable=False),
        sa.Column("replied", sa.Integer(), nullable=False),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("interviews", sa.Integer(), nullable=False),
        sa.Column("decider_interviews", sa.Integer(), nullable=False),
        sa.Column("outcomes", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("forgottenactivity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_forgottenactivity_person_id"), ["person_id"], unique=False)

    op.create_table(
        "anonymous_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("dare_id", sa.Integer(), nullable=True),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("reached_out", sa.Integer(), nullable=False),
        sa.Column("interviewed", sa.Integer(), nullable=False),
        sa.Column("goal_met", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_attempts", sa.Integer(), nullable=False),
        sa.Column("follow_ups", sa.Integer(), nullable=False),
        sa.Column("later_attempts", sa.Integer(), nullable=False),
        sa.Column("reached", sa.Integer(), nullable=False),
        sa.Column("replied", sa.Integer(), nullable=False),
        sa.Column("meetings", sa.Integer(), nullable=False),
        sa.Column("interviews", sa.Integer(), nullable=False),
        sa.Column("decider_interviews", sa.Integer(), nullable=False),
        sa.Column("stories", sa.Integer(), nullable=False),
        sa.Column("recruiter_calls", sa.Integer(), nullable=False),
        sa.Column("outcomes", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["cohort.id"],
        ),
        sa.ForeignKeyConstraint(
            ["dare_id"],
            ["dare.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("anonymous_totals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_anonymous_totals_cohort_id"), ["cohort_id"], unique=False)

    # Plain ALTER TABLE ADD COLUMN: a batch here would rebuild `cohort`, which rows point at.
    op.add_column("cohort", sa.Column("retention_days", sa.Integer(), nullable=False, server_default="180"))
    op.add_column("cohort", sa.Column("purged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column("cohort", sa.Column("has_anonymous_totals", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("forget_requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uninstalled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.drop_column("uninstalled_at")

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("forget_requested_at")

    with op.batch_alter_table("cohort", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
        batch_op.drop_column("has_anonymous_totals")
        batch_op.drop_column("retention_days")

    with op.batch_alter_table("anonymous_totals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anonymous_totals_cohort_id"))

    op.drop_table("anonymous_totals")
    with op.batch_alter_table("forgottenactivity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_forgottenactivity_person_id"))

    op.drop_table("forgottenactivity")
