"""The sweep: read database state, run the rules, insert outbox rows that fall due soon.

Idempotent: each row's unique key is `person:rule:subject:period`; keys already in the outbox are
left out and the rest inserted so that a conflict is skipped (ON CONFLICT (key) DO NOTHING), so planning
twice (or two planners racing) plans once. Set-based: people are processed in batches of person ids
(memory stays flat however large the workspace), each read in a few statements as plain tuples on the
driver's cursor, run through the pure rules, and written in one statement (a COPY on PostgreSQL). On
PostgreSQL, in a sweep of several batches, a writer thread writes each batch while the next is planned
and a reader thread reads the batches ahead.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeGuard

from sqlalchemy import ARRAY, Connection, Engine, Integer, any_, bindparam, func, literal_column, select
from sqlmodel import Session, SQLModel, col

from bot.collector import collector_paused
from bot.nudges import catalog, share
from bot.nudges.policy import DEFAULT_POLICY, Policy
from bot.nudges.rules import (
    Candidate,
    Clock,
    ContactInfo,
    DareInfo,
    InstructorState,
    InterviewInfo,
    OutreachInfo,
    ParticipantState,
    RecruiterInfo,
)
from bot.zones import DEFAULT_ZONE, choose_zone, first_cohort_zones
from storage.models import (
    Acceptance,
    Cohort,
    Contact,
    Dare,
    Interview,
    Membership,
    Nudge,
    Outreach,
    Person,
    RecruiterCall,
    Story,
    Workspace,
)

log = logging.getLogger("darebot.nudges")

CHUNK = 1000
# The longest a person goes unplanned without a change: some reasons appear with time alone.
RECHECK = timedelta(days=1)


# DareInfo's fields in its own order, then the cohort's zone: plain columns, not ORM objects (a campus of
# 100k people runs a thousand dares, and loading them as Dare and Cohort objects cost a first sweep ~60 ms).
_DARE_COLUMNS = (
    col(Dare.id),
    col(Cohort.id),
    col(Cohort.name),
    col(Dare.goal),
    col(Dare.starts_at),
    col(Dare.deadline),
    col(Dare.reward),
    col(Dare.followup_days),
    col(Dare.stall_days),
    col(Dare.daily_cap),
    col(Dare.weekly_cap),
    col(Cohort.tz),
)


def _active_dares(
    session: Session, now: datetime, policy: Policy, *, platform: str | None, cohort_ids: Sequence[int] | None = None
) -> list[tuple[DareInfo, str]]:
    """Dares that may still produce nudges, with their cohort's time zone."""
    q = (
        select(*_DARE_COLUMNS)
        .join(Cohort, col(Cohort.id) == col(Dare.cohort_id))
        .where(col(Cohort.closed_at).is_(None), col(Dare.starts_at) <= now + policy.plan_ahead)
    )
    if platform is not None:
        q = q.join(Workspace, col(Workspace.id) == col(Cohort.workspace_id)).where(col(Workspace.platform) == platform)
    if cohort_ids is not None:
        q = q.where(col(Cohort.id).in_(cohort_ids))
    # a recruiter's "no" is revisited months after the dare ended
    oldest = (
        now
        - timedelta(
            days=max(policy.after_deadline_days, policy.digest_grace_days, policy.recruiter_revisit_days + 30) + 2
        )
    ).date()
    q = q.where((col(Dare.deadline).is_(None)) | (col(Dare.deadline) >= oldest))
    return [(DareInfo(*row[:11]), row[11]) for row in session.execute(q).all()]


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _member_pages(
    session: Session,
    cohort_ids: list[int],
    person_ids: Sequence[int] | None,
    chunk: int,
) -> Iterator[tuple[list[int], dict[int, list[tuple[int, bool, bool]]]]]:
    """Memberships in the given cohorts, a page of `chunk` people at a time (keyset on person id),
    so memory stays flat however many people there are."""
    last = 0
    while True:
        q = (
            select(col(Membership.person_id))
            .where(
                col(Membership.cohort_id).in_(cohort_ids),
                col(Membership.person_id) > last,
                col(Membership.removed_at).is_(None),
            )
            .group_by(col(Membership.person_id))
            .order_by(col(Membership.person_id))
            .limit(chunk)
        )
        if person_ids is not None:
            q = q.where(col(Membership.person_id).in_(list(person_ids)))
        ids = list(session.execute(q).scalars())
        if not ids:
            return
        members: dict[int, list[tuple[int, bool, bool]]] = defaultdict(list)
        for pid, cid, is_part, is_instr in session.execute(
            select(
                col(Membership.person_id),
                col(Membership.cohort_id),
                col(Membership.is_participant),
                col(Membership.is_instructor),
            ).where(
                col(Membership.person_id).in_(ids),
                col(Membership.cohort_id).in_(cohort_ids),
                col(Membership.removed_at).is_(None),
            )
        ).all():
            members[pid].append((cid, is_part, is_instr))
        yield ids, members
        last = ids[-1]


def _among(col: Any, ids: list[int]) -> Any:
    """`col IN ids`; a BETWEEN when the sorted ids are dense (a first sweep), which skips binding a
    thousand parameters per query. The caller keeps only the rows of `ids`."""
    if len(ids) > 50 and ids[-1] - ids[0] < 2 * len(ids):
        return col.between(ids[0], ids[-1])
    return col.in_(ids)


