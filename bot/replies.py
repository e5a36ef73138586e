"""Platform-neutral replies: what the engine says, before any adapter renders it.

All text here is plain text. Adapters escape every string for their platform, so nothing a user
typed can turn into markup or a ping. Sizes are not limited here; renderers cut with a visible mark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

ButtonStyle = Literal["primary", "danger"] | None


@dataclass(frozen=True)
class Field:
    label: str
    value: str


@dataclass(frozen=True)
class Table:
    """A small grid (the board); renderers show it monospaced."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Section:
    text: str = ""
    title: str | None = None
    fields: tuple[Field, ...] = ()
    table: Table | None = None


@dataclass(frozen=True)
class Button:
    """A button whose press comes back to the engine as `Engine.press(action, value)`."""

    label: str
    action: str
    value: str = ""
    style: ButtonStyle = None


@dataclass(frozen=True)
class Attachment:
    filename: str
    # The bytes, or a function that draws them: a chart is then drawn on first read, which on Slack
    # is the upload after the answer, not the command's transaction (a funnel chart is most of a report).
    source: bytes | Callable[[], bytes]
    mime: str
    alt: str = ""  # what the picture shows, numbers included, for screen readers and text-only clients

    @property
    def content(self) -> bytes:
        if not callable(self.source):
            return self.source
        drawn: bytes | None = self.__dict__.get("_drawn")
        if drawn is None:
            drawn = self.source()
            object.__setattr__(self, "_drawn", drawn)  # frozen: the drawing is a cache, not state
        return drawn


@dataclass(frozen=True)
class Reply:
    title: str | None = None
    sections: tuple[Section, ...] = ()
    buttons: tuple[Button, ...] = ()
    ephemeral: bool = True
    is_error: bool = False
    image: Attachment | None = None
    file: Attachment | None = None
    # Set when a command was given no arguments and the platform can show a form instead
    # (Slack and Discord open a modal; the console prints usage).
    form: str | None = None
    # Set on the answer to a button that takes the place of the message the button sits on.
    replaces_message: bool = False
    # A companion message for everyone in the channel the command came from, posted after this (private)
    # reply; adapters skip it when the command came from a direct message, where nobody else would see it.
    public: Reply | None = None
    # Set when the command only read (its declaration says writes=False): nothing it answered from
    # has changed, so adapters need not refresh views of the person's state (Slack's App Home).
    read_only: bool = False

    def plain_text(self) -> str:
        """The whole reply as plain text: the console's rendering and the tests' view."""
        return render_plain(self)


OOPS = "Something went wrong on our side and nothing was saved. Please try again in a minute."


def text_reply(text: str, *, title: str | None = None, ephemeral: bool = True) -> Reply:
    return Reply(title=title, sections=(Section(text=text),), ephemeral=ephemeral)


def error_reply(text: str) -> Reply:
    """A short private error; it always says what was wrong and the right form."""
    return Reply(sections=(Section(text=text),), ephemeral=True, is_error=True)


def render_table(table: Table) -> str:
    widths = [len(h) for h in table.headers]
    for row in table.rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(table.headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in table.rows:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def render_plain(reply: Reply) -> str:
    out: list[str] = []
    if reply.title:
        out.append(reply.title)
    for section in reply.sections:
        if section.title:
            out.append(section.title)
        if section.text:
            out.append(section.text)
        for f in section.fields:
            out.append(f"  {f.label}: {f.value}")
        if section.table is not None:
            out.append(render_table(section.table))
    if reply.buttons:
        out.append(" ".join(f"[{b.label}]" for b in reply.buttons))
    if reply.image is not None:
        out.append(f"(image: {reply.image.filename})")
    if reply.file is not None:
        out.append(f"(file: {reply.file.filename}, {len(reply.file.content)} bytes)")
    return "\n".join(out)
