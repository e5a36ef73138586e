"""darebot's tables. Every row hangs off one workspace; ids are integers, platform ids strings.

Datetimes are aware and stored in UTC (SQLModel's UTCDateTime); dates are calendar dates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import Index, Text, UniqueConstraint, literal_column, text
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, SQLModel, col


class _Keyed(Protocol):
    @property
    def id(self) -> int | None: ...


def pk(row: _Keyed) -> int:
    """A stored row's id. SQLModel types every id optional because it is unset until the first flush."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id until it is flushed")
    return row.id


class Workspace(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("platform", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    created_at: datetime
    # Set when the app is removed from the workspace: its dashboard links stop working.
    closed_at: datetime | None = None
    # Set when the app is removed; the workspace's data is deleted 30 days later (bot.privacy).
    uninstalled_at: datetime | None = None
    # Set when the platform rejected darebot's own token for this workspace (Slack invalid_auth,
    # token_revoked, account_inactive): its DMs are held, not sent, until a new token is installed.
    token_rejected_at: datetime | None = None
    token_error: str | None = Field(default=None, max_length=60)


class Person(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id")
    external_id: str = Field(max_length=64)
    display_name: str = Field(max_length=200)
    alias: str = Field(max_length=40)
    tz: str | None = Field(default=None, max_length=64)
    quiet_start: str = Field(default="21:00", max_length=5)
    quiet_end: str = Field(default="08:00", max_length=5)
    nudges_enabled: bool = True
    snoozed_until: datetime | None = None
    board_mode: str = Field(default="named", max_length=8)
    aim: str | None = Field(default=None, max_length=12)  # job | growth | business: shapes the suggested questions
    unreachable_at: datetime | None = None
    unreachable_reason: str | None = Field(default=None, max_length=200)
    last_active_at: datetime | None = None
    # When they asked /dare forget-me; confirming is possible for a few minutes after it.
    forget_requested_at: datetime | None = None
    # When the nudge planner must look at this person again: the earliest moment a rule could plan
    # something new for them. Any change to their state sets it to "now"; NULL means never looked at.
    next_check_at: datetime | None = Field(default=None, index=True)
    created_at: datetime


class Cohort(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "name_key"),)
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id")
    name: str = Field(max_length=80)
    name_key: str = Field(max_length=80)
    tz: str = Field(max_length=64)
    goal: int = 3
    deadline: date | None = None
    paused_until: datetime | None = None
    paused: bool = False
    closed_at: datetime | None = None
    # Personal data is kept this many days after the term ends, then only anonymous totals remain.
    retention_days: int = 180
    purged_at: datetime | None = None
    has_anonymous_totals: bool = False  # someone's counts were kept anonymously (the report reads them)
    created_by: int = Field(foreign_key="person.id")
    created_at: datetime


class Membership(SQLModel, table=True):
    # The index serves "the participants of a cohort, in join order" without touching the table.
    __table_args__ = (
        UniqueConstraint("cohort_id", "person_id"),
        Index("ix_membership_cohort_part", "cohort_id", "is_participant", "person_id", "joined_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    is_instructor: bool = False
    is_participant: bool = False
    joined_at: datetime
    # A person removed by an instructor (or who left) keeps their data; they leave the board and totals.
    removed_at: datetime | None = None
    removed_how: str | None = Field(default=None, max_length=8)  # removed | left


class QuietWeek(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id", index=True)
    starts_on: date
    ends_on: date
    note: str = Field(default="", max_length=120)


class Dare(SQLModel, table=True):
    __table_args__ = (Index("ix_dare_cohort_created", "cohort_id", "created_at", "id"),)  # the current dare
    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id")
    goal: int = 3
    starts_at: datetime
    deadline: date | None = None
    reward: str | None = Field(default=None, max_length=120)
    issued_by: int = Field(foreign_key="person.id")
    # Coaching knobs; defaults a coach would choose (see bot.nudges.policy).
    followup_days: int = 4
    stall_days: int = 5
    daily_cap: int = 1
    weekly_cap: int = 3
    created_at: datetime


class Acceptance(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("dare_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    dare_id: int = Field(foreign_key="dare.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    accepted_at: datetime
    goal: int | None = None  # a goal the participant raised for themselves, above the dare's


class Contact(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("person_id", "name_key"),
        Index("ix_contact_person_cover", "person_id", "can_decide", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    name: str = Field(max_length=80)
    name_key: str = Field(max_length=80)
    title: str | None = Field(default=None, max_length=120)
    org: str | None = Field(default=None, max_length=120)
    kind: str = Field(default="future-self", max_length=20)
    can_decide: bool = False
    created_at: datetime


class Outreach(SQLModel, table=True):
    # The index covers the per-person counts (board, report, progress) without reading rows, and serves every
    # lookup by person (a narrower index on its first columns would only cost each write another insert).
    __table_args__ = (
        UniqueConstraint("contact_id", "attempt_no"),
        Index("ix_outreach_person_cover", "person_id", "sent_on", "contact_id", "attempt_no", "status", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id")
    person_id: int = Field(foreign_key="person.id")
    attempt_no: int
    channel: str = Field(default="email", max_length=16)
    sent_on: date
    # no-reply | replied | declined | meeting
    status: str = Field(default="no-reply", max_length=16)
    replied_on: date | None = None
    meeting_on: date | None = None
    created_at: datetime


class Interview(SQLModel, table=True):
    __table_args__ = (Index("ix_interview_person_cover", "person_id", "held_on", "contact_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    contact_id: int = Field(foreign_key="contact.id", index=True)
    held_on: date
    minutes: int | None = None
    asked: str = Field(default="", max_length=400)
    learned: str | None = Field(default=None, max_length=1500)
    created_at: datetime


class Outcome(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("interview_id", "tag"),)
    id: int | None = Field(default=None, primary_key=True)
    interview_id: int = Field(foreign_key="interview.id")
    tag: str = Field(max_length=24)


class Story(SQLModel, table=True):
    __table_args__ = (Index("ix_story_cohort_created", "cohort_id", "created_at"),)  # newest stories of a cohort
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    cohort_id: int | None = Field(default=None, foreign_key="cohort.id")
    text: str = Field(max_length=3000)
    consent: str = Field(default="instructor", max_length=12)
    reward_granted_at: datetime | None = None
    granted_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime


class RecruiterCall(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    company: str = Field(max_length=120)
    role: str | None = Field(default=None, max_length=120)
    asked: str = Field(default="", max_length=60)
    answer: str | None = Field(default=None, max_length=8)
    connected: bool = False
    referred: bool = False
    occurred_on: date
    created_at: datetime


class ForgottenActivity(SQLModel, table=True):
    """What a contact removed with `/dare contact NAME --forget` had counted on one day, as numbers only.

    The person's own row: it keeps their board place and the cohort's report from shrinking, and
    goes (folded into the cohort's anonymous totals) when the person is erased.
    """

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    counted_from: date  # the day of the forgotten activity (one row a day), so any span counts it as before
    attempts: int = 0
    first_attempts: int = 0
    follow_ups: int = 0
    later_attempts: int = 0
    reached: int = 0
    replied: int = 0
    meetings: int = 0
    interviews: int = 0
    decider_interviews: int = 0
    outcomes: str = Field(default="", max_length=300)  # "advice=1;referral=2"
    created_at: datetime


class AnonymousTotals(SQLModel, table=True):
    """A cohort's counts contributed by people no longer in the database (erased or past retention).

    One row per cohort and dare, with no person and no timestamp, so it cannot be traced back; the
    report adds it to the live numbers, so counts do not drop when someone is forgotten.
    """

    __tablename__ = "anonymous_totals"
    id: int | None = Field(default=None, primary_key=True)
    cohort_id: int = Field(foreign_key="cohort.id", index=True)
    dare_id: int | None = Field(default=None, foreign_key="dare.id")
    participants: int = 0
    accepted: int = 0
    reached_out: int = 0
    interviewed: int = 0
    goal_met: int = 0
    attempts: int = 0
    first_attempts: int = 0
    follow_ups: int = 0
    later_attempts: int = 0
    reached: int = 0
    replied: int = 0
    meetings: int = 0
    interviews: int = 0
    decider_interviews: int = 0
    stories: int = 0
    recruiter_calls: int = 0
    outcomes: str = Field(default="", max_length=300)


# Column.info key for a reference ("table.column") the database does not enforce. storage.personal
# follows it exactly like a foreign key, so export, erasure and workspace deletion still find the rows.
REFERS_TO = "refers_to"


def refers_to(target: str) -> dict[str, Any]:
    """A Field's sa_column_kwargs for a column that points at `target` ("table.column") with no foreign key."""
    return {"info": {REFERS_TO: target}}


def _only(status: str) -> dict[str, Any]:
    """Index kwargs making an index partial: only the outbox rows with this status."""
    where = text(f"status = '{status}'")
    return {"sqlite_where": where, "postgresql_where": where}


class Nudge(SQLModel, table=True):
    """The outbox: one planned DM. `key` (person, rule, subject, period) makes planning idempotent."""

    # Delivery looks only for pending rows by due time and claimed rows by claim expiry; most rows of a
    # first sweep are "dropped" and the rest end "sent", so an index over every status cost SQLite ~0.4 s
    # of a 100k sweep's ~1.2 s insert for rows no query looks up. Queries compare status with the same
    # literal (nudge_status_is): a generic PostgreSQL plan (psycopg prepares a statement after five runs)
    # cannot use a partial index from a bound parameter, and SQLite matches one from a bound value only
    # by re-preparing the statement at every run.
    __table_args__ = (
        Index("ix_nudge_pending", "due_at", **_only("pending")),
        Index("ix_nudge_claimed", "claimed_until", **_only("claimed")),
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    # The person and workspace are references the database does not check (migration 0013). The outbox
    # is written in bulk (a first sweep of 100k people writes ~230k rows), and PostgreSQL's per-row
    # foreign-key checks (an RI trigger and a FOR KEY SHARE lock on the person, per row) were ~40% of
    # that sweep's server CPU. Nothing is lost: erasure and workspace deletion find the rows through
    # these references (storage.personal), and delivery deletes a row whose person is gone (a sweep that
    # raced the person's erasure can write one). No read filters on workspace_id alone (a claim filters
    # status and due_at or claimed_until, ix_nudge_pending / ix_nudge_claimed, then the workspace), so it
    # has no index of its own.
    workspace_id: int = Field(sa_column_kwargs=refers_to("workspace.id"))
    person_id: int = Field(index=True, sa_column_kwargs=refers_to("person.id"))
    rule: str = Field(max_length=40)
    subject: str = Field(default="", max_length=80)
    due_at: datetime
    planned_at: datetime
    # pending | claimed | sent | dropped | failed | unreachable
    status: str = Field(default="pending", max_length=12)
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=80)
    claimed_until: datetime | None = None
    sent_at: datetime | None = None
    platform_message_id: str | None = Field(default=None, max_length=120)
    last_error: str | None = Field(default=None, max_length=300)
    # The keys of the overdue nudges this one went out instead of, as a JSON list (catalog.one_overdue_per_
    # person): no sweep plans them again. One column on the row that goes, where a "dropped" row per key
    # made a first sweep of 100k people write 93k rows nobody sends (migration 0016).
    instead_of: str | None = Field(default=None, sa_type=Text)


# The statuses the partial indexes of `nudge` cover.
INDEXED_STATUSES = ("pending", "claimed")


def nudge_status_is(status: str) -> ColumnElement[bool]:
    """`nudge.status = '<status>'` with the status as a literal in the SQL, never a bound parameter, so the
    planner can match it to the partial index (ix_nudge_pending, ix_nudge_claimed) on both backends."""
    if status not in INDEXED_STATUSES:
        raise ValueError(f"no partial index covers status {status!r}")
    return col(Nudge.status) == literal_column(f"'{status}'")


class ProcessedEvent(SQLModel, table=True):
    """Idempotency keys of platform deliveries (Slack event ids, Discord interaction ids)."""

    key: str = Field(primary_key=True, max_length=200)
    created_at: datetime


class Lease(SQLModel, table=True):
    """A named lease: on SQLite, only the holder runs the scheduler's delivery."""

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=80)
    expires_at: datetime


class RateLimit(SQLModel, table=True):
    """A send budget (token bucket) per platform workspace, shared by every delivering process."""

    key: str = Field(primary_key=True, max_length=80)
    tokens: float
    updated_at: datetime
    blocked_until: datetime | None = None


class AppSecret(SQLModel, table=True):
    """A key darebot generated for itself (the dashboard's link signing key when none is configured)."""

    name: str = Field(primary_key=True, max_length=40)
    value: str = Field(max_length=200)
    created_at: datetime
