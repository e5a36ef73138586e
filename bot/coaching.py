"""The coach's substance: where a person stands, the one next step, the ladder for silence, the playbook.

`assess()` is the one place that decides a person's stage in a dare and the single most useful next
step; /dare progress, the App Home, the weekly digest and the nudges all read it, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

from bot.validate import typed

BASELINE = 0.05  # about 1 in 20 people told of the reverse interview ever try one
PERSISTENCE_ATTEMPTS = 3  # many busy people answer only on the third try

DARE_PITCH = (
    "Talk to someone who is where you'd love to be in a few years. Not a job interview: "
    "you ask the questions, they tell their story. Fifteen minutes is plenty."
)

DECIDER_TIP = (
    "Tip: aim for people who can decide: the one who can hire, not just anyone in the building. "
    "Mark them with --decides."
)

PERSISTENCE_TIP = (
    "No answer is normal. Busy people often reply only to the second or third message, "
    "so follow up a few days apart before you move on."
)

MOVE_ON_TIP = (
    "Three tries without an answer: time to line up someone else, ideally someone who can hire. "
    "You can still go back to this one later."
)

DECLINED_TIP = "A no is information, not a verdict. Thank them, and pick the next name on your list."

RECRUITER_STEPS: tuple[tuple[str, str], ...] = (
    ("qualify", "Qualify it: ask why the role is open and why they think you fit, before you decide anything."),
    ("answer", "Give a straight answer: yes, no, or 'not this, but...' so nobody's time is wasted."),
    ("connect", "Keep the connection: ask to stay in touch, e.g. on LinkedIn. Recruiters know everybody."),
    ("help", "Offer help: if it isn't for you, maybe it's for someone you know."),
)

NO_IS_NOT_FOREVER = (
    "A no today isn't a no forever: a recruiter you treated well may call again with the role you do want."
)

RECRUITER_SELLS = (
    "Remember that a recruiter is selling: the role, the company, the pay. Their job is to fill "
    "the seat; yours is to vet the role before you spend an interview on it."
)

RECRUITER_YES = (
    "You said yes, so make the next steps concrete: ask what happens next and when, say that your "
    "search is confidential if your employer doesn't know, ask whether the process involves travel, "
    "and ask for the full job description before the first interview."
)

RECRUITER_BETTER_NO = (
    "A better no says what would get a yes: \"Thanks for thinking of me. I'm not looking for "
    "this kind of role, but I'd consider one that ...\" Then ask to stay in touch. "
    "I'll remind you to check in again in a few months."
)


def recruiter_steps_done(
    asked: tuple[str, ...] | list[str], answer: str | None, connected: bool, referred: bool
) -> dict[str, bool]:
    """Which of the four playbook steps a recorded call covered."""
    return {"qualify": bool(asked), "answer": answer in ("yes", "no"), "connect": connected, "help": referred}


# Read-only members, so frozen dataclasses (the nudge planner's snapshots) fit as well as table rows.
class ContactLike(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def can_decide(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...


class AttemptLike(Protocol):
    @property
    def contact_id(self) -> int: ...
    @property
    def attempt_no(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def sent_on(self) -> date: ...


class FullAttempt(AttemptLike, Protocol):
    @property
    def channel(self) -> str: ...
    @property
    def meeting_on(self) -> date | None: ...


At = TypeVar("At", bound=AttemptLike)


def latest_attempts(attempts: Iterable[At]) -> dict[int, At]:
    """Each contact's most recent attempt."""
    latest: dict[int, At] = {}
    for a in attempts:
        cur = latest.get(a.contact_id)
        if cur is None or a.attempt_no > cur.attempt_no:
            latest[a.contact_id] = a
    return latest


def open_follow_ups(attempts: Iterable[At], interviewed: set[int]) -> list[At]:
    """Contacts still unanswered and short of the persistence norm, oldest attempt first."""
    open_ = [
        a
        for a in latest_attempts(attempts).values()
        if a.status == "no-reply" and a.attempt_no < PERSISTENCE_ATTEMPTS and a.contact_id not in interviewed
    ]
    return sorted(open_, key=lambda a: (a.sent_on, a.contact_id))


def fresh_target(
    contacts: Iterable[ContactLike], attempts: Iterable[AttemptLike], *, exclude: int | None = None
) -> ContactLike | None:
    """Someone not tried yet, a person who can decide first."""
    tried = {a.contact_id for a in attempts}
    fresh = [c for c in contacts if c.id not in tried and c.id != exclude]
    fresh.sort(key=lambda c: (not c.can_decide, c.created_at, c.id or 0))
    return fresh[0] if fresh else None


