"""Per-participant numbers for a cohort: one set of queries feeds the board, report, export and nudges."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from statistics import median
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import (
    CompoundSelect,
    Date,
    FunctionElement,
    Integer,
    ScalarSelect,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    true,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import SQLColumnExpression
from sqlmodel import Session, col, select
from sqlmodel.sql.sqltypes import UTCDateTime

from bot.coaching import BASELINE
from bot.scoring import score
from bot.zones import stored_zone
from storage.models import (
    Acceptance,
    Cohort,
    Contact,
    Dare,
    ForgottenActivity,
    Interview,
    Membership,
    Outcome,
    Outreach,
    Person,
    RecruiterCall,
    Story,
    pk,
)


@dataclass
class ParticipantStats:
    person: Member
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
        return score(
            interviews=self.interviews,
            decider_interviews=self.decider_interviews,
            first_attempts=self.first_attempts,
            follow_ups=self.follow_ups,
            later_attempts=self.later_attempts,
            stories=self.stories,
            recruiter_steps=self.recruiter_steps,
        )

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
    return window_start(dare.starts_at, cohort.tz)


def window_start(starts_at: datetime, cohort_tz: str | None) -> date:
    """dare_window_start from the columns themselves (for callers that read columns, not objects)."""
    return starts_at.astimezone(stored_zone(cohort_tz)).date()


def latest_dare_id(cohort_id: SQLColumnExpression[int | None]) -> ScalarSelect[int | None]:
    """The current dare's id of a cohort, as a correlated subquery (the newest dare wins)."""
    if cohort_id is col(Cohort.id):  # every caller's: built once, not on each command (about 1 ms)
        return _latest_dare_of_cohort()
    return _latest_dare_id(cohort_id)


@lru_cache(maxsize=1)
def _latest_dare_of_cohort() -> ScalarSelect[int | None]:
    return _latest_dare_id(col(Cohort.id))


def _latest_dare_id(cohort_id: SQLColumnExpression[int | None]) -> ScalarSelect[int | None]:
    d = aliased(Dare)
    return (
        sa_select(col(d.id))
        .where(col(d.cohort_id) == cohort_id)
        .order_by(col(d.created_at).desc(), col(d.id).desc())
        .limit(1)
        .correlate_except(d)
        .scalar_subquery()
    )


def current_dare(session: Session, cohort_id: int) -> Dare | None:
    return session.exec(
        select(Dare).where(Dare.cohort_id == cohort_id).order_by(col(Dare.created_at).desc(), col(Dare.id).desc())
    ).first()


class _Lookup:
    """Marks "find the current dare yourself" (None is a real answer: no dare yet)."""


LOOKUP = _Lookup()


class _greatest(FunctionElement[datetime]):
    """The latest of several moments, NULLs ignored (PostgreSQL's GREATEST; SQLite's max() would say NULL)."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(_greatest)
def _greatest_default(element: _greatest, compiler: Any, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(_greatest, "sqlite")
def _greatest_sqlite(element: _greatest, compiler: Any, **kw: Any) -> str:
    # Stored moments are ISO text, so they order as strings; '' stands for NULL and loses.
    args = ", ".join(f"COALESCE({compiler.process(c, **kw)}, '')" for c in element.clauses)
    return f"NULLIF(MAX({args}, ''), '')"


FORGOTTEN_COUNTS = (
    "attempts",
    "first_attempts",
    "follow_ups",
    "later_attempts",
    "reached",
    "replied",
    "meetings",
    "interviews",
    "decider_interviews",
)


def _flag(cond: Any) -> Any:
    return func.sum(case((cond, 1), else_=0))


def _int(col: Any) -> Any:
    return func.coalesce(col, 0)


def _scope(
    one: bool,
    has_since: bool,
    has_until: bool,
    has_as_of: bool = False,
) -> tuple[Any, Callable[[Any], Any], Callable[..., Any]]:
    """The cohort parameter, "is one of its current participants (or the one person)", and "within the
    dates" (and, for a closed cohort, "recorded by its close")."""
    cohort_id = bindparam("cohort_id", type_=Integer())
    members = select(Membership.person_id).where(
        Membership.cohort_id == cohort_id,
        Membership.is_participant == True,  # noqa: E712
        Membership.removed_at == None,  # noqa: E711
    )

    def who(col: Any) -> Any:
        return col == bindparam("only", type_=Integer()) if one else col.in_(members)

    def in_range(col: Any, recorded: Any = None) -> Any:
        conds = []
        if has_since and col is not None:
            conds.append(col >= bindparam("since", type_=Date()))
        if has_until and col is not None:
            conds.append(col <= bindparam("until", type_=Date()))
        if has_as_of and recorded is not None:
            conds.append(recorded <= bindparam("as_of", type_=UTCDateTime()))
        return and_(true(), *conds)

    return cohort_id, who, in_range


