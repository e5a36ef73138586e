"""Reply -> Block Kit, Form -> modal view, modal state -> form values. Pure functions, no I/O.

Every user-visible string from the engine is plain text. In mrkdwn it is escaped (`&`, `<`, `>`
and nothing else, as Slack asks), so `<!channel>` typed by a user is shown and never pings;
plain_text objects are not scanned for mentions and are only cut to size. Slack's limits are kept
here, each with a visible cut mark rather than a refused message (`invalid_blocks` loses it):
section text 3000, ≤ 10 fields of 2000, header 150, ≤ 50 blocks per message (100 in modals and
App Home), modal title/submit/close 24, ≤ 25 buttons per actions block, option text 75.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bot.grammar import user_token
from bot.replies import Button, Reply, Section, Table, render_table

if TYPE_CHECKING:  # bot.forms is the engine's; only its attributes are used here
    from bot.forms import Form, FormField

SECTION_TEXT = 3000
FIELD_TEXT = 2000
MAX_FIELDS = 10
HEADER_TEXT = 150
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MODAL_TITLE = 24
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
ACTION_ID = 255
BUTTONS_PER_BLOCK = 25
OPTION_TEXT = 75
OPTION_VALUE = 150
MAX_OPTIONS = 100
LABEL_TEXT = 2000
PLACEHOLDER_TEXT = 150
FALLBACK_TEXT = 3000
METADATA = 3000

CUT = "… (cut)"
ACTION_PREFIX = "darebot:"
FORM_CALLBACK_PREFIX = "darebot.form:"
VALUE_ACTION = "value"

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


# ---------------------------------------------------------------------- text primitives


def escape(text: str) -> str:
    """Escape for mrkdwn: `&`, `<`, `>` only (Slack's rule). Mentions typed as text stay text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_cut(text: str, limit: int, mark: str = CUT) -> str:
    """Escape, then fit in `limit` characters; an entity is never split, a cut is always marked."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    budget = max(0, limit - len(mark))
    out: list[str] = []
    used = 0
    for ch in text:
        piece = _ESCAPES.get(ch, ch)
        if used + len(piece) > budget:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + mark[: limit - used]


def cut(text: str, limit: int, mark: str = CUT) -> str:
    """Fit plain text (plain_text objects, which Slack does not parse) in `limit` characters."""
    if len(text) <= limit:
        return text
    if limit <= len(mark):
        return text[:limit]
    return text[: limit - len(mark)] + mark


def file_text(text: str, limit: int) -> str:
    """A file's title or alt text: one line, with no `<`, `>` or `&` Slack could read as a mention
    or link (`<!channel>` shows as ‹!channel›)."""
    flat = " ".join(text.split())
    return cut(flat.replace("<", "‹").replace(">", "›").replace("&", "＆"), limit)


def file_name(name: str) -> str:
    """A file name of letters, digits, dot, dash and underscore only."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100].lstrip(".") or "file"


def plain(text: str, limit: int, *, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit) or " ", "emoji": emoji}