ADD_SOMEONE = 'Add someone new, ideally a person who can hire: /dare contact "FULL NAME" --decides'


def next_target_text(
    contacts: Iterable[ContactLike], attempts: Iterable[AttemptLike], *, exclude: int | None = None
) -> str:
    target = fresh_target(list(contacts), list(attempts), exclude=exclude)
    if target is None:
        return ADD_SOMEONE + "."
    why = " They can hire, which is even better." if target.can_decide else ""
    return f'Next on your list: {target.name}. Reach out, then record it: /dare outreach "{target.name}".{why}'


# --- the ladder for silence -----------------------------------------------------------------

OTHER_CHANNELS = ("phone", "in-person", "linkedin", "email")
_CHANNEL_WORDS = {
    "phone": "a phone call",
    "in-person": "a word in person (an event, their office, a talk they give)",
    "linkedin": "a LinkedIn message",
    "email": "an email",
    "other": "another way",
}


@dataclass(frozen=True)
class Rung:
    """One step of the escalation ladder: what to do, and a message the person can copy."""

    step: int  # 1: reassure and follow up; 2: another channel; 3: move on
    advice: str
    template: str


def other_channel(used: Iterable[str]) -> str:
    """A channel not used yet for this contact: the phone first, then in person."""
    seen = set(used)
    return next((c for c in OTHER_CHANNELS if c not in seen), "phone")


def ladder(
    name: str,
    unanswered: int,
    *,
    channels_used: Sequence[str],
    last_on: date,
    next_name: str | None = None,
    next_decides: bool = False,
) -> Rung:
    """Where silence from `name` after `unanswered` attempts leads, with a copyable message."""
    first = name.split()[0] if name.split() else name
    if unanswered <= 1:
        return Rung(
            1,
            (
                f"No answer from {name} since {last_on:%b %-d}. That's normal, not a no: busy people often "
                "reply only to the second or third message. Send a short follow-up today."
            ),
            f"Hi {first}, a quick follow-up on my note from {last_on:%b %-d}. I'd love 15 minutes to hear how "
            "you got where you are. Any day next week works for me, and a call is fine too.",
        )
    if unanswered == 2:
        channel = other_channel(channels_used)
        used = ", ".join(dict.fromkeys(_CHANNEL_WORDS.get(c, c) for c in channels_used)) or "one channel"
        return Rung(
            2,
            (
                f"Two messages to {name}, no answer yet. Try a different way in: so far you've used "
                f"{used}; this time try {_CHANNEL_WORDS.get(channel, channel)}."
            ),
            f"Hi {first}, I wrote a couple of times and thought I'd try this way instead. I'm working toward "
            "a role like yours and would value 15 minutes of your advice. Would a short call this week or "
            "next suit you?",
        )
    target = (
        f"{next_name}{', who can hire,' if next_decides else ''}"
        if next_name
        else "someone new, ideally a person who can hire"
    )
    return Rung(
        3,
        (
            f"Three tries with {name}: time to move on to {target}. Leave the door open; you can come back "
            "to them later."
        ),
        f"Hi {(next_name or 'NAME').split()[0]}, I'm working toward a role like yours and I'd value 15 "
        "minutes of your advice on how you got there. Would a short call next week suit you?",
    )


# --- where a person stands ------------------------------------------------------------------


class Stage(StrEnum):
    NOT_ACCEPTED = "not accepted"
    NO_CONTACT = "accepted, nobody contacted yet"
    READY = "ready for the next one"
    WAITING = "waiting on a reply"
    REPLIED = "answered, no date yet"
    MEETING_BOOKED = "meeting booked"
    MEETING_PASSED = "meeting passed, not logged"
    GOAL_MET = "goal met"
    DARE_OVER = "dare over"


@dataclass(frozen=True)
class Situation:
    """Everything the coach looks at for one person in one dare, on their own calendar."""

    today: date
    accepted: bool
    goal: int
    done: int  # interviews in this dare
    contacts: Sequence[ContactLike]
    attempts: Sequence[FullAttempt]
    interviews: Sequence[tuple[int, date]]  # (contact id, held on), all of them
    deadline: date | None = None
    closed: bool = False
    followup_days: int = 4
    cohort_name: str = ""
    stories: int = 0
    reward: str | None = None
    open_goal: bool = False  # they may raise their own goal (/dare settings goal N)

    @property
    def interviewed(self) -> set[int]:
        return {cid for cid, _ in self.interviews}

    @property
    def over(self) -> bool:
        return dare_over(self.deadline, self.closed, self.today)