@lru_cache(maxsize=32)
def _stats_query(has_dare: bool, has_since: bool, has_until: bool, one: bool, has_as_of: bool = False) -> Select[Any]:
    """One row per participant with every count: the members LEFT JOINed to a GROUP BY per table,
    each scoped to the cohort's participants (or one person).

    Built once per shape with bound parameters (cohort, dare, since, until, only): building the
    expression costs more than running it on a small cohort."""
    cohort_id, who, in_range = _scope(one, has_since, has_until, has_as_of)
    m_q = select(Membership.person_id, Membership.joined_at).where(
        Membership.cohort_id == cohort_id,
        Membership.is_participant == True,  # noqa: E712
        Membership.removed_at == None,  # noqa: E711
    )
    m = (m_q.where(who(Membership.person_id)) if one else m_q).subquery("m")
    # Joined as the table, not as a filtered subquery: psycopg prepares a statement run five times, and
    # PostgreSQL's generic plan for it (planned for an average cohort) guessed one row for the subquery
    # and nested-looped it against every member: 5,000 x 5,000 comparisons, 2 s for the biggest cohort.
    # Joined directly it is estimated as one dare's acceptances and hash-joined.
    acc = aliased(Acceptance, name="acc")
    con = (
        sa_select(
            col(Contact.person_id),
            func.count().label("n"),
            _flag(col(Contact.can_decide) == True).label("dec"),  # noqa: E712
            func.max(Contact.created_at).label("t"),
        )
        .where(who(col(Contact.person_id)), in_range(None, col(Contact.created_at)))
        .group_by(col(Contact.person_id))
        .subquery("con")
    )
    o = Outreach
    per_contact = (
        sa_select(
            col(o.person_id),
            func.count().label("n"),
            _flag(col(o.attempt_no) == 1).label("first"),
            _flag(and_(col(o.attempt_no) > 1, col(o.attempt_no) <= 3)).label("fu"),
            _flag(col(o.attempt_no) > 3).label("later"),
            func.min(case((col(o.status) != "no-reply", col(o.attempt_no)))).label("fr"),
            func.max(case((col(o.status) == "meeting", 1), else_=0)).label("mt"),
            func.max(o.created_at).label("t"),
        )
        .where(who(o.person_id), in_range(o.sent_on, o.created_at))
        .group_by(col(o.person_id), col(o.contact_id))
        .subquery("pc")
    )
    out = (
        sa_select(
            per_contact.c.person_id,
            func.sum(per_contact.c.n).label("n"),
            func.sum(per_contact.c.first).label("first"),
            func.sum(per_contact.c.fu).label("fu"),
            func.sum(per_contact.c.later).label("later"),
            func.count().label("reached"),
            func.count(per_contact.c.fr).label("replied"),
            func.sum(per_contact.c.mt).label("mt"),
            func.max(per_contact.c.t).label("t"),
        )
        .group_by(per_contact.c.person_id)
        .subquery("out")
    )
    itv = (
        sa_select(
            col(Interview.person_id),
            func.count().label("n"),
            _flag(col(Contact.can_decide) == True).label("dec"),  # noqa: E712
            func.max(Interview.created_at).label("t"),
        )
        .join(Contact, col(Contact.id) == col(Interview.contact_id))
        .where(who(Interview.person_id), in_range(Interview.held_on, Interview.created_at))
        .group_by(col(Interview.person_id))
        .subquery("itv")
    )
    sto = (
        sa_select(
            col(Story.person_id),
            func.count().label("n"),
            _flag(col(Story.reward_granted_at) == None).label("pending"),  # noqa: E711
            func.max(Story.created_at).label("t"),
        )
        .where(who(Story.person_id), col(Story.cohort_id) == cohort_id, in_range(None, Story.created_at))
        .group_by(col(Story.person_id))
        .subquery("sto")
    )
    r = RecruiterCall
    steps = _recruiter_steps()
    rec = (
        sa_select(
            col(r.person_id), func.count().label("n"), func.sum(steps).label("steps"), func.max(r.created_at).label("t")
        )
        .where(who(r.person_id), in_range(r.occurred_on, r.created_at))
        .group_by(col(r.person_id))
        .subquery("rec")
    )
    # Counts left by contacts forgotten with `/dare contact NAME --forget`, one row a day, no name.
    f = ForgottenActivity
    fa = (
        sa_select(col(f.person_id), *(func.sum(getattr(f, k)).label(k) for k in FORGOTTEN_COUNTS))
        .where(who(f.person_id), in_range(f.counted_from))
        .group_by(col(f.person_id))
        .subquery("fa")
    )

    def plus(live: Any, kept: str) -> Any:
        return _int(live) + _int(fa.c[kept])

    accepted = col(acc.accepted_at) if has_dare else cast(null(), UTCDateTime())
    q = (
        sa_select(
            col(Person.id),
            col(Person.external_id),
            col(Person.display_name),
            col(Person.alias),
            col(Person.board_mode),
            col(Person.unreachable_at),
            m.c.joined_at,
            accepted,
            _int(con.c.n),
            _int(con.c.dec),
            plus(out.c.n, "attempts"),
            plus(out.c.first, "first_attempts"),
            plus(out.c.fu, "follow_ups"),
            plus(out.c.later, "later_attempts"),
            plus(out.c.reached, "reached"),
            plus(out.c.replied, "replied"),
            plus(out.c.mt, "meetings"),
            plus(itv.c.n, "interviews"),
            plus(itv.c.dec, "decider_interviews"),
            _int(sto.c.n),
            _int(sto.c.pending),
            _int(rec.c.n),
            _int(rec.c.steps),
            _greatest(accepted, con.c.t, out.c.t, itv.c.t, sto.c.t, rec.c.t),
        )
        .select_from(m)
        .join(Person, col(Person.id) == m.c.person_id)
    )
    if has_dare:
        q = q.outerjoin(
            acc,
            and_(
                col(acc.person_id) == m.c.person_id,
                col(acc.dare_id) == bindparam("dare_id", type_=Integer()),
                in_range(None, col(acc.accepted_at)),
            ),
        )
    for sub in (con, out, itv, sto, rec, fa):
        q = q.outerjoin(sub, sub.c.person_id == m.c.person_id)
    return q.order_by(m.c.joined_at, col(Person.id))


