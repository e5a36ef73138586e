"""The /dare subcommands' typed values: what each takes (see bot.registry) and how it is checked.

The text parser (bot.grammar), Slack/Discord modals (bot.forms) and Discord's app-command options all
build these; validation lives in `__post_init__`, so every path checks input the same way. Dates
stay as the user typed them (`today`, `2026-12-01`) and are resolved by the engine in the
person's own time zone. Names end in what they do, so they never read as the table of the same
name in storage.models. The handlers declare them with `@command` (bot.registry).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import UsageError
from bot.questions import QUESTION_IDS
from bot.registry import arg, opt
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
class CohortCreate:
    name: str = arg("NAME", "The cohort's name", max_len=NAME_MAX)
    goal: int | None = opt(
        "--goal", "Interviews each participant aims for (default 3)", kind="int", minimum=1, maximum=50
    )
    deadline: str | None = opt("--deadline", "The last day: YYYY-MM-DD, today or tomorrow", kind="date")
    tz: str | None = opt("--tz", "The cohort's time zone, e.g. Europe/Paris", kind="zone")

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean_text(self.name, what="The cohort name", max_len=NAME_MAX, field="name"))
        _goal(self.goal)


@dataclass(frozen=True)
class CohortJoin:
    name: str | None = arg("NAME", "The cohort to join", lookup="cohort")


@dataclass(frozen=True)
class CohortInstructor:
    name: str = arg("NAME", "The cohort", lookup="cohort")
    user: UserRef = arg("@user", "The person to make an instructor", kind="user")


@dataclass(frozen=True)
class CohortClose:
    """End the term: nudges and digests stop, the board and report freeze."""

    name: str = arg("NAME", "The cohort", lookup="cohort")


@dataclass(frozen=True)
class CohortReopen:
    name: str = arg("NAME", "The closed cohort", lookup="cohort")


@dataclass(frozen=True)
class CohortRemove:
    name: str = arg("NAME", "The cohort", lookup="cohort")
    user: UserRef = arg("@user", "The participant to remove", kind="user")


@dataclass(frozen=True)
class CohortRename:
    name: str = arg("NAME", "The cohort", lookup="cohort")
    new_name: str = arg("NEWNAME", "Its new name", max_len=NAME_MAX)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "new_name", clean_text(self.new_name, what="The new name", max_len=NAME_MAX, field="new_name")
        )


@dataclass(frozen=True)
class CohortLeave:
    name: str | None = arg("NAME", "The cohort to leave (optional with one)", optional=True, lookup="cohort")


@dataclass(frozen=True)
class CohortPause:
    """Pause every nudge for a cohort, until a date or until resumed."""

    name: str | None = arg("NAME", "The cohort", optional=True, lookup="cohort")
    until: str | None = opt("--until", "Resume by itself on this date", kind="date")


@dataclass(frozen=True)
class CohortResume:
    name: str | None = arg("NAME", "The cohort", optional=True, lookup="cohort")


@dataclass(frozen=True)
class CohortQuiet:
    """Mark a quiet week (exams, a break): no participant nudges between the two dates."""

    name: str | None = arg("NAME", "The cohort", optional=True, lookup="cohort")
    start: str | None = opt("--from", "First quiet day", kind="date")
    end: str | None = opt("--to", "Last quiet day", kind="date")
    note: str = opt("--note", "Why (exams, a break)", max_len=SHORT_MAX, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "note", clean_text(self.note, what="The note", max_len=SHORT_MAX, required=False))


@dataclass(frozen=True)
class Start:
    name: str | None = arg("NAME", "The cohort", optional=True, lookup="cohort")
    goal: int | None = opt("--goal", "Interviews to aim for", kind="int", minimum=1, maximum=50)
    deadline: str | None = opt("--deadline", "The last day: YYYY-MM-DD", kind="date")
    reward: str | None = opt("--reward", "What sharing a story earns", max_len=SHORT_MAX)
    # The coach's pace for this dare; None keeps the defaults (bot.nudges.policy).
    followup_days: int | None = opt(
        "--followup-days",
        "Days to wait for an answer before a follow-up nudge (default 4)",
        kind="int",
        minimum=1,
        maximum=30,
    )
    stall_days: int | None = opt(
        "--stall-days", "Days after accepting before a no-outreach nudge (default 5)", kind="int", minimum=1, maximum=60
    )
    daily_cap: int | None = opt(
        "--daily-cap", "Nudges per person per day (default 1)", kind="int", minimum=1, maximum=5
    )
    weekly_cap: int | None = opt(
        "--weekly-cap", "Nudges per person per week (default 3)", kind="int", minimum=1, maximum=20
    )

    def __post_init__(self) -> None:
        _goal(self.goal)
        for attr, low, high in (
            ("followup_days", 1, 30),
            ("stall_days", 1, 60),
            ("daily_cap", 1, 5),
            ("weekly_cap", 1, 20),
        ):
            v = getattr(self, attr)
            if v is not None and not low <= v <= high:
                flag = "--" + attr.replace("_", "-")
                raise UsageError(f"{flag} must be between {low} and {high}.", field=attr)
        if self.daily_cap and self.weekly_cap and self.weekly_cap < self.daily_cap:
            raise UsageError("--weekly-cap can't be below --daily-cap.", field="weekly_cap")
        if self.reward is not None:
            object.__setattr__(
                self, "reward", clean_text(self.reward, what="The reward", max_len=SHORT_MAX, field="reward")
            )


@dataclass(frozen=True)
class Accept:
    name: str | None = arg("NAME", "The cohort (optional with one)", optional=True, lookup="cohort")


@dataclass(frozen=True)
class AddContact:
    name: str = arg('"FULL NAME"', "Their full name", max_len=NAME_MAX)
    title: str | None = opt("--title", "Their title", metavar="T", max_len=SHORT_MAX)
    org: str | None = opt("--org", "Their organisation", metavar="O", max_len=SHORT_MAX)
    kind: str | None = opt("--kind", "Who they are to you", kind="choice", choices=CONTACT_KINDS)
    decides: bool = opt("--decides", "They can hire or decide", kind="bool")
    forget: bool = opt("--forget", "Delete this contact and everything logged about them", kind="bool")

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "name", clean_text(self.name, what="The contact's name", max_len=NAME_MAX, field="name")
        )
        if self.forget and (self.title or self.org or self.kind or self.decides):
            raise UsageError('--forget takes only the name: /dare contact "FULL NAME" --forget.', field="name")
        for attr, what in (("title", "The title"), ("org", "The organisation")):
            v = getattr(self, attr)
            if v is not None:
                object.__setattr__(
                    self, attr, clean_text(v, what=what, max_len=SHORT_MAX, field=attr, required=False) or None
                )
        object.__setattr__(self, "kind", _choice(self.kind, CONTACT_KINDS, "--kind", "kind"))


@dataclass(frozen=True)
class RecordOutreach:
    contact: str = arg('"CONTACT"', "Whom you reached out to", max_len=NAME_MAX, lookup="contact")
    via: str | None = opt("--via", "How", kind="choice", choices=CHANNELS)
    on: str | None = opt("--on", "When (default today)", kind="date")

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "contact", clean_text(self.contact, what="The contact", max_len=NAME_MAX, field="contact")
        )
        object.__setattr__(self, "via", _choice(self.via, CHANNELS, "--via", "via"))


@dataclass(frozen=True)
class ReplyReceived:
    contact: str = arg('"CONTACT"', "Who answered", max_len=NAME_MAX, lookup="contact")
    declined: bool = opt("--declined", "They said no", kind="bool")
    meeting: str | None = opt("--meeting", "The day you meet", kind="date")

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "contact", clean_text(self.contact, what="The contact", max_len=NAME_MAX, field="contact")
        )
        if self.declined and self.meeting:
            raise UsageError("A reply is either --declined or --meeting DATE, not both.", field="meeting")


@dataclass(frozen=True)
class LogInterview:
    contact: str = arg('"CONTACT"', "Whom you interviewed", max_len=NAME_MAX, lookup="contact")
    on: str | None = opt("--on", "When (default today)", kind="date")
    minutes: int | None = opt("--minutes", "How long it lasted", kind="int", minimum=1, maximum=600)
    outcomes: tuple[str, ...] = opt("--outcome", "What came of it", kind="list", choices=OUTCOMES)
    asked: tuple[str, ...] = opt(
        "--asked", "Question ids you asked (see /dare questions)", kind="csv", choices=tuple(QUESTION_IDS)
    )
    learned: str | None = opt("--learned", "What you learned", max_len=NOTE_MAX)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "contact", clean_text(self.contact, what="The contact", max_len=NAME_MAX, field="contact")
        )
        if self.minutes is not None and not 1 <= self.minutes <= 600:
            raise UsageError("--minutes must be between 1 and 600.", field="minutes")
        tags = tuple(dict.fromkeys(_choice(t, OUTCOMES, "--outcome", "outcomes") or "" for t in self.outcomes))
        object.__setattr__(self, "outcomes", tags)
        if self.learned is not None:
            object.__setattr__(
                self,
                "learned",
                clean_text(
                    self.learned,
                    what="What you learned",
                    max_len=NOTE_MAX,
                    multiline=True,
                    field="learned",
                    required=False,
                )
                or None,
            )
        object.__setattr__(self, "asked", tuple(dict.fromkeys(a.strip().lower() for a in self.asked if a.strip())))


@dataclass(frozen=True)
class ShareStory:
    text: str = arg("TEXT", "Your story", max_len=STORY_MAX)
    to: str | None = opt("--to", "Who may read it (default: your instructor only)", kind="choice", choices=CONSENTS)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "text", clean_text(self.text, what="The story", max_len=STORY_MAX, multiline=True, field="text")
        )
        object.__setattr__(self, "to", _choice(self.to, CONSENTS, "--to", "to"))


@dataclass(frozen=True)
class RecordRecruiterCall:
    company: str = arg('"COMPANY"', "The recruiter's company", max_len=SHORT_MAX)
    role: str | None = opt("--role", "The role", metavar="R", max_len=SHORT_MAX)
    asked: tuple[str, ...] = opt(
        "--asked", "Qualifying questions you asked", kind="csv", choices=ASKED, metavar=",".join(ASKED)
    )
    answer: str | None = opt("--answer", "Your straight answer", kind="choice", choices=ANSWERS)
    connected: bool = opt("--connected", "You kept the connection", kind="bool")
    referred: bool = opt("--referred", "You offered help or a referral", kind="bool")

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "company", clean_text(self.company, what="The company", max_len=SHORT_MAX, field="company")
        )
        if self.role is not None:
            object.__setattr__(
                self,
                "role",
                clean_text(self.role, what="The role", max_len=SHORT_MAX, field="role", required=False) or None,
            )
        object.__setattr__(
            self, "asked", tuple(dict.fromkeys(_choice(a, ASKED, "--asked", "asked") or "" for a in self.asked))
        )
        object.__setattr__(self, "answer", _choice(self.answer, ANSWERS, "--answer", "answer"))


@dataclass(frozen=True)
class Progress:
    """Your own progress; instructors may name a participant (`@user`) to see theirs."""

    user: UserRef | None = arg("@user", "Instructors: whose progress (leave out for yours)", kind="user", optional=True)
    name: str | None = arg("NAME", "The cohort", optional=True, lookup="cohort")


PERIODS = ("week", "month", "dare")
BOARD_SHOWS = ("all", "top", "ranks")


@dataclass(frozen=True)
class Board:
    name: str | None = arg("NAME", "The cohort", optional=True, lookup="cohort")
    period: str | None = opt(
        "--period", "Count the last week, the last month, or the whole dare (default)", kind="choice", choices=PERIODS
    )
    page: int = opt("--page", "Which page", kind="int", minimum=1, maximum=1000, default=1)
    post: bool = opt("--post", "Post it in this channel for everyone", kind="bool")
    show: str | None = opt(
        "--show", "With --post: everyone, the top 10, or ranks only", kind="choice", choices=BOARD_SHOWS
    )

    def __post_init__(self) -> None:
        if self.page < 1:
            raise UsageError("--page starts at 1.", field="page")
        object.__setattr__(self, "period", _choice(self.period, PERIODS, "--period", "period"))
        object.__setattr__(self, "show", _choice(self.show, BOARD_SHOWS, "--show", "show"))
        if self.show and not self.post:
            raise UsageError("--show goes with --post: it chooses what the posted board shows.", field="show")


COMPARE_MAX = 4


@dataclass(frozen=True)
class Report:
    name: str | None = arg("NAME", "The cohort", optional=True, lookup="cohort")
    compare: tuple[str, ...] = opt(
        "--compare", "Other cohorts you teach, side by side", kind="csv", metavar="OTHER,OTHER"
    )

    def __post_init__(self) -> None:
        if len(self.compare) > COMPARE_MAX:
            raise UsageError(f"Compare with at most {COMPARE_MAX} cohorts at a time.", field="compare")


@dataclass(frozen=True)
class Dashboard:
    pass


@dataclass(frozen=True)
class Export:
    name: str | None = arg("NAME", "The cohort", optional=True, lookup="cohort")
    since: str | None = opt("--since", "From this date", kind="date")
    until: str | None = opt("--until", "Up to this date", kind="date")


@dataclass(frozen=True)
class GrantReward:
    user: UserRef = arg("@user", "Whose story reward was granted", kind="user")
    anyway: bool = opt("--anyway", "Grant it even though the story isn't tied to a logged interview", kind="bool")


@dataclass(frozen=True)
class Questions:
    pass


SETTING_KEYS = ("tz", "quiet", "nudges", "snooze", "board", "aim", "goal")


@dataclass(frozen=True)
class ChangeSettings:
    """`key` is None to show the current settings."""

    key: str | None = arg(
        "KEY", "What to change (leave out to see your settings)", optional=True, kind="choice", choices=SETTING_KEYS
    )
    value: str | None = arg("VALUE", "The new value", optional=True)
