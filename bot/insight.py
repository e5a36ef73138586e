"""The instructor's view of a cohort: one set of numbers behind the report, the charts, the digest and the dashboard.

A closed cohort is read as it stood at its close (`as_of`); people removed from it, or who left,
are no longer counted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.coaching import BASELINE
from bot.stats import (
    LOOKUP,
    Funnel,
    Member,
    ParticipantStats,
    _Lookup,
    current_dare,
    dare_window_start,
    funnel,
    is_stalled,
    participant_stats,
)
from bot.zones import stored_zone as safe_zone
from storage.models import AnonymousTotals, Cohort, Contact, Dare, Interview, Membership, Nudge, Outreach, Person, pk

MEETING_GRACE_DAYS = 1  # a meeting not logged a day after it was due counts as "passed unlogged"


@dataclass(frozen=True)
class CohortView:
    """A cohort's numbers at one moment: now, or the moment it was closed."""

    cohort: Cohort
    dare: Dare | None
    goal: int
    stats: list[ParticipantStats]
    funnel: Funnel  # erased people's anonymous counts included
    as_of: datetime
    since: date | None
    erased: AnonymousTotals | None = None  # what people who asked to be forgotten contributed

    @property
    def frozen(self) -> bool:
        return self.cohort.closed_at is not None

    @property
    def day(self) -> date:
        """The day the numbers stand at, on the cohort's calendar."""
        return self.as_of.astimezone(safe_zone(self.cohort.tz)).date()


def cohort_view(session: Session, cohort: Cohort, now: datetime, *, dare: Dare | None | _Lookup = LOOKUP) -> CohortView:
    if isinstance(dare, _Lookup):
        dare = current_dare(session, pk(cohort))
    as_of = cohort.closed_at or now
    since = dare_window_start(dare, cohort)
    from bot.privacy import totals_for, with_totals

    stats = participant_stats(session, cohort, since=since, dare=dare, as_of=cohort.closed_at)
    goal = dare.goal if dare else cohort.goal
    erased = totals_for(session, cohort, dare)
    return CohortView(cohort, dare, goal, stats, with_totals(funnel(stats, goal), erased), as_of, since, erased)


@dataclass(frozen=True)
class CohortNumbers:
    """One column of a comparison."""

    name: str
    closed: bool
    size: int
    accepted: int
    reached_out: int
    interviewed: int
    goal_met: int
    goal: int
    reached: int
    replied: int
    interviews: int

    @property
    def take_up(self) -> float:
        return self.interviewed / self.size if self.size else 0.0

    @property
    def vs_baseline(self) -> float:
        return self.take_up / BASELINE

    @property
    def interviews_per_person(self) -> float:
        return self.interviews / self.size if self.size else 0.0


def numbers(view: CohortView) -> CohortNumbers:
    f = view.funnel
    return CohortNumbers(
        view.cohort.name,
        view.frozen,
        f.size,
        f.accepted,
        f.reached_out,
        f.interviewed,
        f.goal_met,
        view.goal,
        sum(s.reached for s in view.stats),
        sum(s.replied for s in view.stats),
        sum(s.interviews for s in view.stats),
    )


def pct(n: int, d: int) -> str:
    return f"{round(100 * n / d)}%" if d else "0%"


def comparison_rows(cols: list[CohortNumbers]) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """(headers, rows) of the side-by-side table; every share is set against the 5% baseline."""
    base = round(BASELINE * 100)
    headers = ("", *(c.name + (" (closed)" if c.closed else "") for c in cols))
    rows = (
        ("Participants", *(str(c.size) for c in cols)),
        ("Accepted", *(f"{pct(c.accepted, c.size)} ({c.accepted})" for c in cols)),
        ("Reached out", *(f"{pct(c.reached_out, c.size)} ({c.reached_out})" for c in cols)),
        ("Take-up (1+ interview)", *(f"{pct(c.interviewed, c.size)} ({c.interviewed})" for c in cols)),
        (f"vs {base}% baseline", *(f"{c.vs_baseline:.1f}x" for c in cols)),
        ("Goal met", *(f"{pct(c.goal_met, c.size)} ({c.goal_met} of goal {c.goal})" for c in cols)),
        ("Reply rate", *(f"{pct(c.replied, c.reached)} ({c.replied}/{c.reached})" for c in cols)),
        ("Interviews per person", *(f"{c.interviews_per_person:.1f}" for c in cols)),
    )
    return headers, rows


