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

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from bot.nudges.policy import DEFAULT_POLICY, OPTOUT_EXEMPT, Policy, tz_name
from bot.nudges.rules import (
    INSTRUCTOR_RULES,
    Candidate,
    ContactInfo,
    DareInfo,
    InstructorState,
    InterviewInfo,
    OutreachInfo,
    ParticipantState,
    RecruiterInfo,
    participant_candidates,
)
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


def _dare_info(d: Dare, c: Cohort) -> DareInfo:
    return DareInfo(
        id=d.id, cohort_id=c.id, cohort_name=c.name, goal=d.goal, starts_at=d.starts_at, deadline=d.deadline,
        reward=d.reward, followup_days=d.followup_days, stall_days=d.stall_days, daily_cap=d.daily_cap,
        weekly_cap=d.weekly_cap,
    )


def _active_dares(session: Session, now: datetime, policy: Policy, *, platform: str | None,
                  cohort_ids: Sequence[int] | None = None) -> list[tuple[DareInfo, str]]:
    """Dares that may still produce nudges, with their cohort's time zone."""
    q = (
        select(Dare, Cohort)
        .join(Cohort, Cohort.id == Dare.cohort_id)
        .where(Cohort.closed_at.is_(None), Dare.starts_at <= now + policy.plan_ahead)
    )
    if platform is not None:
        q = q.join(Workspace, Workspace.id == Cohort.workspace_id).where(Workspace.platform == platform)
    if cohort_ids is not None:
        q = q.where(Cohort.id.in_(cohort_ids))
    # a recruiter's "no" is revisited months after the dare ended
    oldest = (now - timedelta(days=max(policy.after_deadline_days, policy.digest_grace_days,
                                       policy.recruiter_revisit_days + 30) + 2)).date()
    q = q.where((Dare.deadline.is_(None)) | (Dare.deadline >= oldest))
    return [(_dare_info(d, c), c.tz) for d, c in session.execute(q).all()]


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _member_pages(session: Session, cohort_ids: list[int], person_ids: Sequence[int] | None, chunk: int,
                  ) -> Iterator[tuple[list[int], dict[int, list[tuple[int, bool, bool]]]]]:
    """Memberships in the given cohorts, a page of `chunk` people at a time (keyset on person id),
    so memory stays flat however many people there are."""
    last = 0
    while True:
        q = (select(Membership.person_id).where(Membership.cohort_id.in_(cohort_ids), Membership.person_id > last,
                                                Membership.removed_at.is_(None))
             .group_by(Membership.person_id).order_by(Membership.person_id).limit(chunk))
        if person_ids is not None:
            q = q.where(Membership.person_id.in_(list(person_ids)))
        ids = list(session.execute(q).scalars())
        if not ids:
            return
        members: dict[int, list[tuple[int, bool, bool]]] = defaultdict(list)
        for pid, cid, is_part, is_instr in session.execute(
            select(Membership.person_id, Membership.cohort_id, Membership.is_participant, Membership.is_instructor)
            .where(Membership.person_id.in_(ids), Membership.cohort_id.in_(cohort_ids), Membership.removed_at.is_(None))
        ).all():
            members[pid].append((cid, is_part, is_instr))
        yield ids, members
        last = ids[-1]


