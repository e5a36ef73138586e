"""When to nudge: plain functions of a person's state and the time.

Each rule takes a `ParticipantState` (or an `InstructorState`), the current moment and a `Policy`,
and yields `Due`s: (subject, period) plus the UTC moment the DM falls due and, for time-bound
reasons, the moment it stops making sense; bot.nudges.catalog names them after the rule's
declaration. The planner inserts the candidates that fall due soon; delivery runs the same rule
again on fresh state at send time and drops the row when its key is no longer produced, so anything
the person did since planning cancels the nudge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

from bot.coaching import PERSISTENCE_ATTEMPTS, FullAttempt, Situation, unlogged_meetings
from bot.nudges.policy import Policy, local_at, local_date


# Due, Candidate and the row snapshots are NamedTuples, not frozen dataclasses: a first sweep builds
# hundreds of thousands of them, and a tuple is built several times faster (same fields, same reads).
class Due(NamedTuple):
    """What a rule yields: the nudge's subject and period, when it falls due and when it stops making sense.

    The rule's name is added from its declaration (bot.nudges.catalog)."""

    subject: str
    period: str
    due_at: datetime
    expires_at: datetime | None = None


class Candidate(NamedTuple):
    person_id: int
    rule: str
    subject: str
    period: str
    due_at: datetime
    expires_at: datetime | None = None

    @property
    def key(self) -> str:
        return nudge_key(self.person_id, self.rule, self.subject, self.period)


def nudge_key(person_id: int, rule: str, subject: object, period: str = "-") -> str:
    return f"{person_id}:{rule}:{subject}:{period}"


# --- state snapshots (plain data, loaded by bot.nudges.planner.load_states) -----------------


@dataclass(frozen=True)
class DareInfo:
    id: int
    cohort_id: int
    cohort_name: str
    goal: int
    starts_at: datetime
    deadline: date | None
    reward: str | None
    followup_days: int
    stall_days: int
    daily_cap: int
    weekly_cap: int


class ContactInfo(NamedTuple):
    id: int
    name: str
    kind: str
    can_decide: bool
    created_at: datetime


class OutreachInfo(NamedTuple):
    id: int
    contact_id: int
    attempt_no: int
    sent_on: date
    status: str
    replied_on: date | None
    meeting_on: date | None
    channel: str = "email"


class InterviewInfo(NamedTuple):
    id: int
    contact_id: int
    held_on: date
    created_at: datetime
    asked: str = ""  # question ids, comma-separated


class RecruiterInfo(NamedTuple):
    id: int
    company: str
    answer: str | None
    occurred_on: date


@dataclass
class ParticipantState:
    """One participant of one running dare, with everything the rules look at."""

    person_id: int
    workspace_id: int
    tz: str
    dare: DareInfo
    accepted_at: datetime | None = None
    contacts: dict[int, ContactInfo] = field(default_factory=dict)
    outreaches: list[OutreachInfo] = field(default_factory=list)   # sorted by (sent_on, id)
    interviews: list[InterviewInfo] = field(default_factory=list)  # sorted by (held_on, id)
    story_times: list[datetime] = field(default_factory=list)
    recruiter_calls: list[RecruiterInfo] = field(default_factory=list)
    aim: str | None = None  # job | growth | business (/dare settings aim)
    own_goal: int | None = None  # a goal the person raised for themselves (/dare settings goal)

    @property
    def goal(self) -> int:
        return max(self.dare.goal, self.own_goal or 0)

    @property
    def start_day(self) -> date:
        return local_date(self.dare.starts_at, self.tz)

    def interviews_in_dare(self) -> list[InterviewInfo]:
        start = self.start_day
        return [i for i in self.interviews if i.held_on >= start]

    def goal_met(self) -> bool:
        return len(self.interviews_in_dare()) >= self.goal

    def interviewed(self, contact_id: int) -> bool:
        return any(i.contact_id == contact_id for i in self.interviews)

    def latest_by_contact(self) -> dict[int, OutreachInfo]:
        latest: dict[int, OutreachInfo] = {}
        for o in self.outreaches:
            cur = latest.get(o.contact_id)
            if cur is None or o.attempt_no > cur.attempt_no:
                latest[o.contact_id] = o
        return latest

    def last_activity_day(self) -> date:
        days = [self.start_day]
        if self.accepted_at is not None:
            days.append(local_date(self.accepted_at, self.tz))
        days += [local_date(c.created_at, self.tz) for c in self.contacts.values()]
        for o in self.outreaches:
            days.append(o.sent_on)
            if o.replied_on:
                days.append(o.replied_on)
        days += [i.held_on for i in self.interviews]
        days += [local_date(t, self.tz) for t in self.story_times]
        return max(days)


