"""Per-participant numbers for a cohort: one set of queries feeds the board, report, export and nudges."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median

from typing import Any

from sqlalchemy import CompoundSelect, Integer, ScalarSelect, String, and_, case, cast, func, literal, null, true, \
    type_coerce, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select
from sqlmodel.sql.sqltypes import UTCDateTime

from bot.coaching import BASELINE
from bot.dates import safe_zone
from bot.scoring import score
from storage.models import (Acceptance, Cohort, Contact, Dare, Interview, Membership, Outcome, Outreach, Person,
                            RecruiterCall, Story)


@dataclass
class ParticipantStats:
    person: Person
    joined_at: datetime
    accepted_at: datetime | None = None
    contacts: int = 0
    deciders: int = 0
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
    rewards_pending: int = 0
    recruiter_calls: int = 0
    recruiter_steps: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    first_reply_attempts: list[int] = field(default_factory=list)
    last_activity: datetime | None = None

    @property
    def score(self) -> int:
        return score(interviews=self.interviews, decider_interviews=self.decider_interviews,
                     first_attempts=self.first_attempts, follow_ups=self.follow_ups,
                     later_attempts=self.later_attempts, stories=self.stories, recruiter_steps=self.recruiter_steps)

    def touch(self, moment: datetime | None) -> None:
        if moment is not None and (self.last_activity is None or moment > self.last_activity):
            self.last_activity = moment


STALL_DAYS = 7  # a week without a step counts as stalled


def is_stalled(s: ParticipantStats, now: datetime, goal: int) -> bool:
    """Short of the goal, reachable, and either never accepted or a week without a step."""
    if s.interviews >= goal or s.person.unreachable_at is not None:
        return False
    return s.accepted_at is None or s.last_activity is None or s.last_activity < now - timedelta(days=STALL_DAYS)


def dare_window_start(dare: Dare | None, cohort: Cohort) -> date | None:
    """Activity counts from the day the current dare was issued, on the cohort's calendar."""
    if dare is None:
        return None
    return dare.starts_at.astimezone(safe_zone(cohort.tz)).date()


def latest_dare_id(cohort_id: ColumnElement[int]) -> ScalarSelect[int]:
    """The current dare's id of a cohort, as a correlated subquery (the newest dare wins)."""
    d = aliased(Dare)
    return (sa_select(d.id).where(d.cohort_id == cohort_id)
            .order_by(d.created_at.desc(), d.id.desc())  # type: ignore[union-attr,attr-defined]
            .limit(1).correlate_except(d).scalar_subquery())


def current_dare(session: Session, cohort_id: int) -> Dare | None:
    return session.exec(select(Dare).where(Dare.cohort_id == cohort_id)
                        .order_by(Dare.created_at.desc(), Dare.id.desc())).first()  # type: ignore[union-attr]


class _Lookup:
    """Marks "find the current dare yourself" (None is a real answer: no dare yet)."""


LOOKUP = _Lookup()

# One statement returns every per-person count: a UNION ALL of small GROUP BYs, each branch tagged by
# `kind` and shaped to the same columns, so a board of any size costs the same number of round trips.
_INT = Integer()
_TIME = UTCDateTime()
_TEXT = String()


def _row(kind: str, person: Any, *, n: tuple[Any, ...] = (), t: Any = None, tag: Any = None) -> list[Any]:
    ints = list(n) + [None] * (6 - len(n))
    return [type_coerce(literal(kind), _TEXT).label("kind"), type_coerce(person, _INT).label("pid"),
            *(_typed(x, _INT).label(f"n{i}") for i, x in enumerate(ints)),
            _typed(t, _TIME).label("t"), _typed(tag, _TEXT).label("tag")]


def _typed(x: Any, type_: Any) -> Any:
    # PostgreSQL needs a typed NULL to line the branches of a UNION up.
    return cast(null(), type_) if x is None else type_coerce(x, type_)


def _flag(cond: Any) -> Any:
    return func.sum(case((cond, 1), else_=0))


def _stats_query(cohort: Cohort, dare: Dare | None, since: date | None, until: date | None,
                 only: int | None) -> CompoundSelect:
    """The UNION ALL behind participant_stats; every branch is scoped to the cohort's participants."""
    members = select(Membership.person_id).where(Membership.cohort_id == cohort.id,
                                                  Membership.is_participant == True)  # noqa: E712

    def who(col: Any) -> Any:
        return col == only if only is not None else col.in_(members)

    def in_range(col: Any) -> Any:
        conds = []
        if since is not None:
            conds.append(col >= since)
        if until is not None:
            conds.append(col <= until)
        return and_(true(), *conds)

    o = Outreach
    per_contact = (select(*_row("o", o.person_id, n=(
        func.count(), _flag(o.attempt_no == 1), _flag(and_(o.attempt_no > 1, o.attempt_no <= 3)),
        _flag(o.attempt_no > 3), func.min(case((o.status != "no-reply", o.attempt_no))),
        func.max(case((o.status == "meeting", 1), else_=0))), t=func.max(o.created_at)))
        .where(who(o.person_id), in_range(o.sent_on)).group_by(o.person_id, o.contact_id))
    branches = [
        select(*_row("c", Contact.person_id, n=(func.count(), _flag(Contact.can_decide == True)),  # noqa: E712
                     t=func.max(Contact.created_at)))
        .where(who(Contact.person_id)).group_by(Contact.person_id),
        per_contact,
        select(*_row("i", Interview.person_id, n=(func.count(), _flag(Contact.can_decide == True)),  # noqa: E712
                     t=func.max(Interview.created_at)))
        .join(Contact, Contact.id == Interview.contact_id)
        .where(who(Interview.person_id), in_range(Interview.held_on)).group_by(Interview.person_id),
        select(*_row("t", Interview.person_id, n=(func.count(),), tag=Outcome.tag))
        .join(Outcome, Outcome.interview_id == Interview.id)
        .where(who(Interview.person_id), in_range(Interview.held_on)).group_by(Interview.person_id, Outcome.tag),
        select(*_row("s", Story.person_id, n=(func.count(), _flag(Story.reward_granted_at == None)),  # noqa: E711
                     t=func.max(Story.created_at)))
        .where(who(Story.person_id), Story.cohort_id == cohort.id).group_by(Story.person_id),
        select(*_row("k", RecruiterCall.person_id, n=(func.count(), func.sum(
            case((RecruiterCall.asked != "", 1), else_=0) + case((RecruiterCall.answer.in_(("yes", "no")), 1), else_=0)  # type: ignore[union-attr]
            + case((RecruiterCall.connected == True, 1), else_=0) + case((RecruiterCall.referred == True, 1), else_=0))),  # noqa: E712
                     t=func.max(RecruiterCall.created_at)))
        .where(who(RecruiterCall.person_id), in_range(RecruiterCall.occurred_on)).group_by(RecruiterCall.person_id),
    ]
    if dare is not None:
        branches.insert(0, select(*_row("a", Acceptance.person_id, t=Acceptance.accepted_at))
                        .where(Acceptance.dare_id == dare.id, who(Acceptance.person_id)))
    return union_all(*branches)


