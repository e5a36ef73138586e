"""Speed: the planner's due time per person, and the indexes the set-based reads use.

Revision ID: 0007_speed
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007_speed"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_membership_cohort_part", "membership", ["cohort_id", "is_participant", "person_id", "joined_at"]),
    ("ix_dare_cohort_created", "dare", ["cohort_id", "created_at", "id"]),
    ("ix_contact_person_cover", "contact", ["person_id", "can_decide", "created_at"]),
    (
        "ix_outreach_person_cover",
        "outreach",
        ["person_id", "sent_on", "contact_id", "attempt_no", "status", "created_at"],
    ),
    ("ix_interview_person_cover", "interview", ["person_id", "held_on", "contact_id", "created_at"]),
    ("ix_story_cohort_created", "story", ["cohort_id", "created_at"]),
)


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("next_check_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.create_index("ix_person_next_check_at", ["next_check_at"])
    for name, table, cols in INDEXES:
        op.create_index(name, table, cols)


def downgrade() -> None:
    for name, table, _cols in INDEXES:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("person") as batch:
        batch.drop_index("ix_person_next_check_at")
        batch.drop_column("next_check_at")