def _recruiter_steps() -> Any:
    """A recruiter call's steps taken, as a column (asked, answered yes or no, connected, referred):
    the report's statement and the board's both score with it."""
    r = RecruiterCall
    return (
        case((col(r.asked) != "", 1), else_=0)
        + case((col(r.answer).in_(("yes", "no")), 1), else_=0)
        + case((col(r.connected) == True, 1), else_=0)  # noqa: E712
        + case((col(r.referred) == True, 1), else_=0)  # noqa: E712
    )


@lru_cache(maxsize=4)
def _board_query(has_since: bool, has_as_of: bool) -> Select[Any]:
    """The board's slice of _stats_query: only the counts that score or show, one row per participant.

    What it leaves out is what made a 5,000-person board slow: outreach counted per person, not per
    contact first (the per-contact level only serves reached/replied/meetings), no contact, acceptance
    or last-activity columns, so no dates to parse for each row."""
    cohort_id, who, in_range = _scope(False, has_since, False, has_as_of)
    m = (
        select(Membership.person_id, Membership.joined_at)
        .where(
            Membership.cohort_id == cohort_id,
            Membership.is_participant == True,  # noqa: E712
            Membership.removed_at == None,  # noqa: E711
        )
        .subquery("m")
    )
    o = Outreach
    out = (
        sa_select(
            col(o.person_id),
            func.count().label("n"),
            _flag(col(o.attempt_no) == 1).label("first"),
            _flag(and_(col(o.attempt_no) > 1, col(o.attempt_no) <= 3)).label("fu"),
            _flag(col(o.attempt_no) > 3).label("later"),
        )
        .where(who(o.person_id), in_range(o.sent_on, o.created_at))
        .group_by(col(o.person_id))
        .subquery("out")
    )
    itv = (
        sa_select(
            col(Interview.person_id),
            func.count().label("n"),
            _flag(col(Contact.can_decide) == True).label("dec"),  # noqa: E712
        )
        .join(Contact, col(Contact.id) == col(Interview.contact_id))
        .where(who(Interview.person_id), in_range(Interview.held_on, Interview.created_at))
        .group_by(col(Interview.person_id))
        .subquery("itv")
    )
    sto = (
        sa_select(col(Story.person_id), func.count().label("n"))
        .where(who(Story.person_id), col(Story.cohort_id) == cohort_id, in_range(None, Story.created_at))
        .group_by(col(Story.person_id))
        .subquery("sto")
    )
    r = RecruiterCall
    steps = _recruiter_steps()
    rec = (
        sa_select(col(r.person_id), func.sum(steps).label("steps"))
        .where(who(r.person_id), in_range(r.occurred_on, r.created_at))
        .group_by(col(r.person_id))
        .subquery("rec")
    )
    f = ForgottenActivity
    kept = ("attempts", "first_attempts", "follow_ups", "later_attempts", "interviews", "decider_interviews")
    fa = (
        sa_select(col(f.person_id), *(func.sum(getattr(f, k)).label(k) for k in kept))
        .where(who(f.person_id), in_range(f.counted_from))
        .group_by(col(f.person_id))
        .subquery("fa")
    )

    def plus(live: Any, k: str) -> Any:
        return _int(live) + _int(fa.c[k])

    q = (
        sa_select(
            col(Person.id),
            col(Person.external_id),
            col(Person.display_name),
            col(Person.alias),
            col(Person.board_mode),
            col(Person.unreachable_at),
            plus(out.c.n, "attempts"),
            plus(out.c.first, "first_attempts"),
            plus(out.c.fu, "follow_ups"),
            plus(out.c.later, "later_attempts"),
            plus(itv.c.n, "interviews"),
            plus(itv.c.dec, "decider_interviews"),
            _int(sto.c.n),
            _int(rec.c.steps),
        )
        .select_from(m)
        .join(Person, col(Person.id) == m.c.person_id)
    )
    for sub in (out, itv, sto, rec, fa):
        q = q.outerjoin(sub, sub.c.person_id == m.c.person_id)
    return q.order_by(m.c.joined_at, col(Person.id))