def load_states(
    session: Session,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
    *,
    platform: str | None = None,
    person_ids: Sequence[int] | None = None,
    chunk: int = CHUNK,
) -> Iterator[tuple[list[ParticipantState | InstructorState], dict[int, Any]]]:
    """Yield (states, persons by id) chunk by chunk: each participant of each running dare and
    each instructor of a cohort with one. Delivery reads one person's state this way at send time;
    the sweep reads whole batches with `_sweep_states`, which must build the very same states
    (tests/test_sweep_batch.py holds the two to that)."""
    cohort_ids = None
    if person_ids is not None:  # one person at send time: only their cohorts
        cohort_ids = list(
            session.execute(
                select(col(Membership.cohort_id)).where(
                    col(Membership.person_id).in_(list(person_ids)), col(Membership.removed_at).is_(None)
                )
            ).scalars()
        )
    dares = _active_dares(session, now, policy, platform=platform, cohort_ids=cohort_ids)
    if not dares:
        return
    by_cohort: dict[int, list[tuple[DareInfo, str]]] = defaultdict(list)
    for info, ctz in dares:
        by_cohort[info.cohort_id].append((info, ctz))
    active_cohorts = list(by_cohort)
    dare_ids = {info.id for info, _ in dares}

    conn = session.connection()
    for ids, members in _member_pages(session, active_cohorts, person_ids, chunk):
        # Plain rows, not ORM objects: the rules and the planner read five columns.
        persons = {
            p.id: p
            for p in conn.execute(
                select(
                    col(Person.id),
                    col(Person.workspace_id),
                    col(Person.tz),
                    col(Person.unreachable_at),
                    col(Person.nudges_enabled),
                    col(Person.aim),
                ).where(_among(col(Person.id), ids))
            ).all()
        }
        first_zones = first_cohort_zones(session, ids)
        # Filter dares in Python: with both IN lists a planner may scan by dare and go quadratic.
        accepted: dict[tuple[int, int], tuple[datetime, int | None]] = {
            (pid, did): (at, own_goal)
            for pid, did, at, own_goal in conn.execute(
                select(
                    col(Acceptance.person_id),
                    col(Acceptance.dare_id),
                    col(Acceptance.accepted_at),
                    col(Acceptance.goal),
                ).where(_among(col(Acceptance.person_id), ids))
            ).all()
            if did in dare_ids
        }
        contacts: dict[int, dict[int, ContactInfo]] = defaultdict(dict)
        for c in conn.execute(
            select(
                col(Contact.id),
                col(Contact.person_id),
                col(Contact.name),
                col(Contact.kind),
                col(Contact.can_decide),
                col(Contact.created_at),
            ).where(_among(col(Contact.person_id), ids))
        ).all():
            contacts[c.person_id][c.id] = ContactInfo(c.id, c.name, c.kind, c.can_decide, c.created_at)
        outreaches: dict[int, list[OutreachInfo]] = defaultdict(list)
        for o in conn.execute(
            select(
                col(Outreach.id),
                col(Outreach.person_id),
                col(Outreach.contact_id),
                col(Outreach.attempt_no),
                col(Outreach.sent_on),
                col(Outreach.status),
                col(Outreach.replied_on),
                col(Outreach.meeting_on),
                col(Outreach.channel),
            )
            .where(_among(col(Outreach.person_id), ids))
            .order_by(col(Outreach.person_id), col(Outreach.sent_on), col(Outreach.id))
        ).all():
            outreaches[o.person_id].append(
                OutreachInfo(
                    o.id, o.contact_id, o.attempt_no, o.sent_on, o.status, o.replied_on, o.meeting_on, o.channel
                )
            )
        interviews: dict[int, list[InterviewInfo]] = defaultdict(list)
        for i in conn.execute(
            select(
                col(Interview.id),
                col(Interview.person_id),
                col(Interview.contact_id),
                col(Interview.held_on),
                col(Interview.created_at),
                col(Interview.asked),
            )
            .where(_among(col(Interview.person_id), ids))
            .order_by(col(Interview.person_id), col(Interview.held_on), col(Interview.id))
        ).all():
            interviews[i.person_id].append(InterviewInfo(i.id, i.contact_id, i.held_on, i.created_at, i.asked))
        stories: dict[int, list[datetime]] = defaultdict(list)
        for pid, at in conn.execute(
            select(col(Story.person_id), col(Story.created_at)).where(_among(col(Story.person_id), ids))
        ).all():
            stories[pid].append(at)
        calls: dict[int, list[RecruiterInfo]] = defaultdict(list)
        for r in conn.execute(
            select(
                col(RecruiterCall.id),
                col(RecruiterCall.person_id),
                col(RecruiterCall.company),
                col(RecruiterCall.answer),
                col(RecruiterCall.occurred_on),
            ).where(_among(col(RecruiterCall.person_id), ids))
        ).all():
            calls[r.person_id].append(RecruiterInfo(r.id, r.company, r.answer, r.occurred_on))

        states: list[ParticipantState | InstructorState] = []
        for pid in ids:
            person = persons.get(pid)
            if person is None:
                continue
            # one clock per person, whichever cohort the nudge is about (bot.zones)
            tz = choose_zone(person.tz, [first_zones.get(pid, "")], DEFAULT_ZONE)[0]
            for cid, is_part, is_instr in members[pid]:
                for info, _ctz in by_cohort[cid]:
                    if is_part:
                        got = accepted.get((pid, info.id))
                        accepted_at = got[0] if got is not None else None
                        own_goal = got[1] if got is not None else None
                        states.append(
                            ParticipantState(
                                person_id=pid,
                                workspace_id=person.workspace_id,
                                tz=tz,
                                dare=info,
                                accepted_at=accepted_at,
                                own_goal=own_goal,
                                aim=person.aim,
                                contacts=contacts.get(pid, {}),
                                outreaches=outreaches.get(pid, []),
                                interviews=interviews.get(pid, []),
                                story_times=stories.get(pid, []),
                                recruiter_calls=calls.get(pid, []),
                            )
                        )
                    if is_instr:
                        states.append(InstructorState(pid, person.workspace_id, tz, info))
        yield states, persons


def candidates_for(
    states: Iterable[ParticipantState | InstructorState], now: datetime, policy: Policy = DEFAULT_POLICY
) -> Iterator[Candidate]:
    per_dare: dict[int, Policy] = {}
    for s in states:
        p = per_dare.get(s.dare.id)
        if p is None:
            p = per_dare[s.dare.id] = policy.for_dare(s.dare)
        try:
            # Rules run per person: one odd row (a far-off date, say) must not stop everyone's nudges.
            found = list(catalog.candidates(s, now, p))
        except (ArithmeticError, ValueError):
            log.exception("nudge rules failed for person %s, dare %s", s.person_id, s.dare.id)
            continue
        yield from found