def load_states(session: Session, now: datetime, policy: Policy = DEFAULT_POLICY, *, platform: str | None = None,
                person_ids: Sequence[int] | None = None, chunk: int = CHUNK,
                ) -> Iterator[tuple[list[ParticipantState | InstructorState], dict[int, Person]]]:
    """Yield (states, persons by id) chunk by chunk: each participant of each running dare and
    each instructor of a cohort with one."""
    cohort_ids = None
    if person_ids is not None:  # one person at send time: only their cohorts
        cohort_ids = list(session.execute(
            select(Membership.cohort_id).where(Membership.person_id.in_(list(person_ids)),
                                               Membership.removed_at.is_(None))).scalars())
    dares = _active_dares(session, now, policy, platform=platform, cohort_ids=cohort_ids)
    if not dares:
        return
    by_cohort: dict[int, list[tuple[DareInfo, str]]] = defaultdict(list)
    for info, ctz in dares:
        by_cohort[info.cohort_id].append((info, ctz))
    active_cohorts = list(by_cohort)
    dare_ids = {info.id for info, _ in dares}

    for ids, members in _member_pages(session, active_cohorts, person_ids, chunk):
        persons = {p.id: p for p in session.execute(select(Person).where(Person.id.in_(ids))).scalars()}
        # Filter dares in Python: with both IN lists a planner may scan by dare and go quadratic.
        accepted = {
            (pid, did): at
            for pid, did, at in session.execute(
                select(Acceptance.person_id, Acceptance.dare_id, Acceptance.accepted_at).where(
                    Acceptance.person_id.in_(ids)
                )
            ).all()
            if did in dare_ids
        }
        contacts: dict[int, dict[int, ContactInfo]] = defaultdict(dict)
        for c in session.execute(
            select(Contact.id, Contact.person_id, Contact.name, Contact.kind, Contact.can_decide, Contact.created_at)
            .where(Contact.person_id.in_(ids))
        ).all():
            contacts[c.person_id][c.id] = ContactInfo(c.id, c.name, c.kind, c.can_decide, c.created_at)
        outreaches: dict[int, list[OutreachInfo]] = defaultdict(list)
        for o in session.execute(
            select(Outreach.id, Outreach.person_id, Outreach.contact_id, Outreach.attempt_no, Outreach.sent_on,
                   Outreach.status, Outreach.replied_on, Outreach.meeting_on)
            .where(Outreach.person_id.in_(ids))
            .order_by(Outreach.person_id, Outreach.sent_on, Outreach.id)
        ).all():
            outreaches[o.person_id].append(
                OutreachInfo(o.id, o.contact_id, o.attempt_no, o.sent_on, o.status, o.replied_on, o.meeting_on)
            )
        interviews: dict[int, list[InterviewInfo]] = defaultdict(list)
        for i in session.execute(
            select(Interview.id, Interview.person_id, Interview.contact_id, Interview.held_on, Interview.created_at)
            .where(Interview.person_id.in_(ids))
            .order_by(Interview.person_id, Interview.held_on, Interview.id)
        ).all():
            interviews[i.person_id].append(InterviewInfo(i.id, i.contact_id, i.held_on, i.created_at))
        stories: dict[int, list[datetime]] = defaultdict(list)
        for pid, at in session.execute(select(Story.person_id, Story.created_at).where(Story.person_id.in_(ids))).all():
            stories[pid].append(at)
        calls: dict[int, list[RecruiterInfo]] = defaultdict(list)
        for r in session.execute(
            select(RecruiterCall.id, RecruiterCall.person_id, RecruiterCall.company, RecruiterCall.answer,
                   RecruiterCall.occurred_on).where(RecruiterCall.person_id.in_(ids))
        ).all():
            calls[r.person_id].append(RecruiterInfo(r.id, r.company, r.answer, r.occurred_on))

        states: list[ParticipantState | InstructorState] = []
        for pid in ids:
            person = persons.get(pid)
            if person is None:
                continue
            for cid, is_part, is_instr in members[pid]:
                for info, ctz in by_cohort[cid]:
                    tz = tz_name(person.tz, ctz)
                    if is_part:
                        states.append(ParticipantState(
                            person_id=pid, workspace_id=person.workspace_id, tz=tz, dare=info,
                            accepted_at=accepted.get((pid, info.id)), contacts=contacts.get(pid, {}),
                            outreaches=outreaches.get(pid, []), interviews=interviews.get(pid, []),
                            story_times=stories.get(pid, []), recruiter_calls=calls.get(pid, []),
                        ))
                    if is_instr:
                        states.append(InstructorState(pid, person.workspace_id, tz, info))
        yield states, persons


def candidates_for(states: Iterable[ParticipantState | InstructorState], now: datetime,
                   policy: Policy = DEFAULT_POLICY) -> Iterator[Candidate]:
    for s in states:
        p = policy.for_dare(s.dare)
        try:
            # Rules run per person: one odd row (a far-off date, say) must not stop everyone's nudges.
            if isinstance(s, InstructorState):
                found = [c for fn in INSTRUCTOR_RULES.values() for c in fn(s, now, p)]
            else:
                found = list(participant_candidates(s, now, p))
        except (ArithmeticError, ValueError):
            log.exception("nudge rules failed for person %s, dare %s", s.person_id, s.dare.id)
            continue
        yield from found


def insert_nudges(session: Session, rows: list[dict]) -> int:
    """INSERT ... ON CONFLICT (key) DO NOTHING; returns the number of rows actually inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    inserted = 0
    for i in range(0, len(rows), INSERT_BATCH):
        stmt = insert(Nudge).on_conflict_do_nothing(index_elements=["key"]).returning(Nudge.id)
        inserted += len(session.execute(stmt, rows[i : i + INSERT_BATCH]).all())
    return inserted


def plan(session: Session, now: datetime, policy: Policy = DEFAULT_POLICY, *, platform: str | None = None,
         person_ids: Sequence[int] | None = None, rules: frozenset[str] | None = None) -> int:
    """One sweep: insert every candidate due before `now + plan_ahead`. Returns rows inserted."""
    horizon = now + policy.plan_ahead
    total = 0
    for states, persons in load_states(session, now, policy, platform=platform, person_ids=person_ids):
        ids = list(persons)
        existing = set(session.execute(select(Nudge.key).where(Nudge.person_id.in_(ids))).scalars())
        rows: dict[str, dict] = {}
        for c in candidates_for(states, now, policy):
            if rules is not None and c.rule not in rules:
                continue
            if c.due_at > horizon or (c.expires_at is not None and now >= c.expires_at):
                continue
            key = c.key
            if key in existing or key in rows:
                continue
            person = persons[c.person_id]
            if person.unreachable_at is not None:
                continue
            if not person.nudges_enabled and c.rule not in OPTOUT_EXEMPT:
                continue
            rows[key] = dict(
                key=key, workspace_id=person.workspace_id, person_id=c.person_id, rule=c.rule,
                subject=c.subject[:80], due_at=c.due_at, planned_at=now, status="pending", attempts=0,
            )
        total += insert_nudges(session, list(rows.values()))
        session.commit()
    return total