def participant_stats(session: Session, cohort: Cohort, *, since: date | None = None, until: date | None = None,
                      only: int | None = None, dare: Dare | None | _Lookup = LOOKUP,
                      people: list[tuple[Person, datetime]] | None = None) -> list[ParticipantStats]:
    """Stats for every participant of a cohort (or `only` one), counting activity within [since, until].

    `dare` (the cohort's current one) and `people` (participants with their join time, when the caller
    has them already) save their lookups; the counts themselves come from one statement."""
    if people is None:
        query = (select(Person, Membership.joined_at).join(Membership, Membership.person_id == Person.id)
                 .where(Membership.cohort_id == cohort.id, Membership.is_participant == True)  # noqa: E712
                 .order_by(Membership.joined_at, Person.id))
        if only is not None:
            query = query.where(Person.id == only)
        people = list(session.exec(query).all())
    by_id: dict[int, ParticipantStats] = {p.id: ParticipantStats(person=p, joined_at=j) for p, j in people}  # type: ignore[misc]
    if not by_id:
        return []
    if isinstance(dare, _Lookup):
        dare = current_dare(session, cohort.id)  # type: ignore[arg-type]
    for kind, pid, n0, n1, n2, n3, n4, n5, t, tag in session.execute(_stats_query(cohort, dare, since, until, only)):
        s = by_id.get(pid)
        if s is None:
            continue
        if kind == "a":
            s.accepted_at = t
        elif kind == "c":
            s.contacts, s.deciders = n0, int(n1 or 0)
        elif kind == "o":  # one row per contact reached
            s.attempts += n0
            s.first_attempts += int(n1 or 0)
            s.follow_ups += int(n2 or 0)
            s.later_attempts += int(n3 or 0)
            s.reached += 1
            if n4 is not None:
                s.replied += 1
                s.first_reply_attempts.append(int(n4))
            s.meetings += int(n5 or 0)
        elif kind == "i":
            s.interviews, s.decider_interviews = n0, int(n1 or 0)
        elif kind == "t":
            s.outcomes[tag] += n0
        elif kind == "s":
            s.stories, s.rewards_pending = n0, int(n1 or 0)
        elif kind == "k":
            s.recruiter_calls, s.recruiter_steps = n0, int(n1 or 0)
        s.touch(t)
    return list(by_id.values())


def ranked(stats: list[ParticipantStats]) -> list[tuple[int, ParticipantStats]]:
    """Rank by score, then interviews, then follow-ups; ties share a rank and keep join order."""
    ordered = sorted(stats, key=lambda s: (-s.score, -s.interviews, -s.follow_ups))  # sorted() is stable
    out: list[tuple[int, ParticipantStats]] = []
    for i, s in enumerate(ordered):
        if out and (s.score, s.interviews, s.follow_ups) == (out[-1][1].score, out[-1][1].interviews,
                                                             out[-1][1].follow_ups):
            out.append((out[-1][0], s))
        else:
            out.append((i + 1, s))
    return out


@dataclass(frozen=True)
class Funnel:
    size: int
    accepted: int
    reached_out: int
    interviewed: int
    goal_met: int

    @staticmethod
    def pct(n: int, d: int) -> float:
        return n / d if d else 0.0

    @property
    def take_up(self) -> float:
        """The headline: share of participants who did at least one reverse interview."""
        return self.pct(self.interviewed, self.size)

    @property
    def vs_baseline(self) -> float:
        return self.take_up / BASELINE

    def headline(self) -> str:
        """The report's first line: take-up against the baseline (about 1 in 20)."""
        if not self.size:
            return "No participants yet."
        return (f"Take-up: {self.interviewed} of {self.size} ({round(100 * self.take_up)}%) did at least one "
                f"reverse interview, {self.vs_baseline:.1f}x the {round(BASELINE * 100)}% baseline (about 1 in 20).")


def funnel(stats: list[ParticipantStats], goal: int) -> Funnel:
    return Funnel(size=len(stats), accepted=sum(s.accepted_at is not None for s in stats),
                  reached_out=sum(s.attempts > 0 for s in stats), interviewed=sum(s.interviews > 0 for s in stats),
                  goal_met=sum(s.interviews >= goal for s in stats))


def attempts_before_reply(stats: list[ParticipantStats]) -> float | None:
    firsts = [a for s in stats for a in s.first_reply_attempts]
    return float(median(firsts)) if firsts else None