# --- the sweep's batch reads: a few statements per batch of people, plain tuples ---------------


# Column orders below put the person id first and then a snapshot's fields in its own order, so a
# snapshot is the row's tail (tuple.__new__ on a slice: no Python-level constructor per row).
_PERSONS = select(
    col(Person.id),
    col(Person.workspace_id),
    col(Person.tz),
    col(Person.unreachable_at).is_not(None),
    col(Person.nudges_enabled),
    col(Person.aim),
)
# Every membership, removed ones too, in join order: the first one gives the person's cohort zone
# (bot.zones.first_cohort_zones reads the same order).
_MEMBERSHIPS = (
    select(
        col(Membership.person_id),
        col(Membership.id),
        col(Membership.cohort_id),
        col(Membership.is_participant),
        col(Membership.is_instructor),
        col(Membership.removed_at).is_(None),
        col(Cohort.tz),
    )
    .join(Cohort, col(Cohort.id) == col(Membership.cohort_id))
    .order_by(col(Membership.joined_at), col(Membership.id))
)
_ACCEPTANCES = select(
    col(Acceptance.person_id), col(Acceptance.dare_id), col(Acceptance.accepted_at), col(Acceptance.goal)
)
_CONTACTS = select(
    col(Contact.person_id),
    col(Contact.id),
    col(Contact.name),
    col(Contact.kind),
    col(Contact.can_decide),
    col(Contact.created_at),
)
_OUTREACH = select(
    col(Outreach.person_id),
    col(Outreach.id),
    col(Outreach.contact_id),
    col(Outreach.attempt_no),
    col(Outreach.sent_on),
    col(Outreach.status),
    col(Outreach.replied_on),
    col(Outreach.meeting_on),
    col(Outreach.channel),
).order_by(col(Outreach.person_id), col(Outreach.sent_on), col(Outreach.id))
_INTERVIEWS = select(
    col(Interview.person_id),
    col(Interview.id),
    col(Interview.contact_id),
    col(Interview.held_on),
    col(Interview.created_at),
    col(Interview.asked),
).order_by(col(Interview.person_id), col(Interview.held_on), col(Interview.id))
_STORIES = select(col(Story.person_id), col(Story.created_at))
_CALLS = select(
    col(RecruiterCall.person_id),
    col(RecruiterCall.id),
    col(RecruiterCall.company),
    col(RecruiterCall.answer),
    col(RecruiterCall.occurred_on),
)


_KEYS = select(col(Nudge.person_id), col(Nudge.key), col(Nudge.instead_of))
_DUE = select(col(Person.id), col(Person.next_check_at), col(Person.workspace_id))


class _Reads:
    """The sweep's batch reads as SQL compiled once for this database and run on the driver's own cursor:
    each batch costs the driver's fetch and nothing of SQLAlchemy's statement or row handling. Each read
    comes in two forms, a BETWEEN for dense ids (a first sweep) and one parameter holding all the ids for
    sparse ones (an array on PostgreSQL, a JSON list on SQLite), so no statement has thousands of parameters
    to parse. The values are turned into what SQLAlchemy's column types would give: SQLite hands back dates
    and datetimes as text, PostgreSQL datetimes in the session's time zone."""

    def __init__(self, dialect: Any, convert: bool) -> None:
        self.postgres = dialect.name == "postgresql"
        self.sql: dict[tuple[str, bool], tuple[str, tuple[str, ...]]] = {}
        reads = {
            "persons": (_PERSONS, col(Person.id)),
            "members": (_MEMBERSHIPS, col(Membership.person_id)),
            "accepted": (_ACCEPTANCES, col(Acceptance.person_id)),
            "contacts": (_CONTACTS, col(Contact.person_id)),
            "outreach": (_OUTREACH, col(Outreach.person_id)),
            "interviews": (_INTERVIEWS, col(Interview.person_id)),
            "stories": (_STORIES, col(Story.person_id)),
            "calls": (_CALLS, col(RecruiterCall.person_id)),
            "keys": (_KEYS, col(Nudge.person_id)),
        }
        if self.postgres:
            many: Any = lambda c: c == any_(bindparam("ids", type_=ARRAY(Integer())))  # noqa: E731
        else:
            many = lambda c: c.in_(select(literal_column("value")).select_from(func.json_each(bindparam("ids"))))  # noqa: E731
        for name, (query, column) in reads.items():
            for dense in (True, False):
                self._compile(
                    name,
                    dense,
                    query.where(column.between(bindparam("lo"), bindparam("hi")) if dense else many(column)),
                    dialect,
                )
        # due_people's two range scans of the next_check_at index
        self._compile("unchecked", True, _DUE.where(col(Person.next_check_at).is_(None)), dialect)
        self._compile("due", True, _DUE.where(col(Person.next_check_at) <= bindparam("now")), dialect)
        self.convert = convert  # datetimes (and on SQLite dates and booleans) need turning into Python's
        self.moment: Any = (lambda v: v if v is None else v.astimezone(UTC)) if self.postgres else _sqlite_moment
        self.day: Any = (lambda v: v) if self.postgres else _sqlite_day

    def _compile(self, name: str, dense: bool, query: Any, dialect: Any) -> None:
        compiled = query.compile(dialect=dialect)
        self.sql[name, dense] = (compiled.string, tuple(compiled.positiontup or ()))

    def run(self, conn: Connection, name: str, values: dict[str, Any], dense: bool = True) -> list[Any]:
        """Every row of read `name` with these parameters, as the driver gives them."""
        sql, order = self.sql[name, dense]
        cur = _driver(conn).cursor()
        try:
            cur.execute(sql, values if self.postgres else tuple(values[k] for k in order))
            return list(cur.fetchall())
        finally:
            cur.close()

    def _values(self, ids: list[int]) -> tuple[dict[str, Any], bool]:
        dense = len(ids) > 50 and ids[-1] - ids[0] < 2 * len(ids)
        values: dict[str, Any] = (
            {"lo": ids[0], "hi": ids[-1]} if dense else {"ids": ids if self.postgres else json.dumps(ids)}
        )
        return values, dense

    def __call__(self, conn: Connection, name: str, ids: list[int], wanted: set[int]) -> list[Any]:
        """The rows of `name` for the sorted `ids` (only theirs: a BETWEEN also matches others)."""
        values, dense = self._values(ids)
        return [row for row in self.run(conn, name, values, dense) if row[0] in wanted]

    def many(self, conn: Connection, names: Sequence[str], ids: list[int]) -> dict[str, list[Any]]:
        """The rows of each read in `names` for the sorted `ids`. On PostgreSQL the reads go in one pipeline:
        one round trip for all of them, where each read alone waited for the server and then for the GIL
        (a sweep's reader thread runs beside the rules; each hand-over cost up to the switch interval)."""
        if not self.postgres:
            wanted = set(ids)
            return {name: self(conn, name, ids, wanted) for name in names}
        values, dense = self._values(ids)
        dbapi = _driver(conn)
        cursors = [dbapi.cursor() for _ in names]
        try:
            with dbapi.pipeline():
                for name, cur in zip(names, cursors, strict=True):
                    cur.execute(self.sql[name, dense][0], values)
            wanted = set(ids)
            return {
                name: [row for row in cur.fetchall() if row[0] in wanted]
                for name, cur in zip(names, cursors, strict=True)
            }
        finally:
            for cur in cursors:
                cur.close()