@dataclass(frozen=True)
class Weekly:
    """Cumulative interviews and first attempts at the end of each week since the dare was issued."""

    start: date
    week_ends: tuple[date, ...]
    interviews: tuple[int, ...]
    first_attempts: tuple[int, ...]
    deadline: date | None


def weekly(session: Session, view: CohortView) -> Weekly | None:
    """The weekly series, counted with the report's filters.

    Current participants, the dare's window, frozen at close."""
    if view.dare is None or view.since is None:
        return None
    ids = [s.person.id for s in view.stats]
    start, end = view.since, max(view.since, view.day)
    held: list[date] = []
    firsts: list[date] = []
    if ids:
        iq = select(col(Interview.held_on)).where(col(Interview.person_id).in_(ids), col(Interview.held_on) >= start)
        oq = select(col(Outreach.sent_on)).where(
            col(Outreach.person_id).in_(ids), col(Outreach.attempt_no) == 1, Outreach.sent_on >= start
        )
        if view.cohort.closed_at is not None:
            iq = iq.where(Interview.created_at <= view.cohort.closed_at)
            oq = oq.where(Outreach.created_at <= view.cohort.closed_at)
        held = list(session.exec(iq))
        firsts = list(session.exec(oq))
    weeks = (end - start).days // 7 + 1
    ends = tuple(start + timedelta(days=7 * i + 6) for i in range(weeks))
    return Weekly(
        start,
        ends,
        tuple(sum(d <= e for d in held) for e in ends),
        tuple(sum(d <= e for d in firsts) for e in ends),
        view.dare.deadline,
    )


@dataclass(frozen=True)
class Stall:
    """Someone who needs a word from the instructor, and why."""

    person: Member
    why: str  # never-accepted | no-contact | waiting | meeting-unlogged | unreachable | quiet
    text: str
    nudges_on: bool = True

    @property
    def can_dm(self) -> bool:
        return self.why != "unreachable" and self.nudges_on


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def who_needs_a_word(session: Session, view: CohortView, now: datetime) -> list[Stall]:
    """Stalled participants (bot.stats.is_stalled) and the unreachable, each with the reason in plain words."""
    today = view.day
    ids = [s.person.id for s in view.stats]
    latest: dict[int, dict[int, Any]] = defaultdict(dict)  # person -> contact -> their latest attempt
    interviewed: dict[int, dict[int, date]] = defaultdict(dict)
    if ids:
        # The columns read below, not whole ORM rows: building an Outreach object per attempt was most
        # of a campus report's non-chart time (500 attempts for a cohort of 50).
        for o in session.execute(
            sa_select(
                col(Outreach.person_id),
                col(Outreach.contact_id),
                col(Outreach.attempt_no),
                col(Outreach.status),
                col(Outreach.meeting_on),
                col(Outreach.sent_on),
            ).where(col(Outreach.person_id).in_(ids))
        ):
            cur = latest[o.person_id].get(o.contact_id)
            if cur is None or o.attempt_no > cur.attempt_no:
                latest[o.person_id][o.contact_id] = o
        for pid, cid, held in session.exec(
            select(Interview.person_id, Interview.contact_id, func.max(Interview.held_on))
            .where(col(Interview.person_id).in_(ids))
            .group_by(col(Interview.person_id), col(Interview.contact_id))
        ):
            interviewed[pid][cid] = held
    muted = set(
        session.exec(select(col(Person.id)).where(col(Person.id).in_(ids), col(Person.nudges_enabled) == False))  # noqa: E712
    )
    out: list[Stall] = []
    for s in view.stats:
        p = s.person
        pid = p.id or 0
        if p.unreachable_at is not None:
            out.append(Stall(p, "unreachable", "can't be reached by DM"))
            continue
        if s.interviews >= view.goal:
            continue
        passed = [
            o
            for o in latest[pid].values()
            if o.status == "meeting"
            and o.meeting_on is not None
            and o.meeting_on + timedelta(days=MEETING_GRACE_DAYS) <= today
            and interviewed[pid].get(o.contact_id, date.min) < o.sent_on
        ]
        if passed:
            o = min(passed, key=lambda o: o.meeting_on or today)
            out.append(Stall(p, "meeting-unlogged", f"a meeting on {o.meeting_on} isn't logged yet", pid not in muted))
            continue
        if not is_stalled(s, view.as_of, view.goal):
            continue
        if view.dare is not None and s.accepted_at is None:
            out.append(Stall(p, "never-accepted", "hasn't accepted the dare", pid not in muted))
        elif s.contacts == 0:
            out.append(Stall(p, "no-contact", "hasn't named anyone to contact", pid not in muted))
        else:
            waiting = [
                o for o in latest[pid].values() if o.status == "no-reply" and o.contact_id not in interviewed[pid]
            ]
            if waiting:
                oldest = min(o.sent_on for o in waiting)
                out.append(
                    Stall(p, "waiting", f"waiting on a reply for {_days((today - oldest).days)}", pid not in muted)
                )
            else:
                quiet = (view.as_of - (s.last_activity or s.joined_at)).days
                out.append(Stall(p, "quiet", f"no step in {_days(quiet)}", pid not in muted))
    return out


