"""Reply -> Discord message parts (content, embeds, a persistent view, files); Form -> discord.ui.Modal.

Translation only. Every string from the engine is plain text and may carry what a user typed, so each
one goes through darebot's own escaper (adapters/discord_escape.py: every construct, anywhere), and every message
is also sent with `AllowedMentions.none()` (two independent guards). Discord's limits are enforced
here, cutting with a visible mark rather than letting Discord reject the message:
content 2000; embed title 256, description 4096, at most 25 fields (name 256, value 1024),
footer 2048, 6000 characters over all embeds of a message, at most 10 embeds; modal title 45,
at most 5 top-level components; button label 80; custom_id 100.
"""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import discord

from adapters import discord_escape
from bot.replies import Button, Reply, Section, render_table

CUT = "… (cut)"
CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
EMBED_TOTAL_MAX = 6000
EMBEDS_MAX = 10
BUTTONS_MAX = 25
LABEL_MAX = 80
CUSTOM_ID_MAX = 100
MODAL_TITLE_MAX = 45
MODAL_COMPONENTS_MAX = 5
MODAL_LABEL_MAX = 45
SELECT_OPTIONS_MAX = 25

BRAND = discord.Colour(0x2F9E73)
ERROR = discord.Colour(0xD9534F)

# A button's custom_id: "dare:{workspace}:{action}:{value}". The workspace (guild id) travels in it
# because a DM button press carries no guild; DareButton in discord_bot parses it back.
BUTTON_ID_TEMPLATE = r"dare:(?P<ws>[0-9]*):(?P<action>[a-z0-9_.-]+):(?P<value>.*)"
# A modal's custom_id: "dareform:{workspace}:{form name}".
FORM_ID_PREFIX = "dareform"


def escape(text: str) -> str:
    """Plain text -> Discord markdown that shows exactly that text and pings no one (adapters/discord_escape.py)."""
    return discord_escape.escape(text)


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, ending with a visible mark when shortened.

    A cut never leaves a dangling backslash (half an escape) or half a mention-escape behind.
    """
    if len(text) <= limit:
        return text
    head = text[: max(0, limit - len(CUT))]
    if head.count("```") % 2:  # cut inside a code block: close it so the rest still renders
        head = head[: max(0, limit - len(CUT) - 4)] + "\n```"
        return head + CUT
    # an odd run of trailing backslashes would escape the mark itself
    trailing = len(head) - len(head.rstrip("\\"))
    if trailing % 2:
        head = head[:-1]
    return head + CUT


def _code_block(text: str) -> str:
    # Inside a code block nothing is markdown and nothing pings; only a ``` could close it early.
    return "```\n" + text.replace("`", "ˋ") + "\n```"


def _cut_code_block(block_text: str, limit: int) -> str:
    inner_limit = limit - len("```\n\n```") - len(CUT) - 1
    if len(block_text) + len("```\n\n```") <= limit:
        return _code_block(block_text)
    return _code_block(block_text[: max(0, inner_limit)] + "\n" + CUT)


@dataclass
class Rendered:
    """What to hand to send_message / followup.send / channel.send."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)
    view: discord.ui.View | None = None
    files: list[discord.File] = field(default_factory=list)
    ephemeral: bool = True

    def kwargs(self, *, with_ephemeral: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions.none()}
        if self.content:
            out["content"] = self.content
        if self.embeds:
            out["embeds"] = self.embeds
        if self.view is not None:
            out["view"] = self.view
        if self.files:
            out["files"] = self.files
        if with_ephemeral:
            out["ephemeral"] = self.ephemeral
        return out


def _is_simple(reply: Reply) -> bool:
    """A short answer with no structure goes as plain content; anything with structure as an embed."""
    if reply.image is not None:
        return False
    if len(reply.sections) > 1:
        return False
    return all(not (s.fields or s.table is not None or s.title) for s in reply.sections)


def _simple_text(reply: Reply) -> str:
    lines = []
    if reply.title:
        lines.append("**" + escape(reply.title) + "**")
    for s in reply.sections:
        if s.text:
            lines.append(escape(s.text))
    text = "\n".join(lines)
    if reply.is_error and text:
        text = "⚠️ " + text
    return text


def _section_text(section: Section, budget: int) -> str:
    parts: list[str] = []
    if section.title:
        parts.append("**" + escape(section.title) + "**")
    if section.text:
        parts.append(escape(section.text))
    text = "\n".join(parts)
    if section.table is not None:
        remaining = budget - len(text) - 1
        if remaining > 20:
            table = _cut_code_block(render_table(section.table), remaining)
            text = (text + "\n" + table) if text else table
    return text