@dataclass(frozen=True)
class Assessment:
    stage: Stage
    step: str  # the single most useful next step
    template: str | None = None  # a message they can copy, when the step is to write one
    contact_id: int | None = None
    extras: tuple[str, ...] = field(default_factory=tuple)


def dare_over(deadline: date | None, closed: bool, today: date) -> bool:
    """The dare is over once its cohort is closed or the day after its deadline has begun (local dates)."""
    return closed or (deadline is not None and today > deadline)


def days_left_text(deadline: date, today: date) -> str:
    """Never negative, never "0 days left" once the day has passed."""
    left = (deadline - today).days
    if left < 0:
        return f"{deadline.isoformat()} (passed)"
    if left == 0:
        return f"{deadline.isoformat()} (today is the last day)"
    return f"{deadline.isoformat()} ({left} day{'s' if left != 1 else ''} left)"


def unlogged_meetings(
    attempts: Iterable[FullAttempt], interviews: Iterable[tuple[int, date]], today: date
) -> list[FullAttempt]:
    """Booked meetings whose day has passed with no interview logged for them."""
    ivs = list(interviews)
    return sorted(
        (
            a
            for a in attempts
            if a.status == "meeting"
            and a.meeting_on is not None
            and a.meeting_on < today
            and not any(cid == a.contact_id and held >= a.sent_on for cid, held in ivs)
        ),
        key=lambda a: a.meeting_on or today,
    )


def upcoming_meetings(
    attempts: Iterable[FullAttempt], interviews: Iterable[tuple[int, date]], today: date
) -> list[FullAttempt]:
    ivs = list(interviews)
    return sorted(
        (
            a
            for a in attempts
            if a.status == "meeting"
            and a.meeting_on is not None
            and a.meeting_on >= today
            and not any(cid == a.contact_id and held >= a.sent_on for cid, held in ivs)
        ),
        key=lambda a: a.meeting_on or today,
    )


def day_word(day: date, today: date) -> str:
    """A day as the person would say it on their own calendar."""
    if day == today:
        return "today"
    if day == today + timedelta(days=1):
        return "tomorrow"
    if today < day < today + timedelta(days=7):
        return f"on {day:%A}"
    return f"on {day:%b %-d}"


def _channels(attempts: Iterable[FullAttempt], contact_id: int) -> list[str]:
    return [a.channel for a in sorted(attempts, key=lambda a: a.attempt_no) if a.contact_id == contact_id]


def rung_for(sit: Situation, last: FullAttempt) -> Rung:
    """The ladder's rung for a contact whose latest attempt is unanswered."""
    names = {c.id: c.name for c in sit.contacts}
    target = fresh_target(sit.contacts, sit.attempts, exclude=last.contact_id)
    return ladder(
        names.get(last.contact_id, "your contact"),
        last.attempt_no,
        channels_used=_channels(sit.attempts, last.contact_id),
        last_on=last.sent_on,
        next_name=target.name if target else None,
        next_decides=bool(target and target.can_decide),
    )