def _sqlite_moment(v: str | None) -> datetime | None:
    """A datetime as SQLite stores it (UTC, no offset) read back as UTCDateTime reads it. (The offset is
    appended to the text rather than set with .replace(): a tenth of the time, and fromisoformat gives
    datetime.UTC itself.)"""
    return None if v is None else datetime.fromisoformat(v + "+00:00")


class _Days(dict[str, date]):
    """ISO dates as SQLite hands them back, each parsed on first sight (a dict lookup after that)."""

    def __missing__(self, text: str) -> date:
        day = self[text] = date.fromisoformat(text)
        return day


def _sqlite_day(v: str | None) -> date | None:
    return None if v is None else date.fromisoformat(v)


_readers: dict[tuple[str, str, bool], _Reads] = {}


def _driver(conn: Connection) -> Any:
    """The driver's own connection under `conn` (sqlite3's or psycopg's)."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None  # a live connection
    return dbapi


def _reads(conn: Connection) -> _Reads:
    """The compiled reads for this connection's database (compiled once per dialect and session zone)."""
    name = conn.dialect.name
    # psycopg gives timestamptz values in the session's zone (datetime.UTC itself in a UTC session), which
    # UTCDateTime would move to UTC; SQLite gives text.
    convert = name != "postgresql" or _driver(conn).info.timezone is not UTC
    key = (name, conn.dialect.driver, convert)
    found = _readers.get(key)
    if found is None:
        found = _readers[key] = _Reads(conn.dialect, convert)
    return found


def _by_person(rows: Iterable[Any], snapshot: type[Any]) -> dict[int, list[Any]]:
    """Rows (person id, *fields) as snapshots, listed by person in row order."""
    out: dict[int, list[Any]] = {}
    new = tuple.__new__
    for row in rows:
        mine = out.get(row[0])
        if mine is None:
            mine = out[row[0]] = []
        mine.append(new(snapshot, row[1:]))
    return out


# The reads that make a batch's states (`_sweep_states`), and the outbox keys its people already have.
_STATE_READS = ("persons", "members", "accepted", "contacts", "outreach", "interviews", "stories", "calls")
_BATCH_READS = (*_STATE_READS, "keys")