@lru_cache(maxsize=32)
def _detail_query(has_since: bool, has_until: bool, one: bool, has_as_of: bool = False) -> CompoundSelect[Any]:
    """The report's extras: outcome tags per person, and on which attempt each contact first answered."""
    _cohort, who, in_range = _scope(one, has_since, has_until, has_as_of)
    o = Outreach
    per_contact = (
        sa_select(col(o.person_id), func.min(case((col(o.status) != "no-reply", col(o.attempt_no)))).label("fr"))
        .where(who(o.person_id), in_range(o.sent_on, o.created_at))
        .group_by(col(o.person_id), col(o.contact_id))
        .subquery("pc")
    )
    tags: Select[str, int, str, int] = (
        sa_select(
            literal("t", String()).label("kind"),
            col(Interview.person_id).label("pid"),
            col(Outcome.tag).label("tag"),
            func.count().label("n"),
        )
        .join(Outcome, col(Outcome.interview_id) == col(Interview.id))
        .where(who(Interview.person_id), in_range(Interview.held_on, Interview.created_at))
        .group_by(col(Interview.person_id), col(Outcome.tag))
    )
    firsts = (
        sa_select(literal("r", String()), per_contact.c.person_id, cast(per_contact.c.fr, String()), func.count())
        .where(per_contact.c.fr != None)  # noqa: E711
        .group_by(per_contact.c.person_id, per_contact.c.fr)
    )
    kept = sa_select(
        literal("f", String()), col(ForgottenActivity.person_id), col(ForgottenActivity.outcomes), literal(1)
    ).where(
        who(ForgottenActivity.person_id),
        in_range(ForgottenActivity.counted_from),
        col(ForgottenActivity.outcomes) != "",
    )
    return union_all(tags, firsts, kept)


