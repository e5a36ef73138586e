"""An overdue nudge that goes out carries the keys of those it went instead of: `nudge.instead_of`.

Of a person's nudges found long overdue, the sweep sends only the most relevant
(bot.nudges.catalog.one_overdue_per_person). The others were each written as a "dropped" row, so that
no later sweep would plan them again: 93k of the 230k rows of a first sweep of 100k people, about a
sixth of that sweep's time on PostgreSQL. Their keys now go in one JSON list on the row that goes.
Rows already written stay as they are: a "dropped" row still keeps its key from being planned.

Revision ID: 0016_instead
Revises: 0015_partial
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_instead"
down_revision = "0015_partial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nudge") as batch:
        batch.add_column(sa.Column("instead_of", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nudge") as batch:
        batch.drop_column("instead_of")