def _sweep_states(
    conn: Connection,
    ids: list[int],
    by_cohort: dict[int, list[DareInfo]],
    dare_ids: set[int],
    fetched: dict[str, list[Any]] | None = None,
) -> tuple[list[ParticipantState | InstructorState], dict[int, Any]]:
    """The states of a sorted batch of people the sweep chose, and their person rows (id, workspace id,
    tz, unreachable, nudges enabled, aim): eight statements however many people, rows read as tuples
    (`fetched`: their rows, already read with `_Reads.many`). The same states `load_states` builds one
    person at a time."""
    read = _reads(conn)
    sqlite = not read.postgres
    moment, day = read.moment, read.day
    table_rows = fetched if fetched is not None else read.many(conn, _STATE_READS, ids)

    def rows(name: str) -> list[Any]:
        return table_rows[name]

    persons = {row[0]: row for row in rows("persons")}
    first_zone: dict[int, str | None] = {}
    members: dict[int, list[tuple[int, int, bool, bool]]] = {}
    for pid, mid, cid, is_part, is_instr, current, ctz in rows("members"):
        if pid not in first_zone:
            first_zone[pid] = ctz
        if current and cid in by_cohort:
            mine = members.get(pid)
            if mine is None:
                mine = members[pid] = []
            mine.append((mid, cid, is_part, is_instr))
    if not members:
        return [], persons
    # Each row becomes its snapshot in one step (tuple.__new__ on the fields: no Python-level constructor),
    # converted on the way where the driver hands back text; every table is non-empty for few people.
    new = tuple.__new__
    convert = read.convert
    accepted = {
        (pid, did): (moment(at) if convert else at, own_goal)
        for pid, did, at, own_goal in rows("accepted")
        if did in dare_ids
    }
    contacts: dict[int, dict[int, ContactInfo]] = {}
    for r in rows("contacts"):  # (person, id, name, kind, can_decide, created_at)
        by_id = contacts.get(r[0])
        if by_id is None:
            by_id = contacts[r[0]] = {}
        by_id[r[1]] = new(ContactInfo, (r[1], r[2], r[3], bool(r[4]), moment(r[5])) if convert else r[1:])
    outreaches: dict[int, list[OutreachInfo]] = {}
    days = _Days()  # SQLite's dates, each parsed once: a batch's attempts fall on a few dozen days
    for r in rows("outreach"):  # (person, id, contact, attempt, sent_on, status, replied_on, meeting_on, channel)
        mine_o = outreaches.get(r[0])
        if mine_o is None:
            mine_o = outreaches[r[0]] = []
        # (`x and days[x]` keeps a NULL None)
        mine_o.append(
            new(
                OutreachInfo,
                (r[1], r[2], r[3], days[r[4]], r[5], r[6] and days[r[6]], r[7] and days[r[7]], r[8])
                if sqlite
                else r[1:],
            )
        )
    raw = rows("interviews")
    if convert:  # (person, id, contact, held_on, created_at, asked)
        raw = [(r[0], r[1], r[2], day(r[3]), moment(r[4]), r[5]) for r in raw]
    interviews = _by_person(raw, InterviewInfo)
    stories: dict[int, list[datetime]] = {}
    for pid, at in rows("stories"):
        stories.setdefault(pid, []).append(moment(at) if convert else at)
    raw = rows("calls")
    if sqlite:  # (person, id, company, answer, occurred_on)
        raw = [(r[0], r[1], r[2], r[3], date.fromisoformat(r[4])) for r in raw]
    calls = _by_person(raw, RecruiterInfo)

    states: list[ParticipantState | InstructorState] = []
    for pid in sorted(members):
        person = persons.get(pid)
        if person is None:
            continue
        mine = members[pid]
        if len(mine) > 1:
            mine.sort()  # membership id order, as `load_states` reads them
        # one clock per person, whichever cohort the nudge is about: bot.zones.choose_zone, inlined (the
        # person's own zone, else their first cohort's, else the default)
        _pid, ws, own_tz, _unreachable, _enabled, aim = person
        tz = own_tz or first_zone.get(pid) or DEFAULT_ZONE
        for _mid, cid, is_part, is_instr in mine:
            for info in by_cohort[cid]:
                if is_part:
                    got = accepted.get((pid, info.id))
                    states.append(
                        ParticipantState(
                            pid,
                            ws,
                            tz,
                            info,
                            got[0] if got is not None else None,
                            contacts.get(pid, {}),
                            outreaches.get(pid, []),
                            interviews.get(pid, []),
                            stories.get(pid, []),
                            calls.get(pid, []),
                            aim,
                            got[1] if got is not None else None,
                        )
                    )
                if is_instr:
                    states.append(InstructorState(pid, ws, tz, info))
    return states, persons


# --- the sweep's batch writes: one statement per batch -------------------------------------------


# The tables themselves, for core statements (SQLModel's stubs don't declare __table__).
_person = SQLModel.metadata.tables["person"]
_nudge = SQLModel.metadata.tables["nudge"]
_COLUMNS = ", ".join(catalog.OutboxRow._fields)

# PostgreSQL: the whole batch as one JSON array of rows, expanded by the server into one INSERT. An
# executemany costs a round trip and a parse per row, and psycopg builds array parameters in Python, while
# json.dumps runs in C.
_PG_INSERT = (
    f"INSERT INTO nudge ({_COLUMNS}) SELECT r->>0, (r->>1)::int, (r->>2)::int, r->>3, r->>4, "
    "(r->>5)::timestamptz, (r->>6)::timestamptz, r->>7, (r->>8)::int, r->>9, r->>10 "
    "FROM json_array_elements(%(rows)s::json) AS r ON CONFLICT (key) DO NOTHING"
)
# The plain path: the rows as they are, in PostgreSQL's binary format (psycopg packs each value in C; the
# text format costs the writer thread five times the CPU, all of it holding the GIL). The types are the
# columns' own (storage.models.Nudge), in OutboxRow's order.
_PG_COPY = f"COPY nudge ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_PG_COPY_TYPES = ("text", "int4", "int4", "text", "text", "timestamptz", "timestamptz", "text", "int4", "text", "text")
# The id range is the batch's own, and redundant but for the planner: it takes a JSON function's rows
# for a hundred, and at 20k people it joined them to a sequential scan of every person, once per batch
# (12.9 ms a batch; 8.9 ms with the range, which it reads from the primary key). At 100k people it chose
# the primary key anyway.
_PG_NEXT_CHECK = (
    "UPDATE person SET next_check_at = (r->>1)::timestamptz FROM json_array_elements(%(rows)s::json) AS r "
    "WHERE person.id BETWEEN %(lo)s AND %(hi)s AND person.id = (r->>0)::int "
    "AND person.next_check_at IS NOT DISTINCT FROM (r->>2)::timestamptz"
)
# SQLite: the driver's executemany of plain tuples, the datetimes stored as SQLAlchemy stores them. (One
# INSERT ... SELECT from a JSON array costs SQLite about 70% more CPU than the executemany.)
_SQLITE_INSERT = (
    f"INSERT INTO nudge ({_COLUMNS}) VALUES ({', '.join('?' * len(catalog.OutboxRow._fields))}) "
    "ON CONFLICT (key) DO NOTHING"
)
# Compare-and-set: a command that marked the person while this sweep ran keeps its mark. The people who get
# the same value from the same one come as a JSON list (about a quarter less than a statement per person).
_SQLITE_NEXT_CHECK = (
    "UPDATE person SET next_check_at = ? WHERE id IN (SELECT value FROM json_each(?)) AND next_check_at IS ?"
)