def render(
    reply: Reply, *, workspace_id: str = "", button_factory: Callable[[str, Button], discord.ui.Item] | None = None
) -> Rendered:
    """Render a Reply. `workspace_id` goes into button custom_ids so DM presses find their guild."""
    out = Rendered(ephemeral=reply.ephemeral)
    text = _simple_text(reply) if _is_simple(reply) else None
    if text is not None and len(text) <= CONTENT_MAX:
        out.content = text or None
    else:  # structure, or text longer than a message: embeds hold more (4096 per description)
        out.embeds = _embeds(reply)
    if reply.buttons:
        out.view = make_view(reply.buttons, workspace_id, button_factory)
    for att in (reply.image, reply.file):
        if att is not None:
            out.files.append(
                discord.File(
                    io.BytesIO(att.content), filename=_safe_filename(att.filename), description=att.alt[:1024] or None
                )
            )
    if reply.image is not None and out.embeds:
        out.embeds[0].set_image(url="attachment://" + _safe_filename(reply.image.filename))
    if not out.content and not out.embeds and not out.files:
        out.content = "✓"
    return out


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "file"


@dataclass
class _Group:
    title: str | None = None
    parts: list[str] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)


def _embeds(reply: Reply) -> list[discord.Embed]:
    """Sections -> embeds. A section's fields show right under its text, so a section with fields
    that follows other fields starts a new embed (titled by the section). Limits: ≤ 10 embeds,
    description ≤ 4096, ≤ 25 fields (name 256, value 1024), title 256, 6000 characters in all;
    whatever does not fit is cut, and the last embed's footer says so."""
    colour = ERROR if reply.is_error else BRAND
    groups: list[_Group] = [_Group(title=reply.title)]
    for section in reply.sections:
        g = groups[-1]
        if g.fields and len(groups) < EMBEDS_MAX:
            g = _Group(title=section.title)
            groups.append(g)
            text = _section_text(Section(text=section.text, table=section.table), DESCRIPTION_MAX)
        elif section.title and not g.title and not g.parts and not g.fields:
            g.title = section.title
            text = _section_text(Section(text=section.text, table=section.table), DESCRIPTION_MAX)
        else:
            text = _section_text(section, DESCRIPTION_MAX)
        if text:
            g.parts.append(text)
        g.fields.extend((f.label, f.value) for f in section.fields)

    reserve = len(CUT) + 24  # room for the footer that says something was cut
    budget = EMBED_TOTAL_MAX - reserve
    embeds: list[discord.Embed] = []
    lost = 0
    for g in groups:
        if budget <= 0:
            lost += 1
            continue
        title = cut(escape(g.title), min(TITLE_MAX, budget)) if g.title else None
        budget -= len(title or "")
        description = "\n\n".join(g.parts)
        room = min(DESCRIPTION_MAX, max(budget, 0))
        if len(description) > room:
            lost += 1
        description = cut(description, room) if description and room > len(CUT) else ""
        budget -= len(description)
        embed = discord.Embed(title=title, description=description or None, colour=colour)
        for label, value in g.fields:
            name = cut(escape(label), FIELD_NAME_MAX) or "\u200b"
            val = cut(escape(value), FIELD_VALUE_MAX) or "\u200b"
            if len(embed.fields) >= FIELDS_MAX or len(name) + len(val) > budget:
                lost += 1
                continue
            embed.add_field(name=name, value=val, inline=len(val) <= 40)
            budget -= len(name) + len(val)
        if title or description or embed.fields:
            embeds.append(embed)
    if not embeds:
        embeds.append(discord.Embed(colour=colour))
    if lost:
        embeds[-1].set_footer(text=f"{CUT}: too long for Discord")
    return embeds


def button_custom_id(workspace_id: str, action: str, value: str) -> str:
    return cut_raw(f"dare:{workspace_id}:{action}:{value}", CUSTOM_ID_MAX)


def cut_raw(text: str, limit: int) -> str:
    return text[:limit]


def make_view(
    buttons: tuple[Button, ...],
    workspace_id: str,
    button_factory: Callable[[str, Button], discord.ui.Item] | None = None,
) -> discord.ui.View:
    """A persistent view (timeout=None, every item with a custom_id): presses survive a restart because
    the client registers the dynamic button class at start (see discord_bot.DareButton)."""
    view = discord.ui.View(timeout=None)
    for b in buttons[:BUTTONS_MAX]:
        if button_factory is not None:
            view.add_item(button_factory(workspace_id, b))
        else:
            view.add_item(plain_button(workspace_id, b))
    return view


def button_style(b: Button) -> discord.ButtonStyle:
    return {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}.get(
        b.style or "", discord.ButtonStyle.secondary
    )


