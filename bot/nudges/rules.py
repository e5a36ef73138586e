"""When to nudge: plain functions of a person's state and the time.

Each rule takes a `ParticipantState` (or an `InstructorState`), the current moment and a `Policy`,
and yields `Candidate`s: (rule, subject, period) plus the UTC moment the DM falls due and, for
time-bound reasons, the moment it stops making sense. The planner inserts the candidates that fall
due soon; delivery runs the same rule again on fresh state at send time and drops the row when its
key is no longer produced — so anything the person did since planning cancels the nudge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bot.coaching import PERSISTENCE_ATTEMPTS
from bot.nudges.policy import Policy, local_at, local_date


@dataclass(frozen=True)
class Candidate:
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


@dataclass(frozen=True)
class ContactInfo:
    id: int
    name: str
    kind: str
    can_decide: bool
    created_at: datetime


@dataclass(frozen=True)
class OutreachInfo:
    id: int
    contact_id: int
    attempt_no: int
    sent_on: date
    status: str
    replied_on: date | None
    meeting_on: date | None


@dataclass(frozen=True)
class InterviewInfo:
    id: int
    contact_id: int
    held_on: date
    created_at: datetime


@dataclass(frozen=True)
class RecruiterInfo:
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

    @property
    def start_day(self) -> date:
        return local_date(self.dare.starts_at, self.tz)

    def interviews_in_dare(self) -> list[InterviewInfo]:
        start = self.start_day
        return [i for i in self.interviews if i.held_on >= start]

    def goal_met(self) -> bool:
        return len(self.interviews_in_dare()) >= self.dare.goal

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


# --- participant rules --------------------------------------------------------------------


def dare_issued(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    """The announcement (normally planned by `/dare start`); also reaches people who join later."""
    today = local_date(now, s.tz)
    if s.accepted_at is None and dare_running(s.dare, today):
        yield Candidate(s.person_id, "dare-issued", str(s.dare.id), "-", s.dare.starts_at)


def not_accepted(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    today = local_date(now, s.tz)
    if s.accepted_at is not None or not dare_running(s.dare, today):
        return
    for n, days in enumerate(p.accept_reminder_days, 1):
        due = local_at(s.start_day + timedelta(days=days), p.send_time, s.tz)
        yield Candidate(s.person_id, "not-accepted", str(s.dare.id), str(n), due)


def no_outreach(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    if s.accepted_at is None or s.outreaches or not dare_running(s.dare, local_date(now, s.tz)):
        return
    accepted = local_date(s.accepted_at, s.tz)
    for n in (1, 2):
        due = local_at(accepted + timedelta(days=n * p.stall_days), p.send_time, s.tz)
        yield Candidate(s.person_id, "no-outreach", str(s.dare.id), str(n), due)


def follow_up(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    """Attempts 2 and 3 after `followup_days` without an answer; after the third, try someone else."""
    if not dare_running(s.dare, local_date(now, s.tz), p.after_deadline_days):
        return
    for contact_id, last in s.latest_by_contact().items():
        if last.status != "no-reply" or s.interviewed(contact_id):
            continue
        due = local_at(last.sent_on + timedelta(days=p.followup_days), p.send_time, s.tz)
        if last.attempt_no < PERSISTENCE_ATTEMPTS:
            yield Candidate(s.person_id, "follow-up", str(contact_id), f"a{last.attempt_no + 1}", due)
        elif last.attempt_no == PERSISTENCE_ATTEMPTS:
            yield Candidate(s.person_id, "try-another", str(contact_id), "a3", due)


def meeting_prep(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    if not dare_running(s.dare, local_date(now, s.tz), p.after_deadline_days):
        return
    for o in s.outreaches:
        if o.status != "meeting" or o.meeting_on is None:
            continue
        if any(i.contact_id == o.contact_id and i.held_on >= o.sent_on for i in s.interviews):
            continue
        due = local_at(o.meeting_on - timedelta(days=1), p.send_time, s.tz)
        expires = local_at(o.meeting_on, time(12, 0), s.tz)
        yield Candidate(s.person_id, "meeting-prep", str(o.contact_id), o.meeting_on.isoformat(), due, expires)


def thank_you(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    if not dare_running(s.dare, local_date(now, s.tz), p.after_deadline_days):
        return
    for i in s.interviews:
        due = max(local_at(i.held_on, p.thank_you_time, s.tz), i.created_at)
        expires = local_at(i.held_on + timedelta(days=2), time(0, 0), s.tz)
        yield Candidate(s.person_id, "thank-you", str(i.id), "-", due, expires)


def close_loop(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    if not dare_running(s.dare, local_date(now, s.tz), p.after_deadline_days):
        return
    for i in s.interviews:
        due = local_at(i.held_on + timedelta(days=p.close_loop_days), p.send_time, s.tz)
        yield Candidate(s.person_id, "close-loop", str(i.id), "-", due)


def encourage(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    """People quit after a run of silence: once per `unanswered_run` unanswered attempts in a row."""
    if not dare_running(s.dare, local_date(now, s.tz), p.after_deadline_days):
        return
    run = 0
    for o in reversed(s.outreaches):
        if o.status != "no-reply":
            break
        run += 1
    if run == 0 or run % p.unanswered_run:
        return
    last = s.outreaches[-1]
    due = local_at(last.sent_on + timedelta(days=p.encourage_after_days), p.send_time, s.tz)
    yield Candidate(s.person_id, "encourage", str(last.id), "-", due)


def story_invite(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    if not dare_running(s.dare, local_date(now, s.tz), p.after_deadline_days):
        return
    done = s.interviews_in_dare()
    if not done or any(t >= s.dare.starts_at for t in s.story_times):
        return
    due = max(local_at(done[0].held_on + timedelta(days=p.story_after_days), p.send_time, s.tz), done[0].created_at)
    yield Candidate(s.person_id, "story-invite", str(s.dare.id), "-", due)


def deadline_near(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    d = s.dare.deadline
    if d is None or s.accepted_at is None or s.goal_met() or local_date(now, s.tz) > d:
        return
    due = local_at(d - timedelta(days=p.deadline_near_days), p.send_time, s.tz)
    yield Candidate(s.person_id, "deadline-near", str(s.dare.id), "-", due,
                    local_at(d + timedelta(days=1), time(0, 0), s.tz))


def gone_quiet(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    if s.accepted_at is None or not s.outreaches or s.goal_met():
        return
    if not dare_running(s.dare, local_date(now, s.tz)):
        return
    last = s.last_activity_day()
    due = local_at(last + timedelta(days=p.gone_quiet_days), p.send_time, s.tz)
    yield Candidate(s.person_id, "gone-quiet", str(s.dare.id), last.isoformat(), due)


def recruiter_revisit(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    """A recruiter told "no" is worth another look months later: no is not forever."""
    for c in s.recruiter_calls:
        if c.answer == "no":
            due = local_at(c.occurred_on + timedelta(days=p.recruiter_revisit_days), p.send_time, s.tz)
            yield Candidate(s.person_id, "recruiter-revisit", str(c.id), "-", due)


def _digest_mondays(now: datetime, tz: str, p: Policy) -> list[date]:
    today = local_date(now, tz)
    this = today - timedelta(days=(today.weekday() - p.digest_weekday) % 7)
    return [this, this + timedelta(days=7)]


def _week(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def digest(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    if s.accepted_at is None:
        return
    for day in _digest_mondays(now, s.tz, p):
        due = local_at(day, p.digest_time, s.tz)
        if due < s.dare.starts_at + timedelta(days=p.digest_first_after_days) or not dare_running(
                s.dare, day, p.digest_grace_days):
            continue
        yield Candidate(s.person_id, "digest", str(s.dare.id), _week(day), due, due + timedelta(days=1))


def instructor_digest(s: InstructorState, now: datetime, p: Policy) -> Iterator[Candidate]:
    for day in _digest_mondays(now, s.tz, p):
        due = local_at(day, p.digest_time, s.tz)
        if due < s.dare.starts_at + timedelta(days=p.digest_first_after_days) or not dare_running(
                s.dare, day, p.digest_grace_days):
            continue
        yield Candidate(s.person_id, "instructor-digest", str(s.dare.id), _week(day), due, due + timedelta(days=1))


ParticipantRule = Callable[[ParticipantState, datetime, Policy], Iterable[Candidate]]

PARTICIPANT_RULES: dict[str, ParticipantRule] = {
    "dare-issued": dare_issued,
    "not-accepted": not_accepted,
    "no-outreach": no_outreach,
    "follow-up": follow_up,
    "try-another": follow_up,
    "meeting-prep": meeting_prep,
    "thank-you": thank_you,
    "close-loop": close_loop,
    "encourage": encourage,
    "story-invite": story_invite,
    "deadline-near": deadline_near,
    "gone-quiet": gone_quiet,
    "recruiter-revisit": recruiter_revisit,
    "digest": digest,
}
INSTRUCTOR_RULES = {"instructor-digest": instructor_digest}
# Planned by an instructor's button, never by the sweep; the subject is the cohort's id.
WORD_RULE = "a-word"

# When several nudges wait for one person, the most time-critical goes first.
PRIORITY = {
    "dare-issued": 0,
    "meeting-prep": 1,
    "thank-you": 2,
    "instructor-digest": 3,
    "digest": 3,
    "deadline-near": 4,
    "follow-up": 5,
    "try-another": 5,
    "story-invite": 6,
    "not-accepted": 7,
    "no-outreach": 7,
    "encourage": 8,
    "close-loop": 9,
    "gone-quiet": 10,
    "recruiter-revisit": 11,
    WORD_RULE: 4,
}


def participant_candidates(s: ParticipantState, now: datetime, p: Policy) -> Iterator[Candidate]:
    seen: set[ParticipantRule] = set()
    for fn in PARTICIPANT_RULES.values():
        if fn in seen:
            continue
        seen.add(fn)
        yield from fn(s, now, p)


def still_valid(key: str, rule: str, states: Iterable[ParticipantState | InstructorState], now: datetime,
                base: Policy) -> ParticipantState | InstructorState | None:
    """At send time: the state whose rule still yields `key` (and has not expired), else None."""
    for s in states:
        candidates: Iterable[Candidate]
        if rule == WORD_RULE:
            # Still a participant of that cohort's running dare: the word goes out.
            if isinstance(s, ParticipantState) and str(s.dare.cohort_id) == key.split(":")[2]:
                return s
            continue
        if rule in INSTRUCTOR_RULES:
            if not isinstance(s, InstructorState):
                continue
            candidates = INSTRUCTOR_RULES[rule](s, now, base.for_dare(s.dare))
        else:
            if not isinstance(s, ParticipantState) or rule not in PARTICIPANT_RULES:
                continue
            candidates = PARTICIPANT_RULES[rule](s, now, base.for_dare(s.dare))
        for c in candidates:
            if c.key == key and c.rule == rule and (c.expires_at is None or now < c.expires_at):
                return s
    return None