class _Stored:
    """Datetimes as this database is sent them, memoised: a sweep writes the same few due times for
    thousands of rows. SQLite: the string SQLAlchemy's column type writes (the column's own bind
    processor), so comparisons with rows written through SQLAlchemy hold. PostgreSQL: ISO 8601 text
    for the JSON parameter."""

    def __init__(self, conn: Connection) -> None:
        self.postgres = conn.dialect.name == "postgresql"
        dialect = conn.dialect
        self.process = None if self.postgres else _nudge.c.due_at.type.dialect_impl(dialect).bind_processor(dialect)
        self.seen: dict[datetime | None, Any] = {None: None}

    def __call__(self, at: datetime | None) -> Any:
        try:
            return self.seen[at]
        except KeyError:
            assert at is not None
            out = at.isoformat() if self.postgres else self.process(at) if self.process is not None else at
            self.seen[at] = out
            return out


def insert_nudges(session: Session, rows: list[catalog.OutboxRow]) -> int:
    """Insert the batch, skipping keys already there: a COPY on PostgreSQL (an INSERT ... ON CONFLICT (key)
    DO NOTHING of JSON rows after a conflict), an executemany of INSERT ... ON CONFLICT on SQLite; returns
    the number of rows actually inserted."""
    return _insert(session.connection(), rows)


def _insert(conn: Connection, rows: list[catalog.OutboxRow]) -> int:
    if not rows:
        return 0
    stored = _Stored(conn)
    if stored.postgres:
        # A plain COPY first: the keys this sweep already holds were left out above, so only another planner
        # racing this one can conflict, and COPY costs the server about a third less than an INSERT of the
        # same rows (no statement to plan, no JSON to expand, no speculative insertion). On a conflict the
        # savepoint is rolled back and the batch goes again as one INSERT ... ON CONFLICT DO NOTHING.
        dbapi = _driver(conn)
        try:
            with conn.begin_nested(), dbapi.cursor() as cur, cur.copy(_PG_COPY) as copy:
                copy.set_types(_PG_COPY_TYPES)
                write = copy.write_row
                for r in rows:
                    write(r)
            return len(rows)
        except conn.dialect.loaded_dbapi.IntegrityError:
            params = [(*r[:5], stored(r.due_at), stored(r.planned_at), *r[7:]) for r in rows]
            return conn.exec_driver_sql(_PG_INSERT, {"rows": json.dumps(params)}).rowcount
    # each distinct moment converted once (a batch's rows share a few dozen due times and one planned_at)
    moments = {at: stored(at) for at in {r[5] for r in rows} | {r[6] for r in rows}}
    params = [(r[0], r[1], r[2], r[3], r[4], moments[r[5]], moments[r[6]], r[7], r[8], r[9], r[10]) for r in rows]
    return conn.exec_driver_sql(_SQLITE_INSERT, params).rowcount


def _set_next_check(conn: Connection, next_check: dict[int, datetime], seen: dict[int, datetime | None]) -> None:
    stored = _Stored(conn)
    params = [(pid, stored(at), stored(seen.get(pid))) for pid, at in next_check.items()]
    if stored.postgres:
        if next_check:
            conn.exec_driver_sql(
                _PG_NEXT_CHECK, {"rows": json.dumps(params), "lo": min(next_check), "hi": max(next_check)}
            )
        return
    # One UPDATE per (new value, value read): a first sweep sets a batch's thousand people to a few values.
    groups: dict[tuple[Any, Any], list[int]] = {}
    for pid, at, was in params:
        same = groups.get((at, was))
        if same is None:
            groups[at, was] = [pid]
        else:
            same.append(pid)
    conn.exec_driver_sql(_SQLITE_NEXT_CHECK, [(at, json.dumps(pids), was) for (at, was), pids in groups.items()])


def due_people(session: Session, now: datetime, *, platform: str | None = None) -> list[tuple[int, datetime | None]]:
    """(person id, next_check_at as read) for everyone the sweep must look at now: never looked at,
    changed since, or with a time threshold passed. Two range scans of the next_check_at index,
    however many people there are; the platform is filtered here, so no join can steer the database
    to a scan of everyone. Read on the driver's cursor, as the batches are (`_Reads`)."""
    conn = session.connection()
    read = _reads(conn)
    unchecked = read.run(conn, "unchecked", {})
    due = read.run(conn, "due", {"now": now if read.postgres else _Stored(conn)(now)})
    if read.convert:
        moment = read.moment
        due = [(pid, moment(at), ws) for pid, at, ws in due]
    rows: list[Any] = [*unchecked, *due]
    if platform is not None and rows:
        mine = set(conn.execute(select(col(Workspace.id)).where(col(Workspace.platform) == platform)).scalars())
        rows = [r for r in rows if r[2] in mine]
    return sorted((pid, at) for pid, at, _ws in rows)


# The fields of a planned row after planned_at (status, attempts, last_error, instead_of): OutboxRow's defaults.
_ROW_DEFAULTS = tuple(catalog.OutboxRow._field_defaults[f] for f in catalog.OutboxRow._fields[7:])

# Rules whose nudges still go to someone who turned them off.
_OPT_OUT_EXEMPT = frozenset(x.name for x in catalog.RULES if x.exempt("opt-out"))


_Read = tuple[list[int], list[ParticipantState | InstructorState], dict[int, Any], set[str]]


class _Clocks(dict[tuple[int, str], Clock]):
    """Each (dare id, zone)'s Clock at the sweep's moment, made on first need and kept from batch to batch,
    each under its dare's Policy."""

    def __init__(self, now: datetime, policy: Policy) -> None:
        super().__init__()
        self.now, self.policy = now, policy
        self.policies: dict[int, Policy] = {}

    def make(self, dare: DareInfo, tz: str) -> Clock:
        p = self.policies.get(dare.id)
        if p is None:
            p = self.policies[dare.id] = self.policy.for_dare(dare)
        clock = self[dare.id, tz] = Clock(dare, tz, self.now, p)
        return clock