def assess(sit: Situation) -> Assessment:
    """The person's stage and the one next step, in priority order."""
    names = {c.id: c.name for c in sit.contacts}
    if sit.over:
        if sit.done or sit.interviews:
            return Assessment(
                Stage.DARE_OVER,
                "The dare is over. What's left is worth doing: thank the people you "
                "talked to, and share your story with /dare story TEXT.",
            )
        return Assessment(
            Stage.DARE_OVER, "The dare is over. The questions still work whenever you're ready: /dare questions."
        )
    if not sit.accepted:
        name = f" {typed(sit.cohort_name)}" if sit.cohort_name else ""
        return Assessment(
            Stage.NOT_ACCEPTED, f"Take the dare: /dare accept{name}. One short conversation is all it takes to start."
        )
    passed = unlogged_meetings(sit.attempts, sit.interviews, sit.today)
    if passed:
        a = passed[0]
        n = names.get(a.contact_id, "your contact")
        return Assessment(
            Stage.MEETING_PASSED,
            (
                f'Did your talk with {n} on {a.meeting_on:%b %-d} happen? Log it: /dare log "{n}" --on '
                f'{a.meeting_on}. If it moved: /dare reply "{n}" --meeting DATE.'
            ),
            contact_id=a.contact_id,
        )
    if sit.done >= sit.goal:
        if sit.stories == 0:
            reward = f" (it earns {sit.reward})" if sit.reward else ""
            step = f"You met your goal. Share your story with the cohort{reward}: /dare story TEXT."
        else:
            step = (
                "You met your goal. Keep the connections warm: thank the people you talked to, and tell them "
                "later what you did with their advice."
            )
        if sit.open_goal:
            step += f" Want to go further? Raise your own goal: /dare settings goal {sit.goal + 1}."
        return Assessment(Stage.GOAL_MET, step)
    upcoming = upcoming_meetings(sit.attempts, sit.interviews, sit.today)
    if upcoming:
        a = upcoming[0]
        n = names.get(a.contact_id, "your contact")
        assert a.meeting_on is not None
        return Assessment(
            Stage.MEETING_BOOKED,
            (
                f"Your talk with {n} is {day_word(a.meeting_on, sit.today)}. Pick three questions (/dare questions), "
                f'and afterwards log it: /dare log "{n}".'
            ),
            contact_id=a.contact_id,
        )
    latest = latest_attempts(sit.attempts)
    replied = [a for a in latest.values() if a.status == "replied" and a.contact_id not in sit.interviewed]
    if replied:
        n = names.get(replied[0].contact_id, "your contact")
        return Assessment(
            Stage.REPLIED,
            (f'{n} answered: ask for 15 minutes and record the day with /dare reply "{n}" --meeting DATE.'),
            contact_id=replied[0].contact_id,
        )
    waiting = [a for a in latest.values() if a.status == "no-reply" and a.contact_id not in sit.interviewed]
    due = sorted(
        (
            a
            for a in waiting
            if a.attempt_no <= PERSISTENCE_ATTEMPTS and a.sent_on + timedelta(days=sit.followup_days) <= sit.today
        ),
        key=lambda a: (a.sent_on, a.contact_id),
    )
    if due:
        rung = rung_for(sit, due[0])
        return Assessment(Stage.WAITING, rung.advice, rung.template, due[0].contact_id)
    target = fresh_target(sit.contacts, sit.attempts)
    if target is not None:
        return Assessment(
            Stage.WAITING if waiting else (Stage.READY if sit.done or sit.attempts else Stage.NO_CONTACT),
            next_target_text(sit.contacts, sit.attempts),
        )
    open_ = sorted((a for a in waiting if a.attempt_no < PERSISTENCE_ATTEMPTS), key=lambda a: (a.sent_on, a.contact_id))
    if open_:
        a = open_[0]
        when = a.sent_on + timedelta(days=sit.followup_days)
        return Assessment(
            Stage.WAITING,
            (
                f"Waiting on {names.get(a.contact_id, 'your contact')}: silence is normal for a few days. "
                f"Follow up {day_word(when, sit.today)} if there's no answer. "
                f"Meanwhile: {ADD_SOMEONE[0].lower()}{ADD_SOMEONE[1:]}."
            ),
            contact_id=a.contact_id,
        )
    idle = Stage.READY if sit.done or sit.attempts else Stage.NO_CONTACT
    if not sit.contacts:
        return Assessment(
            idle,
            "Name one person who is where you want to be in a few years: /dare "
            'contact "FULL NAME" --title T --org O (add --decides if they can hire).',
        )
    return Assessment(idle, ADD_SOMEONE + ".")


def next_step(
    contacts: Sequence[ContactLike],
    attempts: Sequence[AttemptLike],
    interviewed: set[int],
    *,
    today: date,
    followup_days: int,
) -> str:
    """The next step outside any dare (no goal to meet): the same rules as `assess`."""
    sit = Situation(
        today=today,
        accepted=True,
        goal=10**6,
        done=0,
        contacts=contacts,
        attempts=[_Attempt.of(a) for a in attempts],
        interviews=[(cid, today) for cid in interviewed],
        followup_days=followup_days,
    )
    return assess(sit).step


@dataclass(frozen=True)
class _Attempt:
    contact_id: int
    attempt_no: int
    status: str
    sent_on: date
    channel: str = "email"
    meeting_on: date | None = None

    @classmethod
    def of(cls, a: AttemptLike) -> _Attempt:
        return cls(
            a.contact_id,
            a.attempt_no,
            a.status,
            a.sent_on,
            getattr(a, "channel", "email"),
            getattr(a, "meeting_on", None),
        )
