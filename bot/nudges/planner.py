"""The sweep: read database state, run the rules, insert outbox rows that fall due soon.

Idempotent: each row's unique key is `person:rule:subject:period`, inserted with
INSERT ... ON CONFLICT (key) DO NOTHING on SQLite and PostgreSQL alike, so planning twice (or two
planners racing) plans once. Participants are processed in chunks of person ids, so memory stays
flat however large the workspace.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel, col
from sqlmodel.sql.sqltypes import UTCDateTime

from bot.nudges import catalog
from bot.nudges.policy import DEFAULT_POLICY, Policy
from bot.nudges.rules import (
    Candidate,
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
INSERT_BATCH = 1000
# The longest a person goes unplanned without a change: some reasons appear with time alone.
RECHECK = timedelta(days=1)


def _dare_info(d: Dare, c: Cohort) -> DareInfo:
    assert d.id is not None and c.id is not None  # rows read from the database
    return DareInfo(
        id=d.id,
        cohort_id=c.id,
        cohort_name=c.name,
        goal=d.goal,
        starts_at=d.starts_at,
        deadline=d.deadline,
        reward=d.reward,
        followup_days=d.followup_days,
        stall_days=d.stall_days,
        daily_cap=d.daily_cap,
        weekly_cap=d.weekly_cap,
    )


def _active_dares(
    session: Session, now: datetime, policy: Policy, *, platform: str | None, cohort_ids: Sequence[int] | None = None
) -> list[tuple[DareInfo, str]]:
    """Dares that may still produce nudges, with their cohort's time zone."""
    q = (
        select(Dare, Cohort)
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
    return [(_dare_info(d, c), c.tz) for d, c in session.execute(q).all()]


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


def _chunk_members(
    session: Session,
    ids: list[int],
    active: set[int],
) -> Iterator[tuple[list[int], dict[int, list[tuple[int, bool, bool]]]]]:
    """The memberships in running cohorts of a chunk of people already chosen (the incremental sweep)."""
    wanted = set(ids)
    members: dict[int, list[tuple[int, bool, bool]]] = defaultdict(list)
    for pid, cid, is_part, is_instr in (
        session.connection()
        .execute(
            select(
                col(Membership.person_id),
                col(Membership.cohort_id),
                col(Membership.is_participant),
                col(Membership.is_instructor),
            ).where(_among(col(Membership.person_id), ids), col(Membership.removed_at).is_(None))
        )
        .all()
    ):
        if pid in wanted and cid in active:
            members[pid].append((cid, is_part, is_instr))
    found = sorted(members)
    if found:
        yield found, members


def load_states(
    session: Session,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
    *,
    platform: str | None = None,
    person_ids: Sequence[int] | None = None,
    chunk: int = CHUNK,
    dares: list[tuple[DareInfo, str]] | None = None,
) -> Iterator[tuple[list[ParticipantState | InstructorState], dict[int, Any]]]:
    """Yield (states, persons by id) chunk by chunk: each participant of each running dare and
    each instructor of a cohort with one. `dares` (every running dare, from `_active_dares`) says
    that `person_ids` is one sorted chunk chosen by the sweep."""
    swept = dares is not None
    if dares is None:
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

    pages = (
        _chunk_members(session, list(person_ids or ()), set(active_cohorts))
        if swept
        else _member_pages(session, active_cohorts, person_ids, chunk)
    )
    conn = session.connection()
    for ids, members in pages:
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


def insert_nudges(session: Session, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT (key) DO NOTHING; returns the number of rows actually inserted.

    A plain executemany, counted by its row count: one short statement the driver prepares once
    (a multi-row VALUES with RETURNING costs psycopg more to parse than the database to run)."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    conn = session.connection()
    stmt = insert(_nudge).on_conflict_do_nothing(index_elements=["key"])
    inserted = 0
    for i in range(0, len(rows), INSERT_BATCH):
        batch = rows[i : i + INSERT_BATCH]
        count = conn.execute(stmt, batch).rowcount
        if count < 0:  # psycopg's pipelined executemany reports no count: ask for the rows this sweep wrote
            keys = [r["key"] for r in batch]
            count = conn.execute(
                select(func.count())
                .select_from(_nudge)
                .where(_nudge.c.key.in_(keys), _nudge.c.planned_at == batch[0]["planned_at"])
            ).scalar_one()
        inserted += count
    return inserted


def due_people(session: Session, now: datetime, *, platform: str | None = None) -> list[tuple[int, datetime | None]]:
    """(person id, next_check_at as read) for everyone the sweep must look at now: never looked at,
    changed since, or with a time threshold passed. Two range scans of the next_check_at index,
    however many people there are; the platform is filtered here, so no join can steer the database
    to a scan of everyone."""
    base = select(col(Person.id), col(Person.next_check_at), col(Person.workspace_id))
    rows = [
        *session.execute(base.where(col(Person.next_check_at).is_(None))).all(),
        *session.execute(base.where(col(Person.next_check_at) <= now)).all(),
    ]
    if platform is not None and rows:
        mine = set(session.execute(select(col(Workspace.id)).where(col(Workspace.platform) == platform)).scalars())
        rows = [r for r in rows if r[2] in mine]
    return sorted((pid, at) for pid, at, _ws in rows)


# The tables themselves, for core statements (SQLModel's stubs don't declare __table__).
_person = SQLModel.metadata.tables["person"]
_nudge = SQLModel.metadata.tables["nudge"]
# Compare-and-set: a command that marked the person while this sweep ran keeps its mark.
_SET_NEXT_CHECK = (
    update(_person)
    .where(
        _person.c.id == bindparam("b_pid"),
        _person.c.next_check_at.is_not_distinct_from(bindparam("b_seen", type_=UTCDateTime())),
    )
    .values(next_check_at=bindparam("b_next", type_=UTCDateTime()))
)


def plan(
    session: Session,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
    *,
    platform: str | None = None,
    person_ids: Sequence[int] | None = None,
    rules: frozenset[str] | None = None,
) -> int:
    """One sweep: insert every candidate due before `now + plan_ahead`. Returns rows inserted.

    Incremental: only the people `due_people` names (or `person_ids`) are planned for. Each gets
    `next_check_at` = the earliest moment one of their candidates comes within `plan_ahead` (and at
    most RECHECK from now, for reasons that appear with time alone, such as a new week's digest).
    A sweep restricted to some `rules` looks at the same people but leaves their due time alone."""
    horizon = now + policy.plan_ahead
    dares = _active_dares(session, now, policy, platform=platform)
    if person_ids is None:
        due = due_people(session, now, platform=platform)
        seen: dict[int, datetime | None] = dict(due)
        ids = [pid for pid, _ in due]
    else:
        ids = list(person_ids)
        seen = {
            pid: at
            for pid, at in session.execute(
                select(col(Person.id), col(Person.next_check_at)).where(col(Person.id).in_(ids))
            ).all()
        }
    total = 0
    for chunk in _chunks(ids, CHUNK):
        next_check = {pid: now + RECHECK for pid in chunk}
        for states, persons in load_states(
            session, now, policy, platform=platform, person_ids=sorted(chunk), dares=dares
        ):
            ids_loaded = sorted(persons)
            existing = set(
                session.connection()
                .execute(select(col(Nudge.key)).where(_among(col(Nudge.person_id), ids_loaded)))
                .scalars()
            )
            rows: dict[str, dict[str, Any]] = {}
            for c in candidates_for(states, now, policy):
                if c.due_at > horizon:
                    later = c.due_at - policy.plan_ahead
                    if later < next_check[c.person_id]:
                        next_check[c.person_id] = later
                    continue
                if rules is not None and c.rule not in rules:
                    continue
                if c.expires_at is not None and now >= c.expires_at:
                    continue
                key = c.key
                if key in existing or key in rows:
                    continue
                person = persons[c.person_id]
                if person.unreachable_at is not None:
                    continue
                if not person.nudges_enabled and not catalog.exempt(c.rule, "opt-out"):
                    continue
                rows[key] = dict(
                    key=key,
                    workspace_id=person.workspace_id,
                    person_id=c.person_id,
                    rule=c.rule,
                    subject=c.subject[:80],
                    due_at=c.due_at,
                    planned_at=now,
                    status="pending",
                    attempts=0,
                )
            total += insert_nudges(session, catalog.one_overdue_per_person(list(rows.values()), now))
        if rules is None:
            session.connection().execute(
                _SET_NEXT_CHECK,
                [{"b_pid": pid, "b_seen": seen.get(pid), "b_next": at} for pid, at in next_check.items()],
            )
        session.commit()
    return total