def _read_batch(conn: Connection, batch: list[int], by_cohort: dict[int, list[DareInfo]], dare_ids: set[int]) -> _Read:
    """One sorted batch of people as the rules need it: (the batch, their states, their person rows, the keys
    already in the outbox for them)."""
    fetched = _reads(conn).many(conn, _BATCH_READS, batch)
    states, persons = _sweep_states(conn, batch, by_cohort, dare_ids, fetched)
    loaded = {s.person_id for s in states}
    existing = set()
    for pid, key, instead_of in fetched["keys"]:
        if pid in loaded:
            existing.add(key)
            if instead_of is not None:  # the overdue nudges it went out instead of (catalog.one_overdue_per_person)
                existing.update(json.loads(instead_of))
    return batch, states, persons, existing


def _plan_batch(
    read: _Read,
    now: datetime,
    policy: Policy,
    rules: frozenset[str] | None,
    clocks: _Clocks,
) -> tuple[list[catalog.OutboxRow], dict[int, datetime] | None]:
    """Run the rules over one batch read by `_read_batch`. Returns the rows to insert and the next_check_at
    to set (None for a sweep of some rules only). `clocks`: each (dare id, zone)'s Clock, kept by the
    sweep from batch to batch."""
    batch, states, persons, existing = read
    new = tuple.__new__
    row_type = catalog.OutboxRow
    status, attempts, last_error, instead_of = _ROW_DEFAULTS
    horizon = now + policy.plan_ahead
    plan_ahead = policy.plan_ahead
    opt_out_exempt = _OPT_OUT_EXEMPT
    dues = catalog.dues
    next_check = dict.fromkeys(batch, now + RECHECK)
    planned: dict[str, catalog.OutboxRow] = {}
    for s in states:
        pid = s.person_id
        # everyone of one dare on one zone's calendar shares that pair's Clock (and the dare's Policy)
        clock = clocks.get((s.dare.id, s.tz))
        if clock is None:
            clock = clocks.make(s.dare, s.tz)
        try:
            # Rules run per person: one odd row (a far-off date, say) must not stop everyone's nudges.
            found = dues(s, now, clock.p, clock)
        except (ArithmeticError, ValueError):
            log.exception("nudge rules failed for person %s, dare %s", pid, s.dare.id)
            continue
        _pid, ws, _tz, unreachable, enabled, _aim = persons[pid]
        soonest = None  # the first Due past the horizon: the person's next look is plan_ahead before it
        for rule, (subject, period, due_at, expires_at) in found:
            if due_at > horizon:
                if soonest is None or due_at < soonest:
                    soonest = due_at
                continue
            if rules is not None and rule not in rules:
                continue
            if expires_at is not None and now >= expires_at:
                continue
            if unreachable:
                continue
            if not enabled and rule not in opt_out_exempt:
                continue
            key = f"{pid}:{rule}:{subject}:{period}"  # rules.nudge_key, inlined: once per candidate
            if key in existing or key in planned:
                continue
            # (tuple.__new__ skips the namedtuple's Python-level __new__: once per planned row)
            planned[key] = new(
                row_type, (key, ws, pid, rule, subject[:80], due_at, now, status, attempts, last_error, instead_of)
            )
        if soonest is not None and (later := soonest - plan_ahead) < next_check[pid]:
            next_check[pid] = later
    return catalog.one_overdue_per_person(list(planned.values()), now), next_check if rules is None else None


def _write(
    conn: Connection,
    rows: list[catalog.OutboxRow],
    next_check: dict[int, datetime] | None,
    seen: dict[int, datetime | None],
) -> int:
    inserted = _insert(conn, rows)
    if next_check is not None:
        _set_next_check(conn, next_check, seen)
    return inserted


_Job = tuple[list[catalog.OutboxRow], dict[int, datetime] | None]


class _Writer:
    """PostgreSQL: writes each batch (and commits it) on a connection of its own in a thread, while the
    sweep reads and plans the next batch, so the server inserts while the rules run instead of after
    them. At most one planned batch waits. Batches are disjoint sets of people, so the reads of one never
    depend on the writes of another still in flight. (Not on SQLite: sqlite3 takes the GIL back for every
    row of an executemany, and a reader beside a writer keeps the WAL growing; measured slower.)"""

    def __init__(self, engine: Engine, seen: dict[int, datetime | None], tally: share.Tally | None) -> None:
        self.engine, self.seen, self.tally = engine, seen, tally
        self.jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=1)
        self.inserted = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="darebot-sweep-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            if self.error is not None:
                continue  # a batch failed: drop the rest, the sweep raises it
            try:
                with self.engine.begin() as conn:
                    self.inserted += _write(conn, *job, self.seen)
                if self.tally is not None:
                    self.tally.committed += 1
            except BaseException as e:  # handed to the sweep's thread
                self.error = e

    def put(self, job: _Job) -> None:
        if self.error is not None:
            raise self.error
        self.jobs.put(job)

    def close(self) -> int:
        """Wait for the batches in flight; returns the rows they inserted, or raises what failed."""
        self.jobs.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.inserted


