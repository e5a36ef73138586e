"""The /dare text grammar: one parser for Slack's command text and the console.

`parse(text)` turns `contact "Ada Lovelace" --org Analytical --decides` into a typed command from
bot.commands, or raises UsageError naming what was wrong and the right form.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from bot import commands as c
from bot.errors import UsageError

# Slack and phones turn straight double quotes into curly ones; apostrophes (’) stay as they are.
_CURLY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
_SLACK_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$")
_DISCORD_USER = re.compile(r"^<@!?(\d{5,25})>$")
_LOCAL_USER = re.compile(r"^@([A-Za-z0-9._-]{1,40})$")


@dataclass(frozen=True)
class Opt:
    field: str
    kind: str = "str"  # str | int | bool | list | csv
    metavar: str = ""


@dataclass(frozen=True)
class Spec:
    words: tuple[str, ...]
    usage: str
    summary: str
    build: Callable[..., c.Command]
    positionals: tuple[str, ...] = ()
    required: int = 0
    options: dict[str, Opt] = field(default_factory=dict)
    instructor: bool = False


def _date(field_: str) -> Opt:
    return Opt(field_, "str", "DATE")


SPECS: tuple[Spec, ...] = (
    Spec(("help",), "/dare help [COMMAND]", "What each command does.", c.Help, ("topic",), 0),
    Spec(("cohort", "create"), "/dare cohort create NAME [--goal N] [--deadline DATE] [--tz AREA/CITY]",
         "Create a cohort; you become its instructor.", c.CohortCreate, ("name",), 1,
         {"--goal": Opt("goal", "int", "N"), "--deadline": _date("deadline"), "--tz": Opt("tz")}),
    Spec(("cohort", "join"), "/dare cohort join NAME", "Join a cohort as a participant.", c.CohortJoin, ("name",), 1),
    Spec(("cohort", "instructor"), "/dare cohort instructor NAME @user", "Make someone an instructor of a cohort.",
         c.CohortInstructor, ("name", "user"), 2, instructor=True),
    Spec(("cohort", "pause"), "/dare cohort pause NAME [--until DATE]", "Pause every nudge for a cohort.",
         c.CohortPause, ("name",), 0, {"--until": _date("until")}, instructor=True),
    Spec(("cohort", "resume"), "/dare cohort resume NAME", "Resume nudges for a paused cohort.",
         lambda **kw: c.CohortPause(resume=True, **kw), ("name",), 0, instructor=True),
    Spec(("cohort", "quiet"), "/dare cohort quiet NAME --from DATE --to DATE [--note TEXT]",
         "Mark a quiet stretch (exams, a break): no nudges to participants then.", c.CohortQuiet, ("name",), 0,
         {"--from": _date("start"), "--to": _date("end"), "--note": Opt("note")}, instructor=True),
    Spec(("start",), "/dare start [NAME] [--goal N] [--deadline DATE] [--reward TEXT] [--followup-days N] "
         "[--stall-days N] [--daily-cap N] [--weekly-cap N]",
         "Issue the dare to a cohort and DM every participant; the last four set the nudges' pace.",
         c.Start, ("name",), 0,
         {"--goal": Opt("goal", "int", "N"), "--deadline": _date("deadline"), "--reward": Opt("reward"),
          "--followup-days": Opt("followup_days", "int", "N"), "--stall-days": Opt("stall_days", "int", "N"),
          "--daily-cap": Opt("daily_cap", "int", "N"), "--weekly-cap": Opt("weekly_cap", "int", "N")},
         instructor=True),
    Spec(("accept",), "/dare accept [NAME]", "Take the dare.", c.Accept, ("name",), 0),
    Spec(("contact",), '/dare contact "FULL NAME" [--title T] [--org O] '
         "[--kind future-self|decision-maker|business|recruiter] [--decides]",
         "Add someone you want to reverse-interview.", c.Contact, ("name",), 1,
         {"--title": Opt("title"), "--org": Opt("org"), "--kind": Opt("kind"), "--decides": Opt("decides", "bool")}),
    Spec(("outreach",), '/dare outreach "CONTACT" [--via email|linkedin|phone|in-person|other] [--on DATE]',
         "Record one attempt to reach a contact.", c.Outreach, ("contact",), 1,
         {"--via": Opt("via"), "--on": _date("on")}),
    Spec(("reply",), '/dare reply "CONTACT" [--declined] [--meeting DATE]',
         "Record that a contact answered.", c.ReplyReceived, ("contact",), 1,
         {"--declined": Opt("declined", "bool"), "--meeting": _date("meeting")}),
    Spec(("log",), '/dare log "CONTACT" [--on DATE] [--minutes N] [--outcome TAG]... [--asked ID,ID] [--learned TEXT]',
         "Record a reverse interview that happened.", c.Log, ("contact",), 1,
         {"--on": _date("on"), "--minutes": Opt("minutes", "int", "N"), "--outcome": Opt("outcomes", "list"),
          "--asked": Opt("asked", "csv"), "--learned": Opt("learned")}),
    Spec(("story",), "/dare story TEXT [--to cohort|anonymous|instructor]",
         "Share how it went (default: instructor only).", c.Story, ("text",), 1, {"--to": Opt("to")}),
    Spec(("recruiter",), '/dare recruiter "COMPANY" [--role R] [--asked why-open,why-me,role-type] '
         "[--answer yes|no|later] [--connected] [--referred]",
         "Record a recruiter's call and how you handled it.", c.Recruiter, ("company",), 1,
         {"--role": Opt("role"), "--asked": Opt("asked", "csv"), "--answer": Opt("answer"),
          "--connected": Opt("connected", "bool"), "--referred": Opt("referred", "bool")}),
    Spec(("progress",), "/dare progress", "Your progress and your next step.", c.Progress),
    Spec(("board",), "/dare board [NAME] [--post] [--page N]",
         "The cohort's leaderboard (--post shares it in the channel).",
         c.Board, ("name",), 0, {"--post": Opt("post", "bool"), "--page": Opt("page", "int", "N")}),
    Spec(("report",), "/dare report NAME", "The instructor's take-up report.", c.Report, ("name",), 0,
         instructor=True),
    Spec(("export",), "/dare export NAME [--since DATE] [--until DATE]", "The cohort as CSV, one row a participant.",
         c.Export, ("name",), 0, {"--since": _date("since"), "--until": _date("until")}, instructor=True),
    Spec(("reward",), "/dare reward @user", "Mark a participant's story reward as granted.", c.Reward, ("user",), 1,
         instructor=True),
    Spec(("questions",), "/dare questions", "The must-ask reverse-interview questions.", c.Questions),
    Spec(("settings",), "/dare settings [tz AREA/CITY | quiet HH:MM-HH:MM | nudges on|off | snooze DAYS | "
         "board named|alias|hidden]", "Show or change your settings.", c.Settings, ("key", "value"), 0),
)

_BY_WORDS = {s.words: s for s in SPECS}
_GROUPS = {s.words[0] for s in SPECS if len(s.words) == 2}
SUBCOMMANDS = sorted({s.words[0] for s in SPECS})


def spec_for(words: tuple[str, ...]) -> Spec | None:
    return _BY_WORDS.get(words)


def parse_user(token: str) -> c.UserRef:
    """A user named in a command: Slack `<@U123|ada>`, Discord `<@123>`, console `@ada`."""
    token = token.strip()
    if m := _SLACK_USER.match(token):
        return c.UserRef(m.group(1), m.group(2) or "")
    if m := _DISCORD_USER.match(token):
        return c.UserRef(m.group(1))
    if m := _LOCAL_USER.match(token):
        return c.UserRef(m.group(1), m.group(1))
    raise UsageError(f"'{token[:40]}' isn't a person: mention them, e.g. @ada.")


def tokenize(text: str) -> list[str]:
    try:
        return shlex.split(text.translate(_CURLY))
    except ValueError:
        raise UsageError('A quote was left open: close it, e.g. /dare contact "Ada Lovelace".') from None


def _strip_prefix(text: str) -> str:
    t = text.strip()
    if t == "/dare" or t.startswith("/dare "):
        t = t[5:].strip()
    return t


def parse(text: str) -> c.Command:
    """Parse the text after `/dare`. Raises UsageError with the right form on any mistake."""
    body = _strip_prefix(text)
    if not body:
        return c.Help()
    head = body.split(None, 1)[0].lower()
    if head == "story":
        return _parse_story(body[len(head):])
    tokens = tokenize(body)
    words = [tokens[0].lower()]
    if words[0] in _GROUPS:
        if len(tokens) < 2:
            group = [s for s in SPECS if s.words[0] == words[0]]
            raise UsageError(f"'{words[0]}' needs one of: {', '.join(s.words[1] for s in group)}.",
                             usage=" | ".join(s.usage for s in group))
        words.append(tokens[1].lower())
    spec = _BY_WORDS.get(tuple(words))
    if spec is None:
        if len(words) == 2:
            raise UsageError(f"'{' '.join(words)[:40]}' isn't a command. Try /dare help cohort.")
        raise UsageError(f"'{words[0][:30]}' isn't a /dare command. Try /dare help for the list.")
    return _build(spec, tokens[len(words):])


def _parse_story(rest: str) -> c.Command:
    """Stories are free text, apostrophes and all, so only a trailing `--to X` is an option."""
    spec = _BY_WORDS[("story",)]
    rest = rest.strip()
    to = None
    m = re.search(r"(?:^|\s)--to(?:\s+|=)(\S+)\s*$", rest)
    if m:
        to = m.group(1)
        rest = rest[: m.start()].strip()
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "\"'":
        rest = rest[1:-1]
    if not rest:
        raise UsageError("Tell the story after the command.", usage=spec.usage)
    return c.Story(text=rest, to=to)


def _build(spec: Spec, tokens: list[str]) -> c.Command:
    kwargs: dict[str, object] = {}
    positionals: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and len(tok) > 2:
            flag, _, inline = tok.partition("=")
            opt = spec.options.get(flag.lower())
            if opt is None:
                known = ", ".join(spec.options) or "none"
                raise UsageError(f"'{flag[:30]}' isn't an option of {' '.join(spec.words)} (options: {known}).",
                                 usage=spec.usage)
            if opt.kind == "bool":
                if inline:
                    raise UsageError(f"{flag} takes no value.", usage=spec.usage)
                kwargs[opt.field] = True
                i += 1
                continue
            if inline:
                value = inline
                i += 1
            else:
                if i + 1 >= len(tokens) or (tokens[i + 1].startswith("--") and len(tokens[i + 1]) > 2):
                    raise UsageError(f"{flag} needs a value{' ' + opt.metavar if opt.metavar else ''}.",
                                     usage=spec.usage)
                value = tokens[i + 1]
                i += 2
            if opt.kind == "int":
                try:
                    kwargs[opt.field] = int(value)
                except ValueError:
                    raise UsageError(f"{flag} needs a whole number, not '{value[:20]}'.", usage=spec.usage) from None
            elif opt.kind == "list":
                kwargs[opt.field] = (*kwargs.get(opt.field, ()), *_split_csv(value))  # type: ignore[misc]
            elif opt.kind == "csv":
                kwargs[opt.field] = _split_csv(value)
            else:
                if opt.field in kwargs:
                    raise UsageError(f"{flag} was given twice.", usage=spec.usage)
                kwargs[opt.field] = value
        else:
            positionals.append(tok)
            i += 1
    if len(positionals) < spec.required:
        missing = spec.positionals[len(positionals)].upper()
        raise UsageError(f"{' '.join(spec.words)} needs {missing}.", usage=spec.usage)
    if len(positionals) > len(spec.positionals):
        extra = positionals[len(spec.positionals)]
        hint = " Put names with spaces in quotes." if spec.positionals else ""
        raise UsageError(f"Unexpected '{extra[:30]}'.{hint}", usage=spec.usage)
    for name, value in zip(spec.positionals, positionals, strict=False):
        kwargs[name] = parse_user(value) if name == "user" else value
    try:
        return spec.build(**kwargs)
    except UsageError as err:
        raise UsageError(str(err).split("\nUsage:")[0], field=err.field, usage=spec.usage) from None
    except TypeError:  # a required part missing that the table above doesn't know of
        raise UsageError(f"{' '.join(spec.words)} is missing something.", usage=spec.usage) from None


def _split_csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def help_text(topic: str | None = None) -> tuple[str, list[tuple[str, str]]]:
    """(intro, [(usage, summary)]) for `/dare help` or `/dare help TOPIC`."""
    if topic:
        t = topic.strip().lower()
        found = [s for s in SPECS if s.words[0] == t or " ".join(s.words) == t]
        if not found:
            raise UsageError(f"No command called '{topic[:30]}'. Try /dare help for the list.")
        return ("", [(s.usage, s.summary + (" (instructors)" if s.instructor else "")) for s in found])
    intro = ("darebot dares your cohort to do reverse interviews: short talks with people who are where you "
             "want to be in a few years. Dates take YYYY-MM-DD, today, yesterday or tomorrow; "
             "NAME can be left out when you're in one cohort.")
    return (intro, [(s.usage, s.summary + (" (instructors)" if s.instructor else "")) for s in SPECS])