def mrkdwn(escaped_text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": escaped_text}


def _code_safe(text: str) -> str:
    """Text shown inside ``` cannot close the block early."""
    return text.replace("`", "ˋ")


# ---------------------------------------------------------------------- replies


def _text_chunks(text: str, limit: int) -> list[str]:
    """Escaped chunks of at most `limit` characters, split at line ends where possible."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        esc = escape(line)
        if len(esc) > limit:
            esc = escape_cut(line, limit)
        candidate = esc if not current else current + "\n" + esc
        if len(candidate) <= limit:
            current = candidate
        else:
            chunks.append(current)
            current = esc
    if current or not chunks:
        chunks.append(current)
    return [c for c in chunks if c.strip()]


def _table_blocks(table: Table) -> list[dict[str, Any]]:
    """A table as preformatted text; long tables continue in further blocks, header repeated."""
    rendered = render_table(table).split("\n")
    head, body = rendered[:2], rendered[2:]
    head_esc = [escape(_code_safe(line)) for line in head]
    frame = len("```\n") + len("\n```")
    blocks: list[dict[str, Any]] = []
    page: list[str] = list(head_esc)

    def size(lines: list[str]) -> int:
        return sum(len(x) + 1 for x in lines) + frame

    for line in body:
        esc = escape(_code_safe(line))
        room = SECTION_TEXT - size(head_esc) - 1
        if len(esc) > room:
            esc = escape_cut(_code_safe(line), room)
        if size(page + [esc]) > SECTION_TEXT:
            blocks.append({"type": "section", "text": mrkdwn("```\n" + "\n".join(page) + "\n```")})
            page = list(head_esc)
        page.append(esc)
    blocks.append({"type": "section", "text": mrkdwn("```\n" + "\n".join(page) + "\n```")})
    return blocks


def _section_blocks(section: Section) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = section.text or ""
    title_md = f"*{escape_cut(section.title, 300)}*" if section.title else ""
    chunks = _text_chunks(text, SECTION_TEXT) if text.strip() else []
    if title_md:
        if chunks and len(title_md) + 1 + len(chunks[0]) <= SECTION_TEXT:
            chunks[0] = title_md + "\n" + chunks[0]
        else:
            chunks.insert(0, title_md)
    for chunk in chunks:
        blocks.append({"type": "section", "text": mrkdwn(chunk)})
    fields = list(section.fields)
    for start in range(0, len(fields), MAX_FIELDS):
        group = fields[start : start + MAX_FIELDS]
        items = []
        for f in group:
            label = escape_cut(f.label, 200)
            value = escape_cut(f.value, FIELD_TEXT - len(label) - 4)
            items.append(mrkdwn(f"*{label}*\n{value}"))
        blocks.append({"type": "section", "fields": items})
    if section.table is not None:
        blocks.extend(_table_blocks(section.table))
    return blocks


def encode_action_id(action: str, index: int) -> str:
    return cut(f"{ACTION_PREFIX}{action}#{index}", ACTION_ID, "")


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")


def neutral_mentions(text: str) -> str:
    """Slack's escaped user mentions (`<@U123|ada>`) as the engine's neutral `@U123|ada`."""
    return _MENTION.sub(lambda m: user_token(m.group(1), m.group(2) or ""), text)


def decode_action_id(action_id: str) -> str:
    """`darebot:nudge.snooze#1` -> `nudge.snooze`."""
    body = action_id[len(ACTION_PREFIX) :] if action_id.startswith(ACTION_PREFIX) else action_id
    return body.rsplit("#", 1)[0]


def _button(button: Button, index: int) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(button.label, BUTTON_TEXT),
        "action_id": encode_action_id(button.action, index),
    }
    if button.value:
        element["value"] = button.value[:BUTTON_VALUE]
    if button.style in ("primary", "danger"):
        element["style"] = button.style
    return element


def _button_blocks(buttons: Sequence[Button]) -> list[dict[str, Any]]:
    blocks = []
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        group = buttons[start : start + BUTTONS_PER_BLOCK]
        blocks.append(
            {
                "type": "actions",
                "block_id": f"darebot.actions.{start // BUTTONS_PER_BLOCK}",
                "elements": [_button(b, start + i) for i, b in enumerate(group)],
            }
        )
    return blocks


def render_blocks(reply: Reply, *, max_blocks: int = MESSAGE_BLOCKS) -> list[dict[str, Any]]:
    """The reply's blocks, never more than `max_blocks`: the excess is cut with a visible note."""
    body: list[dict[str, Any]] = []
    if reply.title:
        title = (":warning: " if reply.is_error else "") + reply.title
        body.append({"type": "header", "text": plain(title, HEADER_TEXT)})
    for i, section in enumerate(reply.sections):
        if i == 0 and reply.is_error and not reply.title and section.text:
            section = replace(section, text=":warning: " + section.text)
        blocks = _section_blocks(section)
        if i and blocks and reply.sections[i - 1].table is not None:
            body.append({"type": "divider"})
        body.extend(blocks)
    # The adapter uploads the image (the report's chart) and the file (a CSV export) to the
    # person's DM after the answer (Block Kit can't carry the bytes); the message says where they went.
    notes = []
    if reply.image is not None:
        notes.append(f"Chart: {reply.image.filename}, sent to you by DM")
    if reply.file is not None:
        notes.append(f"File: {reply.file.filename} ({len(reply.file.content)} bytes), sent to you by DM")
    if notes:
        body.append({"type": "context", "elements": [mrkdwn(escape_cut(n, 300)) for n in notes]})
    tail = _button_blocks(reply.buttons)
    if len(body) + len(tail) > max_blocks:
        keep = max(0, max_blocks - len(tail) - 1)
        hidden = len(body) - keep
        body = body[:keep]
        body.append(
            {
                "type": "context",
                "elements": [mrkdwn(f"… (cut: {hidden} more part{'s' if hidden != 1 else ''} not shown)")],
            }
        )
        tail = tail[: max_blocks - len(body)]
    if not body and not tail:
        body.append({"type": "section", "text": mrkdwn(" ")})
    return body + tail


def fallback_text(reply: Reply) -> str:
    """The top-level `text` (notifications, screen readers): escaped, it is mrkdwn too."""
    return escape_cut(reply.plain_text() or " ", FALLBACK_TEXT)


def render_message(reply: Reply) -> dict[str, Any]:
    """Arguments for chat.postMessage / respond(): `text` and `blocks`."""
    return {"text": fallback_text(reply), "blocks": render_blocks(reply, max_blocks=MESSAGE_BLOCKS)}


def render_home(reply: Reply) -> dict[str, Any]:
    return {"type": "home", "blocks": render_blocks(reply, max_blocks=VIEW_BLOCKS)}


def render_result_modal(reply: Reply, *, title: str = "darebot") -> dict[str, Any]:
    """The view a submitted modal turns into (response_action "update"): the engine's answer."""
    return {
        "type": "modal",
        "callback_id": "darebot.result",
        "title": plain(title, MODAL_TITLE),
        "close": plain("Done", MODAL_TITLE),
        "blocks": render_blocks(reply, max_blocks=VIEW_BLOCKS),
    }


# ---------------------------------------------------------------------- forms


def _option(value: object, label: str) -> dict[str, Any]:
    return {"text": plain(str(label), OPTION_TEXT), "value": str(value)[:OPTION_VALUE]}


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _element(field: FormField) -> dict[str, Any]:
    kind = field.kind
    initial = getattr(field, "initial", None)
    placeholder = getattr(field, "placeholder", "") or ""
    options = [_option(v, lbl) for v, lbl in tuple(getattr(field, "options", ()) or ())[:MAX_OPTIONS]]
    el: dict[str, Any]
    if kind in ("text", "long_text"):
        el = {"type": "plain_text_input", "action_id": VALUE_ACTION, "multiline": kind == "long_text"}
        max_length = getattr(field, "max_length", None)
        if max_length:
            el["max_length"] = min(int(max_length), 3000)
        if initial not in (None, ""):
            el["initial_value"] = _as_text(initial)[: el.get("max_length", 3000)]
    elif kind == "number":
        el = {"type": "number_input", "action_id": VALUE_ACTION, "is_decimal_allowed": False}
        if initial not in (None, ""):
            el["initial_value"] = _as_text(initial)
    elif kind == "date":
        el = {"type": "datepicker", "action_id": VALUE_ACTION}
        if initial not in (None, ""):
            el["initial_date"] = _as_text(initial)
    elif kind == "select":
        el = {"type": "static_select", "action_id": VALUE_ACTION, "options": options}
        chosen = [o for o in options if initial is not None and o["value"] == str(initial)]
        if chosen:
            el["initial_option"] = chosen[0]
    elif kind == "multi_select":
        el = {"type": "multi_static_select", "action_id": VALUE_ACTION, "options": options}
        wanted = {str(v) for v in (initial or ())} if isinstance(initial, (list, tuple, set, frozenset)) else set()
        chosen = [o for o in options if o["value"] in wanted]
        if chosen:
            el["initial_options"] = chosen
    elif kind == "checkbox":
        box = _option("yes", field.label)
        el = {"type": "checkboxes", "action_id": VALUE_ACTION, "options": [box]}
        if initial:
            el["initial_options"] = [box]
    else:
        raise ValueError(f"unknown form field kind {kind!r}")
    if placeholder and kind not in ("checkbox", "date") or placeholder and kind == "date":
        el["placeholder"] = plain(placeholder, PLACEHOLDER_TEXT)
    if kind in ("select", "multi_select") and not options:
        # Slack refuses a select without options; show a disabled-looking text input instead.
        el = {"type": "plain_text_input", "action_id": VALUE_ACTION}
        if placeholder:
            el["placeholder"] = plain(placeholder, PLACEHOLDER_TEXT)
    return el


def form_callback_id(name: str) -> str:
    return FORM_CALLBACK_PREFIX + name


def form_name(callback_id: str) -> str | None:
    return callback_id[len(FORM_CALLBACK_PREFIX) :] if callback_id.startswith(FORM_CALLBACK_PREFIX) else None


def modal_channel(view: Mapping[str, Any]) -> str:
    """The channel a modal was opened from, as render_modal stored it (empty when unknown)."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return ""
    channel = meta.get("channel") if isinstance(meta, dict) else None
    return channel if isinstance(channel, str) else ""


def render_modal(form: Form, *, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Form as a modal view. Block ids are the field names, so errors map back inline."""
    blocks: list[dict[str, Any]] = []
    for field in tuple(form.fields)[:VIEW_BLOCKS]:
        block: dict[str, Any] = {
            "type": "input",
            "block_id": field.name,
            "label": plain(field.label, LABEL_TEXT),
            "element": _element(field),
            "optional": not bool(getattr(field, "required", False)),
        }
        blocks.append(block)
    meta = json.dumps(dict(metadata or {}), separators=(",", ":"))
    if len(meta) > METADATA:
        meta = "{}"
    return {
        "type": "modal",
        "callback_id": form_callback_id(form.name),
        "title": plain(form.title, MODAL_TITLE),
        "submit": plain(getattr(form, "submit_label", "") or "Save", MODAL_TITLE),
        "close": plain("Cancel", MODAL_TITLE),
        "private_metadata": meta,
        "blocks": blocks,
    }


def form_values(form: Form, state_values: Mapping[str, Mapping[str, Any]]) -> dict[str, object]:
    """view.state.values -> the dict Engine.submit_form takes (text/date/number/select as str,
    multi_select as list[str], checkbox as bool). Fields left empty come back as "" / [] / False."""
    values: dict[str, object] = {}
    for field in form.fields:
        node = (state_values.get(field.name) or {}).get(VALUE_ACTION) or {}
        kind = field.kind
        if kind == "date":
            values[field.name] = node.get("selected_date") or ""
        elif kind == "select":
            if "selected_option" in node or node.get("type") == "static_select":
                values[field.name] = (node.get("selected_option") or {}).get("value", "")
            else:
                values[field.name] = node.get("value") or ""
        elif kind == "multi_select":
            if "value" in node:
                raw = node.get("value") or ""
                values[field.name] = [p.strip() for p in raw.split(",") if p.strip()]
            else:
                values[field.name] = [o.get("value", "") for o in node.get("selected_options") or []]
        elif kind == "checkbox":
            values[field.name] = bool(node.get("selected_options"))
        else:
            values[field.name] = node.get("value") or ""
    return values


def field_errors(form: Form, field: str | None, message: str) -> dict[str, str]:
    """response_action "errors": the message under the named field (else the first one)."""
    names = [f.name for f in form.fields]
    target = field if field in names else (names[0] if names else "")
    return {target: cut(message, 2000)} if target else {}


def iter_text(obj: Any) -> Iterable[tuple[str, str]]:
    """(type, text) for every text object in a payload: tests check mrkdwn is escaped."""
    if isinstance(obj, Mapping):
        if obj.get("type") in ("mrkdwn", "plain_text") and isinstance(obj.get("text"), str):
            yield obj["type"], obj["text"]
        for value in obj.values():
            yield from iter_text(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from iter_text(value)