@dataclass
class InstructorState:
    person_id: int
    workspace_id: int
    tz: str
    dare: DareInfo


def dare_running(dare: DareInfo, today: date, grace_days: int = 0) -> bool:
    return dare.deadline is None or today <= dare.deadline + timedelta(days=grace_days)


class Facts:
    """What several rules ask of one state at one moment, each worked out once.

    `catalog.candidates` makes one per state and passes it to every rule; a rule called on its own
    makes its own. Each fact is computed on first use, so a state costs what the rules ask of it and
    nothing else is ever computed (the rules of one state fail together: see planner.candidates_for)."""

    __slots__ = ("s", "now", "_today", "_running", "_goal_met", "_latest", "_pairs", "_unlogged", "_last")

    def __init__(self, s: ParticipantState | InstructorState, now: datetime) -> None:
        self.s = s
        self.now = now
        self._today: date | None = None
        self._running: bool | None = None
        self._goal_met: bool | None = None
        self._latest: dict[int, OutreachInfo] | None = None
        self._pairs: list[tuple[int, date]] | None = None
        self._unlogged: list[FullAttempt] | None = None
        self._last: date | None = None

    @property
    def p(self) -> ParticipantState:
        assert isinstance(self.s, ParticipantState)
        return self.s

    @property
    def today(self) -> date:
        """The person's local date."""
        if self._today is None:
            self._today = local_date(self.now, self.s.tz)
        return self._today

    @property
    def running(self) -> bool:
        """The dare runs today (no grace days)."""
        if self._running is None:
            self._running = dare_running(self.s.dare, self.today)
        return self._running

    @property
    def goal_met(self) -> bool:
        if self._goal_met is None:
            self._goal_met = self.p.goal_met()
        return self._goal_met

    @property
    def latest(self) -> dict[int, OutreachInfo]:
        if self._latest is None:
            self._latest = self.p.latest_by_contact()
        return self._latest

    @property
    def interview_pairs(self) -> list[tuple[int, date]]:
        """(contact id, held on) of every interview."""
        if self._pairs is None:
            self._pairs = [(i.contact_id, i.held_on) for i in self.p.interviews]
        return self._pairs

    @property
    def unlogged(self) -> list[FullAttempt]:
        """Booked meetings whose day has passed with nothing logged (bot.coaching.unlogged_meetings)."""
        if self._unlogged is None:
            self._unlogged = unlogged_meetings(self.p.outreaches, self.interview_pairs, self.today)
        return self._unlogged

    @property
    def last_activity_day(self) -> date:
        if self._last is None:
            self._last = self.p.last_activity_day()
        return self._last


def situation(s: ParticipantState, now: datetime) -> Situation:
    """The coach's view of this state (bot.coaching.assess)."""
    return Situation(
        today=local_date(now, s.tz), accepted=s.accepted_at is not None, goal=s.goal,
        done=len(s.interviews_in_dare()), contacts=list(s.contacts.values()), attempts=s.outreaches,
        interviews=[(i.contact_id, i.held_on) for i in s.interviews], deadline=s.dare.deadline,
        followup_days=s.dare.followup_days, cohort_name=s.dare.cohort_name,
        stories=sum(1 for t in s.story_times if t >= s.dare.starts_at), reward=s.dare.reward, open_goal=True,
    )


# After the deadline only what is still worth doing goes out: a thank-you and the story.
# Every rule takes (state, now, policy) and, from catalog.candidates, the state's Facts at `now`.


# --- participant rules --------------------------------------------------------------------


