"""When to nudge: plain functions of a person's state and the time.

Each rule takes a `ParticipantState` (or an `InstructorState`), the current moment and a `Policy`,
and yields `Due`s: (subject, period) plus the UTC moment the DM falls due and, for time-bound
reasons, the moment it stops making sense; bot.nudges.catalog names them after the rule's
declaration. The planner inserts the candidates that fall due soon; delivery runs the same rule
again on fresh state at send time and drops the row when its key is no longer produced, so anything
the person did since planning cancels the nudge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, cast

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
    outreaches: list[OutreachInfo] = field(default_factory=list)  # sorted by (sent_on, id)
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

    def last_activity_day(self, start_day: date | None = None) -> date:
        """The last local day anything happened: the dare's start (`start_day`, when the caller has it),
        acceptance, a contact added, an attempt sent or answered, a talk, a story."""
        tz = self.tz
        last = self.start_day if start_day is None else start_day
        # (comparisons, not max(): a first sweep asks this of every person who accepted)
        if self.accepted_at is not None and (day := local_date(self.accepted_at, tz)) > last:
            last = day
        for c in self.contacts.values():
            if (day := local_date(c.created_at, tz)) > last:
                last = day
        for o in self.outreaches:
            if o.sent_on > last:
                last = o.sent_on
            if o.replied_on is not None and o.replied_on > last:
                last = o.replied_on
        for i in self.interviews:
            if i.held_on > last:
                last = i.held_on
        for t in self.story_times:
            if (day := local_date(t, tz)) > last:
                last = day
        return last


@dataclass
class InstructorState:
    person_id: int
    workspace_id: int
    tz: str
    dare: DareInfo


def dare_running(dare: DareInfo, today: date, grace_days: int = 0) -> bool:
    return dare.deadline is None or today <= dare.deadline + timedelta(days=grace_days)


_UNSET: Any = object()


class Clock:
    """What the rules ask of one dare on one zone's calendar at one moment, the same for every person
    who lives by that zone: today's date, whether the dare runs, and the Dues that depend on nothing
    personal (the acceptance reminders, the deadline's warning, the digest weeks, the final summary).

    A sweep makes one per (dare, zone) and hands it to every state of that pair (`catalog.dues`), so
    a campus of 100k people works these out a few hundred times instead of 100k. Each value is
    computed on first use and kept only once computed: an odd dare (a far-off date) raises inside the
    rule of the person who asked, as it did when each person worked it out alone."""

    __slots__ = (
        "dare",
        "tz",
        "now",
        "p",
        "subject",
        "today",
        "running",
        "_coaching",
        "_start_day",
        "_issued",
        "_accept",
        "_deadline",
        "_digests",
        "_instructor_digests",
        "_final",
    )

    def __init__(self, dare: DareInfo, tz: str, now: datetime, p: Policy) -> None:
        self.dare, self.tz, self.now, self.p = dare, tz, now, p
        self.subject = str(dare.id)
        self.today = local_date(now, tz)  # the zone's local date
        self.running = dare_running(dare, self.today)  # the dare runs today (no grace days)
        self._coaching = self._start_day = self._issued = self._accept = self._deadline = _UNSET
        self._digests = self._instructor_digests = self._final = _UNSET

    @property
    def coaching(self) -> bool:
        """Today is at most `after_deadline_days` past the deadline: thank-yous and stories still make sense."""
        if self._coaching is _UNSET:
            self._coaching = dare_running(self.dare, self.today, self.p.after_deadline_days)
        return cast(bool, self._coaching)

    @property
    def start_day(self) -> date:
        """The dare's first local day."""
        if self._start_day is _UNSET:
            self._start_day = local_date(self.dare.starts_at, self.tz)
        return cast(date, self._start_day)

    @property
    def issued(self) -> tuple[Due, ...]:
        """The announcement's Due, while the dare runs."""
        if self._issued is _UNSET:
            self._issued = (Due(self.subject, "-", self.dare.starts_at),) if self.running else ()
        return cast(tuple[Due, ...], self._issued)

    @property
    def accept_reminders(self) -> tuple[Due, ...]:
        """The reminders to accept, counted from the dare's first day."""
        if self._accept is _UNSET:
            p, tz, start = self.p, self.tz, self.start_day
            self._accept = tuple(
                Due(self.subject, str(n), local_at(start + timedelta(days=days), p.send_time, tz))
                for n, days in enumerate(p.accept_reminder_days, 1)
            )
        return cast(tuple[Due, ...], self._accept)

    @property
    def deadline_warning(self) -> tuple[Due, ...]:
        """A few days before the deadline, until it has passed (nothing for a dare without one)."""
        if self._deadline is _UNSET:
            d = self.dare.deadline
            if d is None or self.today > d:
                self._deadline = ()
            else:
                p, tz = self.p, self.tz
                due = local_at(d - timedelta(days=p.deadline_near_days), p.send_time, tz)
                self._deadline = (Due(self.subject, "-", due, local_at(d + timedelta(days=1), time(0, 0), tz)),)
        return cast(tuple[Due, ...], self._deadline)

    @property
    def digest_weeks(self) -> tuple[tuple[date | None, Due], ...]:
        """This week's and next week's participant digest, each with the day the person must have moved
        on or after to get it (None: the first digest goes to everyone who accepted)."""
        if self._digests is _UNSET:
            p, tz, dare = self.p, self.tz, self.dare
            first = _first_digest(dare.starts_at, tz, p.digest_first_after_days, p.digest_weekday, p.digest_time)
            weeks = []
            for day in _mondays(self.today, p.digest_weekday):
                due = local_at(day, p.digest_time, tz)
                if day < first or not dare_running(dare, day):
                    continue
                weeks.append(
                    (
                        day - timedelta(days=7) if day > first else None,
                        Due(self.subject, _week(day), due, due + timedelta(days=1)),
                    )
                )
            self._digests = tuple(weeks)
        return cast(tuple[tuple[date | None, Due], ...], self._digests)

    @property
    def instructor_digests(self) -> tuple[Due, ...]:
        if self._instructor_digests is _UNSET:
            p, tz, dare = self.p, self.tz, self.dare
            out = []
            first = _first_digest(dare.starts_at, tz, p.digest_first_after_days, p.digest_weekday, p.digest_time)
            for day in _mondays(self.today, p.digest_weekday):
                due = local_at(day, p.digest_time, tz)
                if day < first or not dare_running(dare, day):
                    continue
                out.append(Due(self.subject, _week(day), due, due + timedelta(days=1)))
            self._instructor_digests = tuple(out)
        return cast(tuple[Due, ...], self._instructor_digests)

    @property
    def final_summary(self) -> tuple[Due, ...]:
        """Once, the morning after the deadline."""
        if self._final is _UNSET:
            d = self.dare.deadline
            if d is None:
                self._final = ()
            else:
                due = local_at(d + timedelta(days=1), self.p.digest_time, self.tz)
                self._final = (Due(self.subject, "-", due, due + timedelta(days=7)),)
        return cast(tuple[Due, ...], self._final)


class Facts:
    """What several rules ask of one state at one moment, each worked out once.

    `catalog.dues` makes one per state and passes it to every rule, with the Clock of the state's
    (dare, zone) that a sweep shares between everyone on it; a rule called on its own makes its own.
    Each fact is computed on first use, so a state costs what the rules ask of it and nothing else is
    ever computed (the rules of one state fail together: see planner.candidates_for)."""

    __slots__ = (
        "s",
        "p",
        "now",
        "clock",
        "today",
        "running",
        "_goal_met",
        "_in_dare",
        "_latest",
        "_pairs",
        "_unanswered",
        "_unlogged",
        "_last",
    )

    def __init__(
        self, s: ParticipantState | InstructorState, now: datetime, p: Policy, clock: Clock | None = None
    ) -> None:
        self.s = s
        # The participant's own view, for the participant facts below (never asked of an instructor).
        self.p = cast(ParticipantState, s)
        self.now = now
        self.clock = clock = clock if clock is not None else Clock(s.dare, s.tz, now, p)
        self.today = clock.today  # the person's local date
        self.running = clock.running  # the dare runs today (no grace days)
        self._goal_met: bool | None = None
        self._in_dare: list[InterviewInfo] | None = None
        self._latest: dict[int, OutreachInfo] | None = None
        self._pairs: list[tuple[int, date]] | None = None
        self._unanswered: list[tuple[int, OutreachInfo, datetime]] | None = None
        self._unlogged: list[FullAttempt] | None = None
        self._last: date | None = None

    @property
    def interviews_in_dare(self) -> list[InterviewInfo]:
        """The talks held since the dare's first day (ParticipantState.interviews_in_dare)."""
        if self._in_dare is None:
            start = self.clock.start_day
            self._in_dare = [i for i in self.p.interviews if i.held_on >= start]
        return self._in_dare

    @property
    def goal_met(self) -> bool:
        if self._goal_met is None:
            self._goal_met = len(self.interviews_in_dare) >= self.p.goal
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
    def unanswered(self) -> list[tuple[int, OutreachInfo, datetime]]:
        """The ladder for silence (bot.coaching.ladder), while the dare runs and the goal is still open:
        (contact id, their latest attempt, when the next step falls due) for each contact whose latest
        attempt had no reply and who was never interviewed."""
        if self._unanswered is None:
            out: list[tuple[int, OutreachInfo, datetime]] = []
            s = self.p
            if self.running and not self.goal_met:
                met = {cid for cid, _ in self.interview_pairs}
                after = timedelta(days=self.clock.p.followup_days)
                at, tz = self.clock.p.send_time, s.tz
                for contact_id, last in self.latest.items():
                    if last.status == "no-reply" and contact_id not in met:
                        out.append((contact_id, last, local_at(last.sent_on + after, at, tz)))
            self._unanswered = out
        return self._unanswered

    @property
    def unlogged(self) -> list[FullAttempt]:
        """Booked meetings whose day has passed with nothing logged (bot.coaching.unlogged_meetings)."""
        if self._unlogged is None:
            self._unlogged = unlogged_meetings(self.p.outreaches, self.interview_pairs, self.today)
        return self._unlogged

    @property
    def last_activity_day(self) -> date:
        if self._last is None:
            self._last = self.p.last_activity_day(self.clock.start_day)
        return self._last


def situation(s: ParticipantState, now: datetime) -> Situation:
    """The coach's view of this state (bot.coaching.assess)."""
    return Situation(
        today=local_date(now, s.tz),
        accepted=s.accepted_at is not None,
        goal=s.goal,
        done=len(s.interviews_in_dare()),
        contacts=list(s.contacts.values()),
        attempts=s.outreaches,
        interviews=[(i.contact_id, i.held_on) for i in s.interviews],
        deadline=s.dare.deadline,
        followup_days=s.dare.followup_days,
        cohort_name=s.dare.cohort_name,
        stories=sum(1 for t in s.story_times if t >= s.dare.starts_at),
        reward=s.dare.reward,
        open_goal=True,
    )


# After the deadline only what is still worth doing goes out: a thank-you and the story.
# Every rule takes (state, now, policy) and, from catalog.dues, the state's Facts at `now`, and returns
# its Dues in a tuple or list (a first sweep calls each rule for every person: no generator to build).
_NONE: tuple[Due, ...] = ()


# --- participant rules --------------------------------------------------------------------


def dare_issued(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    """The announcement (normally planned by `/dare start`); also reaches people who join later."""
    if s.accepted_at is not None:
        return _NONE
    return (f or Facts(s, now, p)).clock.issued


def not_accepted(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    c = (f or Facts(s, now, p)).clock
    if s.accepted_at is not None or not c.running:
        return _NONE
    return c.accept_reminders


def no_outreach(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    f = f or Facts(s, now, p)
    if s.accepted_at is None or s.outreaches or f.goal_met or not f.running:
        return _NONE
    accepted = local_date(s.accepted_at, s.tz)
    subject = f.clock.subject
    return [
        Due(subject, str(n), local_at(accepted + timedelta(days=n * p.stall_days), p.send_time, s.tz)) for n in (1, 2)
    ]


def follow_up(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    """Attempts 2 and 3 after `followup_days` without an answer."""
    return [
        Due(str(contact_id), f"a{last.attempt_no + 1}", due)
        for contact_id, last, due in (f or Facts(s, now, p)).unanswered
        if last.attempt_no < PERSISTENCE_ATTEMPTS
    ]


def try_another(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    """After the third unanswered attempt, someone else."""
    return [
        Due(str(contact_id), "a3", due)
        for contact_id, last, due in (f or Facts(s, now, p)).unanswered
        if last.attempt_no == PERSISTENCE_ATTEMPTS
    ]


def meeting_prep(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    f = f or Facts(s, now, p)
    if not f.running:
        return _NONE
    out = []
    for o in s.outreaches:
        if o.status != "meeting" or o.meeting_on is None:
            continue
        if any(i.contact_id == o.contact_id and i.held_on >= o.sent_on for i in s.interviews):
            continue
        due = local_at(o.meeting_on - timedelta(days=1), p.send_time, s.tz)
        expires = local_at(o.meeting_on, time(12, 0), s.tz)
        out.append(Due(str(o.contact_id), o.meeting_on.isoformat(), due, expires))
    return out


def meeting_check(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    """The day after a booked meeting that nobody logged: did it happen?"""
    f = f or Facts(s, now, p)
    if not f.running or s.accepted_at is None:
        return _NONE
    out = []
    for o in f.unlogged:
        assert o.meeting_on is not None
        due = local_at(o.meeting_on + timedelta(days=1), p.send_time, s.tz)
        expires = local_at(o.meeting_on + timedelta(days=5), time(0, 0), s.tz)
        out.append(Due(str(o.contact_id), o.meeting_on.isoformat(), due, expires))
    return out


def thank_you(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    if not s.interviews or not (f or Facts(s, now, p)).clock.coaching:
        return _NONE
    # One reminder per day of talks, naming everyone met that day (two talks on one day once brought
    # two reminders on successive days); it keeps the first talk's key, as a lone talk always had.
    by_day: dict[date, list[InterviewInfo]] = {}
    for i in s.interviews:
        by_day.setdefault(i.held_on, []).append(i)
    out = []
    for held_on, talks in by_day.items():
        due = max(local_at(held_on, p.thank_you_time, s.tz), *(i.created_at for i in talks))
        expires = local_at(held_on + timedelta(days=2), time(0, 0), s.tz)
        out.append(Due(str(min(i.id for i in talks)), "-", due, expires))
    return out


def close_loop(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    if not s.interviews or not (f or Facts(s, now, p)).running:
        return _NONE
    return [
        Due(str(i.id), "-", local_at(i.held_on + timedelta(days=p.close_loop_days), p.send_time, s.tz))
        for i in s.interviews
    ]


def story_invite(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    if not s.interviews:
        return _NONE
    f = f or Facts(s, now, p)
    if not f.clock.coaching:
        return _NONE
    done = f.interviews_in_dare
    if not done or any(t >= s.dare.starts_at for t in s.story_times):
        return _NONE
    due = max(local_at(done[0].held_on + timedelta(days=p.story_after_days), p.send_time, s.tz), done[0].created_at)
    return (Due(f.clock.subject, "-", due),)


def deadline_near(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    if s.dare.deadline is None or s.accepted_at is None:
        return _NONE
    f = f or Facts(s, now, p)
    if f.goal_met:
        return _NONE
    return f.clock.deadline_warning


FRESH_START = "/again"  # the period suffix of the second "gone quiet" nudge


def gone_quiet(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    if s.accepted_at is None or not s.outreaches:
        return _NONE
    f = f or Facts(s, now, p)
    if f.goal_met:
        return _NONE
    if f.unlogged:
        return _NONE  # "did it happen?" covers it
    if not f.running:
        return _NONE
    last = f.last_activity_day
    subject, since = f.clock.subject, last.isoformat()
    due = local_at(last + timedelta(days=p.gone_quiet_days), p.send_time, s.tz)
    # Still nothing two weeks later: one more, worded as a fresh start (then silence until they move).
    later = local_at(last + timedelta(days=p.gone_quiet_days + 14), p.send_time, s.tz)
    return (Due(subject, since, due), Due(subject, since + FRESH_START, later))


def recruiter_revisit(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    """A recruiter told "no" is worth another look months later: no is not forever.

    About the person's career rather than the dare, so it outlives the deadline."""
    if not s.recruiter_calls:
        return _NONE
    return [
        Due(str(c.id), "-", local_at(c.occurred_on + timedelta(days=p.recruiter_revisit_days), p.send_time, s.tz))
        for c in s.recruiter_calls
        if c.answer == "no"
    ]


# Pure functions of a few plain values, asked with the same values for every (dare, zone) of a sweep.
@lru_cache(maxsize=4096)
def _mondays(today: date, weekday: int) -> tuple[date, date]:
    this = today - timedelta(days=(today.weekday() - weekday) % 7)
    return this, this + timedelta(days=7)


@lru_cache(maxsize=4096)
def _week(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


@lru_cache(maxsize=4096)
def _first_digest(starts_at: datetime, tz: str, after_days: int, weekday: int, at: time) -> date:
    """The first digest Monday: the dare's first days have nothing to report."""
    start = local_date(starts_at + timedelta(days=after_days), tz)
    day = start + timedelta(days=(weekday - start.weekday()) % 7)
    if local_at(day, at, tz) < starts_at + timedelta(days=after_days):
        day += timedelta(days=7)
    return day


def digest(s: ParticipantState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    """Weekly, while the dare runs, and only with something new since the last one (else nothing)."""
    if s.accepted_at is None:
        return _NONE
    f = f or Facts(s, now, p)
    weeks = f.clock.digest_weeks
    if not weeks:
        return _NONE
    last_move = f.last_activity_day
    return [due for since, due in weeks if since is None or last_move >= since]


def instructor_digest(s: InstructorState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    return (f or Facts(s, now, p)).clock.instructor_digests


def final_summary(s: InstructorState, now: datetime, p: Policy, f: Facts | None = None) -> Sequence[Due]:
    """Once, the morning after the deadline: how the dare went."""
    return (f or Facts(s, now, p)).clock.final_summary


# What a participant's state must have for a rule to yield anything; without it the rule yields nothing,
# and the sweep skips it (catalog.dues): a first sweep calls every rule for every person, and most people
# have one shape or two (not accepted yet; accepted with attempts under way). The flags of a state are
# `shape(s)`; a rule runs when all of its needs are there. A skipped rule works nothing out that could fail,
# except the ladder's (follow-up, try-another), which first ask whether the goal is met: no-outreach and
# not-accepted, which run instead for such a state, ask the same (tests/test_sweep_shapes.py).
ACCEPTED, NOT_ACCEPTED, OUTREACH, NO_OUTREACH, INTERVIEWS, CALLS = 1, 2, 4, 8, 16, 32
SHAPES = 64  # every combination of the flags above

NEEDS: dict[Any, int] = {
    dare_issued: NOT_ACCEPTED,
    not_accepted: NOT_ACCEPTED,
    no_outreach: ACCEPTED | NO_OUTREACH,
    follow_up: OUTREACH,  # (the ladder is made of the latest attempts)
    try_another: OUTREACH,
    meeting_prep: OUTREACH,
    meeting_check: ACCEPTED | OUTREACH,  # (unlogged meetings are attempts)
    thank_you: INTERVIEWS,
    close_loop: INTERVIEWS,
    story_invite: INTERVIEWS,
    deadline_near: ACCEPTED,
    digest: ACCEPTED,
    gone_quiet: ACCEPTED | OUTREACH,
    recruiter_revisit: CALLS,
}


def shape(s: ParticipantState) -> int:
    """The NEEDS flags this state has."""
    return (
        (ACCEPTED if s.accepted_at is not None else NOT_ACCEPTED)
        | (OUTREACH if s.outreaches else NO_OUTREACH)
        | (INTERVIEWS if s.interviews else 0)
        | (CALLS if s.recruiter_calls else 0)
    )


def event_matches(key: str, s: ParticipantState | InstructorState) -> bool:
    """A command-planned nudge (`person:rule:DARE:event`) belongs to the state of that dare."""
    parts = key.split(":")
    return len(parts) >= 4 and parts[0] == str(s.person_id) and parts[2] == str(s.dare.id)