@dataclass(frozen=True, slots=True)
class Member:
    """What the board, report and export show of a participant."""

    id: int
    external_id: str
    display_name: str
    alias: str
    board_mode: str
    unreachable_at: datetime | None


def participant_stats(
    session: Session,
    cohort: Cohort,
    *,
    since: date | None = None,
    until: date | None = None,
    only: int | None = None,
    dare: Dare | None | _Lookup = LOOKUP,
    detail: bool = True,
    as_of: datetime | None = None,
) -> list[ParticipantStats]:
    """Stats for every current participant of a cohort (or `only` one), counting activity within [since, until].

    `as_of` freezes the numbers at a moment (a closed cohort's close): rows recorded later don't count.

    One statement gives every count; `detail` adds a second for outcome tags and the attempt each
    contact first answered on (the board and progress don't show them). `dare`, the cohort's current
    dare when the caller has it, saves looking it up."""
    if isinstance(dare, _Lookup):
        dare = current_dare(session, pk(cohort))
    params = {
        "cohort_id": cohort.id,
        "dare_id": dare.id if dare else None,
        "since": since,
        "until": until,
        "only": only,
        "as_of": as_of,
    }
    query = _stats_query(dare is not None, since is not None, until is not None, only is not None, as_of is not None)
    by_id: dict[int, ParticipantStats] = {}
    for (
        pid,
        ext,
        name,
        alias,
        mode,
        unreachable,
        joined,
        accepted,
        contacts,
        deciders,
        attempts,
        first,
        fu,
        later,
        reached,
        replied,
        meetings,
        interviews,
        dec_interviews,
        stories,
        pending,
        calls,
        steps,
        last,
    ) in session.execute(query, params):
        by_id[pid] = ParticipantStats(
            person=Member(pid, ext, name, alias, mode, unreachable),
            joined_at=joined,
            accepted_at=accepted,
            contacts=contacts,
            deciders=deciders,
            attempts=attempts,
            first_attempts=first,
            follow_ups=fu,
            later_attempts=later,
            reached=reached,
            replied=replied,
            meetings=meetings,
            interviews=interviews,
            decider_interviews=dec_interviews,
            stories=stories,
            rewards_pending=pending,
            recruiter_calls=calls,
            recruiter_steps=steps,
            last_activity=last,
        )
    if detail and by_id:
        for kind, pid, value, n in session.execute(
            _detail_query(since is not None, until is not None, only is not None, as_of is not None), params
        ):
            s = by_id.get(pid)
            if s is None:
                continue
            if kind == "t":
                s.outcomes[value] += n
            elif kind == "f":  # "advice=1;referral=2" from a forgotten contact
                for part in filter(None, value.split(";")):
                    tag, _, k = part.partition("=")
                    s.outcomes[tag] += int(k or 0)
            else:
                s.first_reply_attempts.extend([int(value)] * n)
    return list(by_id.values())


