"""Checks on user-supplied text, shared by the text grammar, modals and app-command options."""

from __future__ import annotations

import re
import unicodedata

from bot.errors import UsageError

# Generous but bounded: every platform renders these without cutting.
NAME_MAX = 80
SHORT_MAX = 120
NOTE_MAX = 1500
STORY_MAX = 3000

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\u200b-\u200f]")


def clean_text(value: str, *, what: str, max_len: int, multiline: bool = False,
               field: str | None = None, required: bool = True) -> str:
    """Trim, reject control characters and over-long text; return the cleaned value."""
    value = unicodedata.normalize("NFC", value).strip()
    if not multiline and ("\n" in value or "\r" in value):
        raise UsageError(f"{what} must be on one line.", field=field)
    probe = value.replace("\n", "").replace("\r", "").replace("\t", " ") if multiline else value.replace("\t", " ")
    if _CONTROL.search(probe):
        raise UsageError(f"{what} contains control characters; type it as plain text.", field=field)
    if required and not value:
        raise UsageError(f"{what} can't be empty.", field=field)
    if len(value) > max_len:
        raise UsageError(f"{what} is {len(value)} characters; the limit is {max_len}.", field=field)
    return value.replace("\t", " ")


def name_key(name: str) -> str:
    """The form under which names are compared: case- and space-insensitive."""
    return " ".join(name.casefold().split())
