"""Forms (modals) described once, for every platform: fields, and how values become a command."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

from bot import commands as c
from bot.errors import UsageError
from bot.questions import QUESTION_IDS
from bot.validate import NAME_MAX, NOTE_MAX, SHORT_MAX, STORY_MAX

FieldKind = Literal["text", "long_text", "date", "number", "select", "multi_select", "checkbox"]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()
    max_length: int | None = None
    placeholder: str = ""
    initial: object = None


@dataclass(frozen=True)
class Form:
    name: str
    title: str
    submit_label: str
    fields: tuple[FormField, ...]


def _opts(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((v, v.replace("-", " ").capitalize()) for v in values)


def build_form(name: str, contacts: list[str]) -> Form:
    """The spec of a form; `contacts` fills the contact picker (free text when there are none)."""
    contact = (
        FormField("contact", "Contact", "select", True, tuple((n, n) for n in contacts[:100]))
        if contacts
        else FormField("contact", "Contact (full name)", "text", True, max_length=NAME_MAX)
    )
    if name == "contact":
        return Form(
            "contact",
            "Add a contact",
            "Add",
            (
                FormField("name", "Full name", "text", True, max_length=NAME_MAX, placeholder="Ada Lovelace"),
                FormField("title", "Title", "text", False, max_length=SHORT_MAX, placeholder="Head of Engineering"),
                FormField("org", "Organisation", "text", False, max_length=SHORT_MAX),
                FormField("kind", "Kind", "select", False, _opts(c.CONTACT_KINDS), initial="future-self"),
                FormField("decides", "They can hire or decide", "checkbox"),
            ),
        )
    if name == "outreach":
        return Form(
            "outreach",
            "Record an attempt",
            "Record",
            (
                contact,
                FormField("via", "How", "select", False, _opts(c.CHANNELS), initial="email"),
                FormField("on", "When", "date", False),
            ),
        )
    if name == "log":
        return Form(
            "log",
            "Log an interview",
            "Log it",
            (
                contact,
                FormField("on", "When", "date", False),
                FormField("minutes", "Minutes", "number", False, placeholder="15"),
                FormField("outcomes", "What came of it", "multi_select", False, _opts(c.OUTCOMES)),
                FormField(
                    "asked",
                    "Questions you asked",
                    "multi_select",
                    False,
                    tuple((qid, f"{qid}: {q.text}"[:75]) for qid, q in QUESTION_IDS.items()),
                ),
                FormField("learned", "What you learned", "long_text", False, max_length=NOTE_MAX),
            ),
        )
    if name == "story":
        return Form(
            "story",
            "Share your story",
            "Share",
            (
                FormField("text", "How did it go?", "long_text", True, max_length=STORY_MAX),
                FormField(
                    "to",
                    "Who may read it",
                    "select",
                    False,
                    (
                        ("instructor", "My instructor only"),
                        ("anonymous", "The cohort, without my name"),
                        ("cohort", "The cohort, with my name"),
                    ),
                    initial="instructor",
                ),
            ),
        )
    raise UsageError(f"There's no form called '{name[:20]}'.")


FORMS = ("contact", "outreach", "log", "story")


def _text(values: dict[str, object], key: str) -> str | None:
    v = values.get(key)
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def _int(values: dict[str, object], key: str) -> int | None:
    s = _text(values, key)
    if s is None:
        return None
    try:
        return int(s)
    except ValueError:
        raise UsageError("Type a whole number.", field=key) from None


def _list(values: dict[str, object], key: str) -> tuple[str, ...]:
    v = values.get(key)
    if v is None or v == "":
        return ()
    if isinstance(v, str):
        return tuple(x.strip() for x in v.split(",") if x.strip())
    return tuple(str(x) for x in cast("Iterable[object]", v))


def _required(values: dict[str, object], key: str, what: str) -> str:
    s = _text(values, key)
    if s is None:
        raise UsageError(f"{what} is required.", field=key)
    return s


def to_command(name: str, values: dict[str, object]) -> object:
    """Values from a submitted form -> the command; UsageError(field=...) names the bad field."""
    if name == "contact":
        return c.AddContact(
            name=_required(values, "name", "The name"),
            title=_text(values, "title"),
            org=_text(values, "org"),
            kind=_text(values, "kind"),
            decides=bool(values.get("decides")),
        )
    if name == "outreach":
        return c.RecordOutreach(
            contact=_required(values, "contact", "The contact"), via=_text(values, "via"), on=_text(values, "on")
        )
    if name == "log":
        return c.LogInterview(
            contact=_required(values, "contact", "The contact"),
            on=_text(values, "on"),
            minutes=_int(values, "minutes"),
            outcomes=_list(values, "outcomes"),
            learned=_text(values, "learned"),
            asked=_list(values, "asked"),
        )
    if name == "story":
        return c.ShareStory(text=_required(values, "text", "The story"), to=_text(values, "to"))
    raise UsageError(f"There's no form called '{name[:20]}'.")