class _Reader:
    """PostgreSQL: reads the batches ahead on a connection of its own in a thread, while the sweep runs the
    rules over the batch before: the server answers the reads while the rules run (the thread waits for it
    without the GIL). At most two batches wait; each is read in a transaction of its own."""

    def __init__(
        self, engine: Engine, batches: Iterator[list[int]], by_cohort: dict[int, list[DareInfo]], dare_ids: set[int]
    ) -> None:
        self.engine, self.todo, self.by_cohort, self.dare_ids = engine, batches, by_cohort, dare_ids
        self.batches: queue.Queue[_Read | BaseException | None] = queue.Queue(maxsize=2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="darebot-sweep-reader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                for batch in self.todo:
                    if self.stopped.is_set():
                        return
                    with conn.begin():
                        read = _read_batch(conn, batch, self.by_cohort, self.dare_ids)
                    self._put(read)
        except BaseException as e:  # handed to the sweep's thread
            self._put(e)
            return
        self._put(None)

    def _put(self, item: _Read | BaseException | None) -> None:
        while not self.stopped.is_set():
            try:
                self.batches.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[_Read]:
        while (item := self.batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        self.thread.join()

    def close(self) -> None:
        """Stop reading ahead (the sweep failed)."""
        self.stopped.set()
        self.thread.join()


# The interpreter's switch interval while a sweep's reader and writer threads run (5 ms by default).
HANDOVER_SECONDS = 0.001


@contextmanager
def _quick_handover() -> Iterator[None]:
    """Beside the rules, the reader and writer threads mostly wait for the server; when its answer comes
    back, each waits again for the GIL, up to the switch interval, while the server idles. A shorter
    interval for the sweep's duration lets them send the next statement sooner (side by side at 100k
    people on PostgreSQL: 1 ms against 5 ms cut the first sweep's time by about a tenth); the interval
    in force before is restored."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, HANDOVER_SECONDS))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _threaded(bind: Engine | Connection) -> TypeGuard[Engine]:
    """A PostgreSQL engine (not a session bound to one connection): reader and writer threads get
    connections of their own from its pool."""
    return isinstance(bind, Engine) and bind.dialect.name == "postgresql"


def plan(
    session: Session,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
    *,
    platform: str | None = None,
    person_ids: Sequence[int] | None = None,
    rules: frozenset[str] | None = None,
    processes: int | None = None,
) -> int:
    """One sweep: insert every candidate due before `now + plan_ahead`. Returns rows inserted.

    Incremental: only the people `due_people` names (or `person_ids`) are planned for. Each gets
    `next_check_at` = the earliest moment one of their candidates comes within `plan_ahead` (and at
    most RECHECK from now, for reasons that appear with time alone, such as a new week's digest).
    A sweep restricted to some `rules` looks at the same people but leaves their due time alone.

    Set-based: a batch of CHUNK people is read in nine statements (its states and the outbox keys it
    already has), run through the rules, written with one COPY or INSERT and one UPDATE, and committed.
    With more than one batch on PostgreSQL, a writer thread writes and a reader thread reads ahead while
    this thread runs the rules. With `share.SHARE_MIN` people or more, up to `processes` processes
    (default `share.default_processes()`) sweep the batches between them (bot.nudges.share)."""
    dares = _active_dares(session, now, policy, platform=platform)
    by_cohort: dict[int, list[DareInfo]] = defaultdict(list)
    for info, _ctz in dares:
        by_cohort[info.cohort_id].append(info)
    dare_ids = {info.id for info, _ in dares}
    if person_ids is None:
        due = due_people(session, now, platform=platform)
        seen: dict[int, datetime | None] = dict(due)
        ids = [pid for pid, _ in due]
    else:
        ids = sorted(set(person_ids))
        found: Sequence[Any] = (
            session.connection()
            .execute(select(col(Person.id), col(Person.next_check_at)).where(col(Person.id).in_(ids)))
            .all()
        )
        seen = {pid: at for pid, at in found}
    job = share.Job(now, policy, rules, dict(by_cohort), dare_ids, seen)
    helpers = min(processes if processes is not None else share.default_processes(), os.cpu_count() or 1) - 1
    url = share.shareable_url(session.get_bind()) if helpers > 0 and len(ids) >= share.SHARE_MIN else None
    if url is not None:
        session.commit()  # the helpers read and write on connections of their own: nothing of ours may hold them up
        try:
            claims = share.Claims(ids, CHUNK)
        except OSError:  # no process or shared memory to be had (a container without /dev/shm, a process limit)
            log.warning("could not start a sweep helper process; this process sweeps alone", exc_info=True)
            url = None
    if url is None:
        return sweep_batches(session, (list(c) for c in _chunks(ids, CHUNK)), job, many=len(ids) > CHUNK)
    others = share.Helpers(url, claims, job, helpers)
    try:
        total = sweep_batches(session, claims.from_front(), job, turn=claims.turn_to_write)
    except BaseException:
        others.stop()
        raise
    inserted, batches = others.join()
    log.info(
        "sweep of %d people: %d of %d batches by %d helper process(es), %.1f CPU-s",
        len(ids),
        batches,
        len(claims),
        len(others.running),
        others.cpu,
        extra={"helper_cpu": others.cpu},
    )
    return total + inserted


def sweep_batches(
    session: Session,
    batches: Iterator[list[int]],
    job: share.Job,
    tally: share.Tally | None = None,
    *,
    many: bool = True,
    turn: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> int:
    """Read, plan, write and commit each sorted batch of people `batches` yields; rows inserted. `tally`
    counts the batches committed. `many`: more than one batch may come (PostgreSQL then reads ahead and
    writes in threads). `turn`: entered around each write and commit in this thread (SQLite, when
    processes share the sweep)."""
    bind = session.get_bind()
    writer: _Writer | None = None
    reader: _Reader | None = None
    if many and _threaded(bind):
        session.commit()  # the threads read and write on connections of their own: let them see this session's
        writer = _Writer(bind, job.seen, tally)
        reader = _Reader(bind, batches, job.by_cohort, job.dare_ids)
    reads: Iterable[_Read] = (
        reader
        if reader is not None
        else (_read_batch(session.connection(), batch, job.by_cohort, job.dare_ids) for batch in batches)
    )
    total = 0
    clocks = _Clocks(job.now, job.policy)
    try:
        # Paused for the whole sweep, not batch by batch: re-enabled between batches, the collector ran at the
        # first allocation after each and walked the batches the reader had queued (a tenth of a first sweep).
        with collector_paused(), _quick_handover() if writer is not None else nullcontext():
            for read in reads:
                planned = _plan_batch(read, job.now, job.policy, job.rules, clocks)
                if writer is not None:
                    session.commit()  # ends this batch's reads (the writer commits its writes)
                    writer.put(planned)
                    continue
                with turn():
                    total += _write(session.connection(), *planned, job.seen)
                    session.commit()
                if tally is not None:
                    tally.committed += 1
    except BaseException:
        for other in (reader, writer):
            if other is not None:
                try:
                    other.close()
                except Exception:
                    log.exception("the sweep's %s failed as well", type(other).__name__)
        raise
    if writer is not None:
        with _quick_handover():
            total += writer.close()
    return total
