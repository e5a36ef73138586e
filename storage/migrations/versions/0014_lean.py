"""Drop the indexes that a wider index already serves: each one cost every write another insert.

A foreign key column indexed on its own (person.workspace_id, dare.cohort_id, ...) or a two-column
index (outreach by person and day) is a prefix of a unique constraint or covering index on the same
table, which answers the same lookups; the planner's sweep, the log and every other write paid for
both. The columns keep their foreign keys.

Revision ID: 0014_lean
Revises: 0013_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_lean"
down_revision = "0013_outbox"
branch_labels = None
depends_on = None

# (index, table, columns): each is the leading part of another index of its table (see storage/models.py).
REDUNDANT = (
    ("ix_person_workspace_id", "person", ["workspace_id"]),  # unique (workspace_id, external_id)
    ("ix_cohort_workspace_id", "cohort", ["workspace_id"]),  # unique (workspace_id, name_key)
    ("ix_membership_cohort_id", "membership", ["cohort_id"]),  # ix_membership_cohort_part
    ("ix_dare_cohort_id", "dare", ["cohort_id"]),  # ix_dare_cohort_created
    ("ix_acceptance_dare_id", "acceptance", ["dare_id"]),  # unique (dare_id, person_id)
    ("ix_contact_person_id", "contact", ["person_id"]),  # unique (person_id, name_key), ix_contact_person_cover
    ("ix_outreach_contact_id", "outreach", ["contact_id"]),  # unique (contact_id, attempt_no)
    ("ix_outreach_person_sent", "outreach", ["person_id", "sent_on"]),  # ix_outreach_person_cover
    ("ix_interview_person_held", "interview", ["person_id", "held_on"]),  # ix_interview_person_cover
    ("ix_outcome_interview_id", "outcome", ["interview_id"]),  # unique (interview_id, tag)
    ("ix_story_cohort_id", "story", ["cohort_id"]),  # ix_story_cohort_created
)


def _indexes(table: str) -> set[str]:
    return {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(table) if ix["name"]}


def upgrade() -> None:
    for name, table, _cols in REDUNDANT:
        if name in _indexes(table):
            op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, cols in REDUNDANT:
        if name not in _indexes(table):
            op.create_index(name, table, cols)
