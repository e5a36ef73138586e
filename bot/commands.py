"""Every /dare subcommand as a typed value.

The text parser (bot.grammar), Slack/Discord modals (bot.forms) and Discord's app-command options all
build these; validation lives in `__post_init__`, so every path checks input the same way. Dates
stay as the user typed them (`today`, `2026-12-01`) and are resolved by the engine in the
person's own time zone.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import UsageError
from bot.validate import NAME_MAX, NOTE_MAX, SHORT_MAX, STORY_MAX, clean_text

CONTACT_KINDS = ("future-self", "decision-maker", "business", "recruiter")
CHANNELS = ("email", "linkedin", "phone", "in-person", "other")
OUTCOMES = ("advice", "connection", "referral", "job-lead", "job-offer", "business-proposal")
CONSENTS = ("cohort", "anonymous", "instructor")
ASKED = ("why-open", "why-me", "role-type")
ANSWERS = ("yes", "no", "later")
BOARD_MODES = ("named", "alias", "hidden")
GOAL_MAX = 50


def _choice(value: str | None, allowed: tuple[str, ...], what: str, field: str | None = None) -> str | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v not in allowed:
        raise UsageError(f"{what} must be one of: {', '.join(allowed)} (got '{value[:40]}').", field=field)
    return v


def _goal(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= GOAL_MAX:
        raise UsageError(f"The goal must be between 1 and {GOAL_MAX} interviews.", field="goal")
    return value


@dataclass(frozen=True)
class UserRef:
    """A person named in a command: a platform user id, and a name when the platform gave one."""

    user_id: str
    name_hint: str = ""


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True)
class CohortCreate:
    name: str
    goal: int | None = None
    deadline: str | None = None
    tz: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean_text(self.name, what="The cohort name", max_len=NAME_MAX, field="name"))
        _goal(self.goal)


@dataclass(frozen=True)
class CohortJoin:
    name: str | None = None


@dataclass(frozen=True)
class CohortInstructor:
    name: str | None
    user: UserRef


@dataclass(frozen=True)
class CohortPause:
    """Pause (or, with resume=True, resume) every nudge for a cohort."""

    name: str | None = None
    until: str | None = None
    resume: bool = False


@dataclass(frozen=True)
class CohortQuiet:
    """Mark a quiet week (exams, a break): no participant nudges between the two dates."""

    name: str | None = None
    start: str | None = None
    end: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "note", clean_text(self.note, what="The note", max_len=SHORT_MAX, required=False))


@dataclass(frozen=True)
class Start:
    name: str | None = None
    goal: int | None = None
    deadline: str | None = None
    reward: str | None = None
    # The coach's pace for this dare; None keeps the defaults (bot.nudges.policy).
    followup_days: int | None = None
    stall_days: int | None = None
    daily_cap: int | None = None
    weekly_cap: int | None = None

    def __post_init__(self) -> None:
        _goal(self.goal)
        for attr, low, high in (("followup_days", 1, 30), ("stall_days", 1, 60), ("daily_cap", 1, 5),
                                ("weekly_cap", 1, 20)):
            v = getattr(self, attr)
            if v is not None and not low <= v <= high:
                flag = "--" + attr.replace("_", "-")
                raise UsageError(f"{flag} must be between {low} and {high}.", field=attr)
        if self.daily_cap and self.weekly_cap and self.weekly_cap < self.daily_cap:
            raise UsageError("--weekly-cap can't be below --daily-cap.", field="weekly_cap")
        if self.reward is not None:
            object.__setattr__(self, "reward", clean_text(self.reward, what="The reward", max_len=SHORT_MAX, field="reward"))


@dataclass(frozen=True)
class Accept:
    name: str | None = None


@dataclass(frozen=True)
class Contact:
    name: str
    title: str | None = None
    org: str | None = None
    kind: str | None = None
    decides: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean_text(self.name, what="The contact's name", max_len=NAME_MAX, field="name"))
        for attr, what in (("title", "The title"), ("org", "The organisation")):
            v = getattr(self, attr)
            if v is not None:
                object.__setattr__(self, attr, clean_text(v, what=what, max_len=SHORT_MAX, field=attr, required=False) or None)
        object.__setattr__(self, "kind", _choice(self.kind, CONTACT_KINDS, "--kind", "kind"))


@dataclass(frozen=True)
class Outreach:
    contact: str
    via: str | None = None
    on: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "contact", clean_text(self.contact, what="The contact", max_len=NAME_MAX, field="contact"))
        object.__setattr__(self, "via", _choice(self.via, CHANNELS, "--via", "via"))


@dataclass(frozen=True)
class ReplyReceived:
    contact: str
    declined: bool = False
    meeting: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "contact", clean_text(self.contact, what="The contact", max_len=NAME_MAX, field="contact"))
        if self.declined and self.meeting:
            raise UsageError("A reply is either --declined or --meeting DATE, not both.", field="meeting")


@dataclass(frozen=True)
class Log:
    contact: str
    on: str | None = None
    minutes: int | None = None
    outcomes: tuple[str, ...] = ()
    learned: str | None = None
    asked: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "contact", clean_text(self.contact, what="The contact", max_len=NAME_MAX, field="contact"))
        if self.minutes is not None and not 1 <= self.minutes <= 600:
            raise UsageError("--minutes must be between 1 and 600.", field="minutes")
        tags = tuple(dict.fromkeys(_choice(t, OUTCOMES, "--outcome", "outcomes") or "" for t in self.outcomes))
        object.__setattr__(self, "outcomes", tags)
        if self.learned is not None:
            object.__setattr__(self, "learned", clean_text(self.learned, what="What you learned", max_len=NOTE_MAX,
                                                           multiline=True, field="learned", required=False) or None)
        object.__setattr__(self, "asked", tuple(dict.fromkeys(a.strip().lower() for a in self.asked if a.strip())))


@dataclass(frozen=True)
class Story:
    text: str
    to: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", clean_text(self.text, what="The story", max_len=STORY_MAX, multiline=True, field="text"))
        object.__setattr__(self, "to", _choice(self.to, CONSENTS, "--to", "to"))


@dataclass(frozen=True)
class Recruiter:
    company: str
    role: str | None = None
    asked: tuple[str, ...] = ()
    answer: str | None = None
    connected: bool = False
    referred: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "company", clean_text(self.company, what="The company", max_len=SHORT_MAX, field="company"))
        if self.role is not None:
            object.__setattr__(self, "role", clean_text(self.role, what="The role", max_len=SHORT_MAX, field="role", required=False) or None)
        object.__setattr__(self, "asked", tuple(dict.fromkeys(_choice(a, ASKED, "--asked", "asked") or "" for a in self.asked)))
        object.__setattr__(self, "answer", _choice(self.answer, ANSWERS, "--answer", "answer"))


@dataclass(frozen=True)
class Progress:
    pass


@dataclass(frozen=True)
class Board:
    name: str | None = None
    post: bool = False
    page: int = 1

    def __post_init__(self) -> None:
        if self.page < 1:
            raise UsageError("--page starts at 1.", field="page")


@dataclass(frozen=True)
class Report:
    name: str | None = None


@dataclass(frozen=True)
class Export:
    name: str | None = None
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True)
class Reward:
    user: UserRef


@dataclass(frozen=True)
class Questions:
    pass


@dataclass(frozen=True)
class Settings:
    """`key` is None to show the current settings."""

    key: str | None = None
    value: str | None = None


Command = (Help | CohortCreate | CohortJoin | CohortInstructor | CohortPause | CohortQuiet | Start | Accept
           | Contact | Outreach | ReplyReceived | Log | Story | Recruiter | Progress | Board | Report | Export
           | Reward | Questions | Settings)