@dataclass(frozen=True)
class Record:
    """One participant's record, for their instructor: counts only, never the contacts' names."""

    stats: ParticipantStats
    kinds: dict[str, tuple[int, int]]  # kind -> (contacts, of whom can decide)
    weeks: list[tuple[date, int, int]]  # (week start, attempts, replies)
    interview_days: list[date]
    nudges: dict[str, int]
    last_nudge: datetime | None
    last_active: datetime | None


def record(session: Session, view: CohortView, person: Person) -> Record | None:
    stats = participant_stats(session, view.cohort, since=view.since, as_of=view.cohort.closed_at, only=person.id)
    if not stats:
        return None
    kinds: dict[str, tuple[int, int]] = {}
    for kind, decides, n in session.exec(
        select(Contact.kind, Contact.can_decide, func.count())
        .where(Contact.person_id == person.id)
        .group_by(col(Contact.kind), col(Contact.can_decide))
    ):
        total, deciders = kinds.get(kind, (0, 0))
        kinds[kind] = (total + n, deciders + (n if decides else 0))
    by_week: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    since = view.since or date.min
    for o in session.exec(select(Outreach).where(Outreach.person_id == person.id, Outreach.sent_on >= since)):
        by_week[o.sent_on - timedelta(days=o.sent_on.weekday())][0] += 1
        if o.replied_on is not None:
            by_week[o.replied_on - timedelta(days=o.replied_on.weekday())][1] += 1
    days: list[date] = sorted(
        session.exec(
            select(col(Interview.held_on)).where(col(Interview.person_id) == person.id, Interview.held_on >= since)
        )
    )
    nudges: dict[str, int] = {}
    last_nudge: datetime | None = None
    for rule, n, last in session.exec(
        select(Nudge.rule, func.count(), func.max(Nudge.sent_at))
        .where(Nudge.person_id == person.id, Nudge.status == "sent")
        .group_by(Nudge.rule)
    ):
        nudges[rule] = n
        if last is not None and (last_nudge is None or last > last_nudge):
            last_nudge = last
    return Record(
        stats[0],
        kinds,
        sorted((w, a, r) for w, (a, r) in by_week.items()),
        days,
        nudges,
        last_nudge,
        person.last_active_at,
    )


def removed_members(session: Session, cohort: Cohort) -> list[tuple[Person, Membership]]:
    """People who were removed from the cohort or left it, oldest first."""
    return list(
        session.exec(
            select(Person, Membership)
            .join(Membership, col(Membership.person_id) == col(Person.id))
            .where(Membership.cohort_id == cohort.id, Membership.removed_at != None)  # noqa: E711
            .order_by(col(Membership.removed_at))
        ).all()
    )