class Standing(NamedTuple):
    """A participant's counts on the board (board_stats): what scores and what the board shows.

    A named tuple, not a dataclass: a 5,000-person board builds 5,000 of them, and a tuple is built
    in a third of the time."""

    person: Member
    interviews: int
    decider_interviews: int
    attempts: int
    first_attempts: int
    follow_ups: int
    later_attempts: int
    stories: int
    recruiter_steps: int
    score: int


def board_stats(
    session: Session, cohort: Cohort, *, since: date | None = None, as_of: datetime | None = None
) -> list[Standing]:
    """The board's numbers for every current participant, in join order: the same counts and score
    as participant_stats (tests/test_board_stats.py holds them equal), from a lighter statement."""
    params = {"cohort_id": cohort.id, "since": since, "as_of": as_of}
    out = []
    for (
        pid,
        ext,
        name,
        alias,
        mode,
        unreachable,
        attempts,
        first,
        fu,
        later,
        interviews,
        dec_interviews,
        stories,
        steps,
    ) in session.execute(_board_query(since is not None, as_of is not None), params):
        points = score(
            interviews=interviews,
            decider_interviews=dec_interviews,
            first_attempts=first,
            follow_ups=fu,
            later_attempts=later,
            stories=stories,
            recruiter_steps=steps,
        )
        out.append(
            Standing(
                Member(pid, ext, name, alias, mode, unreachable),
                interviews,
                dec_interviews,
                attempts,
                first,
                fu,
                later,
                stories,
                steps,
                points,
            )
        )
    return out


class _Rankable(Protocol):
    @property
    def score(self) -> int: ...
    @property
    def interviews(self) -> int: ...
    @property
    def follow_ups(self) -> int: ...


R = TypeVar("R", bound=_Rankable)


def ranked(stats: Sequence[R]) -> list[tuple[int, R]]:
    """Rank by score, then interviews, then follow-ups; ties share a rank and keep join order."""
    # Each score computed once (it was four times a person: a 1,000-person board spent 25 ms on it).
    keyed = [((s.score, s.interviews, s.follow_ups), s) for s in stats]
    keyed.sort(key=lambda ks: (-ks[0][0], -ks[0][1], -ks[0][2]))  # sort() is stable: ties keep join order
    out: list[tuple[int, R]] = []
    last: tuple[int, int, int] | None = None
    for i, (key, s) in enumerate(keyed):
        out.append((out[-1][0] if key == last else i + 1, s))
        last = key
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
        return (
            f"Take-up: {self.interviewed} of {self.size} ({round(100 * self.take_up)}%) did at least one "
            f"reverse interview, {self.vs_baseline:.1f}x the {round(BASELINE * 100)}% baseline (about 1 in 20)."
        )


def funnel(stats: list[ParticipantStats], goal: int) -> Funnel:
    return Funnel(
        size=len(stats),
        accepted=sum(s.accepted_at is not None for s in stats),
        reached_out=sum(s.attempts > 0 for s in stats),
        interviewed=sum(s.interviews > 0 for s in stats),
        goal_met=sum(s.interviews >= goal for s in stats),
    )


def attempts_before_reply(stats: list[ParticipantStats]) -> float | None:
    firsts = [a for s in stats for a in s.first_reply_attempts]
    return float(median(firsts)) if firsts else None