def plain_button(workspace_id: str, b: Button) -> discord.ui.Button:
    return discord.ui.Button(
        label=cut(b.label, LABEL_MAX),
        style=button_style(b),
        custom_id=button_custom_id(workspace_id, b.action, b.value),
    )


# ---------------------------------------------------------------------------------------------- forms


def form_custom_id(workspace_id: str, name: str) -> str:
    return cut_raw(f"{FORM_ID_PREFIX}:{workspace_id}:{name}", CUSTOM_ID_MAX)


OnSubmit = Callable[[discord.Interaction, dict[str, object]], Awaitable[None]]


class FormModal(discord.ui.Modal):
    """A bot.forms.Form as a Discord modal. Values come back typed as Engine.submit_form expects them:
    text/date/number as str, select as str, multi_select as list[str], checkbox as bool."""

    def __init__(self, form: Any, workspace_id: str, on_submit: OnSubmit) -> None:
        super().__init__(
            title=cut(form.title or form.name, MODAL_TITLE_MAX),
            custom_id=form_custom_id(workspace_id, form.name),
            timeout=900,
        )
        self.form = form
        self._on_submit = on_submit
        self._inputs: dict[str, tuple[str, discord.ui.Item]] = {}
        fields = list(form.fields)
        # Discord allows 5 components in a modal.
        # Over that, leave out optional dates first (they default to today), then the last optional ones.
        while len(fields) > MODAL_COMPONENTS_MAX:
            optional = [f for f in fields if not f.required]
            if not optional:
                fields = fields[:MODAL_COMPONENTS_MAX]
                break
            dates = [f for f in optional if f.kind == "date"]
            fields.remove(dates[0] if dates else optional[-1])
        for f in fields:
            item = _form_item(f)
            self._inputs[f.name] = (f.kind, item)
            self.add_item(discord.ui.Label(text=cut(f.label, MODAL_LABEL_MAX), component=item))

    def values(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, (kind, item) in self._inputs.items():
            if isinstance(item, discord.ui.TextInput):
                text = str(item.value or "")
                out[name] = (
                    [v.strip() for v in text.split(",") if v.strip()]
                    if kind == "multi_select"
                    else bool(text.strip())
                    if kind == "checkbox"
                    else text
                )
            elif kind == "select":
                vals = list(getattr(item, "values", []) or [])
                out[name] = str(vals[0]) if vals else ""
            elif kind == "multi_select":
                out[name] = [str(v) for v in (getattr(item, "values", []) or [])]
            elif kind == "checkbox":
                out[name] = bool(getattr(item, "value", False))
            else:
                out[name] = str(getattr(item, "value", "") or "")
        return out

    async def on_submit(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await self._on_submit(interaction, self.values())


def _form_item(f: Any) -> discord.ui.Item:
    custom_id = cut_raw(f.name, CUSTOM_ID_MAX)
    placeholder = cut(f.placeholder, 100) if getattr(f, "placeholder", "") else None
    initial = getattr(f, "initial", None)
    if f.kind in ("select", "multi_select") and 0 < len(f.options) <= SELECT_OPTIONS_MAX:
        options = [
            discord.SelectOption(
                label=cut(str(label), 100),
                value=cut_raw(str(value), 100),
                default=(
                    str(value) == str(initial)
                    if f.kind == "select"
                    else isinstance(initial, (list, tuple)) and str(value) in map(str, initial)
                ),
            )
            for value, label in f.options
        ]
        multi = f.kind == "multi_select"
        return discord.ui.Select(
            custom_id=custom_id,
            options=options,
            placeholder=placeholder,
            min_values=1 if f.required else 0,
            max_values=len(options) if multi else 1,
            required=f.required,
        )
    if f.kind == "checkbox":
        return discord.ui.Checkbox(custom_id=custom_id, default=bool(initial))
    if f.kind in ("select", "multi_select") and not placeholder:
        # more choices than a Discord select holds (25): typed instead, e.g. a contact's name
        placeholder = "one of: " + ", ".join(str(v) for v, _ in f.options[:5]) + (", …" if len(f.options) > 5 else "")
        placeholder = cut(placeholder, 100)
    style = discord.TextStyle.paragraph if f.kind == "long_text" else discord.TextStyle.short
    max_len = min(f.max_length or 4000, 4000)
    if f.kind == "date" and not placeholder:
        placeholder = "YYYY-MM-DD, today or yesterday"
    return discord.ui.TextInput(
        custom_id=custom_id,
        style=style,
        required=f.required,
        placeholder=placeholder,
        default=cut(str(initial), max_len) if initial not in (None, "") else None,
        max_length=max_len,
    )