def dare_issued(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    """The announcement (normally planned by `/dare start`); also reaches people who join later."""
    f = f or Facts(s, now)
    if s.accepted_at is None and f.running:
        yield Due(str(s.dare.id), "-", s.dare.starts_at)


def not_accepted(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    f = f or Facts(s, now)
    if s.accepted_at is not None or not f.running:
        return
    for n, days in enumerate(p.accept_reminder_days, 1):
        due = local_at(s.start_day + timedelta(days=days), p.send_time, s.tz)
        yield Due(str(s.dare.id), str(n), due)


def no_outreach(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    f = f or Facts(s, now)
    if s.accepted_at is None or s.outreaches or f.goal_met or not f.running:
        return
    accepted = local_date(s.accepted_at, s.tz)
    for n in (1, 2):
        due = local_at(accepted + timedelta(days=n * p.stall_days), p.send_time, s.tz)
        yield Due(str(s.dare.id), str(n), due)


def _unanswered(s: ParticipantState, now: datetime, p: Policy,
                f: Facts) -> Iterator[tuple[int, OutreachInfo, datetime]]:
    """The ladder for silence (bot.coaching.ladder): while the dare runs and the goal is still open."""
    if not f.running or f.goal_met:
        return
    for contact_id, last in f.latest.items():
        if last.status != "no-reply" or s.interviewed(contact_id):
            continue
        yield contact_id, last, local_at(last.sent_on + timedelta(days=p.followup_days), p.send_time, s.tz)


def follow_up(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    """Attempts 2 and 3 after `followup_days` without an answer."""
    for contact_id, last, due in _unanswered(s, now, p, f or Facts(s, now)):
        if last.attempt_no < PERSISTENCE_ATTEMPTS:
            yield Due(str(contact_id), f"a{last.attempt_no + 1}", due)


def try_another(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    """After the third unanswered attempt, someone else."""
    for contact_id, last, due in _unanswered(s, now, p, f or Facts(s, now)):
        if last.attempt_no == PERSISTENCE_ATTEMPTS:
            yield Due(str(contact_id), "a3", due)


def meeting_prep(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    f = f or Facts(s, now)
    if not f.running:
        return
    for o in s.outreaches:
        if o.status != "meeting" or o.meeting_on is None:
            continue
        if any(i.contact_id == o.contact_id and i.held_on >= o.sent_on for i in s.interviews):
            continue
        due = local_at(o.meeting_on - timedelta(days=1), p.send_time, s.tz)
        expires = local_at(o.meeting_on, time(12, 0), s.tz)
        yield Due(str(o.contact_id), o.meeting_on.isoformat(), due, expires)


def meeting_check(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    """The day after a booked meeting that nobody logged: did it happen?"""
    f = f or Facts(s, now)
    if not f.running or s.accepted_at is None:
        return
    for o in f.unlogged:
        assert o.meeting_on is not None
        due = local_at(o.meeting_on + timedelta(days=1), p.send_time, s.tz)
        expires = local_at(o.meeting_on + timedelta(days=5), time(0, 0), s.tz)
        yield Due(str(o.contact_id), o.meeting_on.isoformat(), due, expires)


def thank_you(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    f = f or Facts(s, now)
    if not dare_running(s.dare, f.today, p.after_deadline_days):
        return
    # One reminder per day of talks, naming everyone met that day (two talks on one day once brought
    # two reminders on successive days); it keeps the first talk's key, as a lone talk always had.
    by_day: dict[date, list[InterviewInfo]] = {}
    for i in s.interviews:
        by_day.setdefault(i.held_on, []).append(i)
    for held_on, talks in by_day.items():
        due = max(local_at(held_on, p.thank_you_time, s.tz), *(i.created_at for i in talks))
        expires = local_at(held_on + timedelta(days=2), time(0, 0), s.tz)
        yield Due(str(min(i.id for i in talks)), "-", due, expires)


def close_loop(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    f = f or Facts(s, now)
    if not f.running:
        return
    for i in s.interviews:
        due = local_at(i.held_on + timedelta(days=p.close_loop_days), p.send_time, s.tz)
        yield Due(str(i.id), "-", due)


def story_invite(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    f = f or Facts(s, now)
    if not dare_running(s.dare, f.today, p.after_deadline_days):
        return
    done = s.interviews_in_dare()
    if not done or any(t >= s.dare.starts_at for t in s.story_times):
        return
    due = max(local_at(done[0].held_on + timedelta(days=p.story_after_days), p.send_time, s.tz), done[0].created_at)
    yield Due(str(s.dare.id), "-", due)


def deadline_near(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    f = f or Facts(s, now)
    d = s.dare.deadline
    if d is None or s.accepted_at is None or f.goal_met or f.today > d:
        return
    due = local_at(d - timedelta(days=p.deadline_near_days), p.send_time, s.tz)
    yield Due(str(s.dare.id), "-", due, local_at(d + timedelta(days=1), time(0, 0), s.tz))


FRESH_START = "/again"  # the period suffix of the second "gone quiet" nudge


def gone_quiet(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    f = f or Facts(s, now)
    if s.accepted_at is None or not s.outreaches or f.goal_met:
        return
    if f.unlogged:
        return  # "did it happen?" covers it
    if not f.running:
        return
    last = f.last_activity_day
    due = local_at(last + timedelta(days=p.gone_quiet_days), p.send_time, s.tz)
    yield Due(str(s.dare.id), last.isoformat(), due)
    # Still nothing two weeks later: one more, worded as a fresh start (then silence until they move).
    later = local_at(last + timedelta(days=p.gone_quiet_days + 14), p.send_time, s.tz)
    yield Due(str(s.dare.id), last.isoformat() + FRESH_START, later)


def recruiter_revisit(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    """A recruiter told "no" is worth another look months later: no is not forever.

    About the person's career rather than the dare, so it outlives the deadline."""
    for c in s.recruiter_calls:
        if c.answer == "no":
            due = local_at(c.occurred_on + timedelta(days=p.recruiter_revisit_days), p.send_time, s.tz)
            yield Due(str(c.id), "-", due)


# Pure functions of a few plain values, asked with the same values for thousands of people in a sweep.
@lru_cache(maxsize=4096)
def _mondays(today: date, weekday: int) -> tuple[date, date]:
    this = today - timedelta(days=(today.weekday() - weekday) % 7)
    return this, this + timedelta(days=7)


def _digest_mondays(now: datetime, tz: str, p: Policy) -> tuple[date, date]:
    return _mondays(local_date(now, tz), p.digest_weekday)


@lru_cache(maxsize=4096)
def _week(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


@lru_cache(maxsize=4096)
def _first_digest(starts_at: datetime, tz: str, after_days: int, weekday: int, at: time) -> date:
    start = local_date(starts_at + timedelta(days=after_days), tz)
    day = start + timedelta(days=(weekday - start.weekday()) % 7)
    if local_at(day, at, tz) < starts_at + timedelta(days=after_days):
        day += timedelta(days=7)
    return day


def _first_digest_day(s: ParticipantState | InstructorState, p: Policy) -> date:
    """The first digest Monday: the dare's first days have nothing to report."""
    return _first_digest(s.dare.starts_at, s.tz, p.digest_first_after_days, p.digest_weekday, p.digest_time)


def digest(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    """Weekly, while the dare runs, and only with something new since the last one (else nothing)."""
    if s.accepted_at is None:
        return
    f = f or Facts(s, now)
    first = _first_digest_day(s, p)
    last_move = f.last_activity_day
    for day in _digest_mondays(now, s.tz, p):
        due = local_at(day, p.digest_time, s.tz)
        if day < first or not dare_running(s.dare, day):
            continue
        if day > first and last_move < day - timedelta(days=7):
            continue  # nothing happened since the previous digest
        yield Due(str(s.dare.id), _week(day), due, due + timedelta(days=1))


def instructor_digest(s: InstructorState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    for day in _digest_mondays(now, s.tz, p):
        due = local_at(day, p.digest_time, s.tz)
        if day < _first_digest_day(s, p) or not dare_running(s.dare, day):
            continue
        yield Due(str(s.dare.id), _week(day), due, due + timedelta(days=1))


def final_summary(s: InstructorState, now: datetime, p: Policy, f: Facts | None = None) -> Iterator[Due]:
    """Once, the morning after the deadline: how the dare went."""
    if s.dare.deadline is None:
        return
    due = local_at(s.dare.deadline + timedelta(days=1), p.digest_time, s.tz)
    yield Due(str(s.dare.id), "-", due, due + timedelta(days=7))



def event_matches(key: str, s: ParticipantState | InstructorState) -> bool:
    """A command-planned nudge (`person:rule:DARE:event`) belongs to the state of that dare."""
    parts = key.split(":")
    return len(parts) >= 4 and parts[0] == str(s.person_id) and parts[2] == str(s.dare.id)
