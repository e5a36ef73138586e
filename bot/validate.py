"""Checks on user-supplied text, shared by the text grammar, modals and app-command options."""

from __future__ import annotations

import unicodedata

from bot.errors import UsageError

# Generous but bounded: every platform renders these without cutting.
NAME_MAX = 80
SHORT_MAX = 120
NOTE_MAX = 1500
STORY_MAX = 3000

# Refused: true control characters (Cc: NUL, BEL, ESC...), lone surrogates (Cs: not characters at
# all; they can't be stored as UTF-8), and the explicit bidi embeddings, overrides and isolates.
# The last are refused because they reorder what follows them on screen: a name with U+202E shows
# "evil.com" as "moc.live", and an unclosed one spills into the rest of a board row that other people
# read. Everything else is allowed: joiners (ZWJ/ZWNJ, needed by emoji sequences and Persian, Hindi...),
# variation selectors, tag characters (flag sequences), right-to-left letters and the LRM/RLM marks
# keyboards insert, private-use and not-yet-assigned code points (newer emoji than this Python knows).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = ("\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c")


def _refused(ch: str) -> bool:
    return ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs")


def clean_text(
    value: str, *, what: str, max_len: int, multiline: bool = False, field: str | None = None, required: bool = True
) -> str:
    """Trim, reject control characters and over-long text; return the cleaned value."""
    if value.isascii() and value.isprintable():
        # Most text: printable ASCII has nothing the checks below refuse or NFC changes (no control
        # character, tab or line break, no surrogate, no bidi control), and they cost a loop a character.
        value = value.strip()
    else:
        value = _checked(value, what=what, multiline=multiline, field=field)
    if required and not value:
        raise UsageError(f"{what} can't be empty.", field=field)
    if len(value) > max_len:
        raise UsageError(f"{what} is {len(value)} characters; the limit is {max_len}.", field=field)
    return value


def _checked(value: str, *, what: str, multiline: bool, field: str | None) -> str:
    """Any text: trimmed and normalized (NFC, tabs as spaces), or refused for what it contains."""
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        raise UsageError(f"{what} contains an invalid character; type it as plain text.", field=field)
    value = unicodedata.normalize("NFC", value).strip()
    if not multiline and any(b in value for b in _LINE_BREAKS):
        raise UsageError(f"{what} must be on one line.", field=field)
    probe = value.replace("\n", "").replace("\r", "").replace("\t", " ") if multiline else value.replace("\t", " ")
    if multiline:
        probe = probe.replace("\u2028", "").replace("\u2029", "")
    if any(ch in _BIDI_CONTROLS for ch in probe):
        raise UsageError(
            f"{what} contains a text-direction override, which can make text read differently "
            "from what it says; type it without one.",
            field=field,
        )
    if any(_refused(ch) for ch in probe):
        raise UsageError(f"{what} contains control characters; type it as plain text.", field=field)
    return value.replace("\t", " ")


def name_key(name: str) -> str:
    """The form under which names are compared: case- and space-insensitive."""
    return " ".join(name.casefold().split())


def typed(name: str) -> str:
    """A name as it must be typed in a command: quoted when it holds a space (the parser splits on them)."""
    return f'"{name}"' if any(ch.isspace() for ch in name) else name
