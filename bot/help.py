"""`/dare help` and `/dare questions`: the commands and, per command, its options, choices and an example;
and the must-ask questions with their ids.

Everything here is generated from the declarations in bot.registry, so help cannot drift from the
grammar.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import commands as c
from bot.context import Context
from bot.errors import UsageError
from bot.questions import BANK, QUESTION_IDS
from bot.registry import CommandSpec, Param, action, arg, command, commands
from bot.replies import Reply, Section

INTRO = (
    "darebot dares your cohort to do reverse interviews: short talks with people who are where you "
    "want to be in a few years. Dates take YYYY-MM-DD, today, yesterday or tomorrow; "
    "NAME can be left out when you're in one cohort."
)


@dataclass(frozen=True)
class Help:
    topic: str | None = arg("COMMAND", "A command to explain", optional=True)


def _summary(spec: CommandSpec) -> str:
    return spec.summary + (" (instructors)" if spec.instructor else "")


def _param_line(p: Param) -> str:
    name = p.flag or p.metavar
    text = f"  {name}: {p.help}"
    if p.choices and p.kind in ("choice", "list", "csv"):
        text += f". One of: {', '.join(p.choices)}" if p.kind == "choice" else f". Any of: {', '.join(p.choices)}"
    if p.kind == "list":
        text += f" (repeat {p.flag} for several)"
    if p.kind == "int" and p.minimum is not None and p.maximum is not None:
        text += f" ({p.minimum}-{p.maximum})"
    if p.kind == "date":
        text += " (YYYY-MM-DD, today, yesterday or tomorrow)"
    if p.kind == "csv" and p.choices and set(p.choices) <= set(QUESTION_IDS):
        text = f"  {p.flag}: {p.help}, comma-separated:\n" + "\n".join(
            f"    {q}  {QUESTION_IDS[q].text}" for q in p.choices
        )
    return text


def explain(spec: CommandSpec) -> str:
    """Everything about one command: usage, what it does, each value and an example."""
    lines = [spec.usage, f"  {_summary(spec)}"]
    if spec.details:
        lines.append(f"  {spec.details}")
    lines.extend(_param_line(p) for p in spec.params)
    if spec.form:
        lines.append("  With nothing after it, Slack and Discord open a form.")
    for example in spec.examples:
        lines.append(f"  Example: {example}")
    return "\n".join(lines)


def help_sections(topic: str | None) -> tuple[Section, ...]:
    if not topic:
        body = "\n".join(f"{s.usage}\n    {_summary(s)}" for s in commands())
        return (Section(text=INTRO), Section(text=body))
    t = " ".join(topic.strip().lower().split())
    found = [s for s in commands() if s.words[0] == t or s.name == t]
    if not found:
        raise UsageError(f"No command called '{topic[:30]}'. Try /dare help for the list.")
    return (Section(text="\n\n".join(explain(s) for s in found)),)


@command(
    "help",
    summary="What each command does; /dare help COMMAND explains one.",
    writes=False,
    details="For a two-word command give both words or the first: /dare help cohort.",
    examples=("/dare help log",),
)
def help_reply(_ctx: Context, cmd: Help) -> Reply:
    return Reply(title="darebot help" if not cmd.topic else f"Help: {cmd.topic}", sections=help_sections(cmd.topic))


@command(
    "questions",
    summary="The must-ask reverse-interview questions.",
    writes=False,
    details="Each question has a short id (v1, p2, m3...) to record with /dare log --asked.",
    examples=("/dare questions",),
)
def questions(_ctx: Context | None, _cmd: c.Questions) -> Reply:
    sections = [
        Section(title=f"{g.title}: {g.why}", text="\n".join(f"{q.id}  {q.text}" for q in g.questions)) for g in BANK
    ]
    sections.append(
        Section(
            text="Ask three, listen more than you talk, and keep it to 15 minutes. Record which "
            'you asked: /dare log "NAME" --asked v1,m1'
        )
    )
    return Reply(title="Must-ask reverse-interview questions", sections=tuple(sections))


@action("questions.show", transaction=False)
def questions_button(ctx: Context | None, _value: str) -> Reply:
    return questions(ctx, c.Questions())
