"""Plain text -> Discord markdown that shows exactly that text: no formatting, no link, no mention.

`discord.utils.escape_markdown` leaves URLs alone and escapes only some brackets, so a story such as
`[x](https://a.example) [Claim your reward](https://evil.example)` still rendered a live masked link.
This escaper does not try to recognise constructs: Discord's parser (simple-markdown) reads a
backslash before any ASCII punctuation as that character, so every character that can start or end
a construct is escaped wherever it stands. That covers masked links and autolinks, bold/italic/
underline/strike, spoilers, inline and block code, headings, subtext (-#), lists, block quotes,
mentions (<@…>, <#…>, <@&…>, @everyone, @here), custom emoji (<:name:id>) and timestamps (<t:…>).
Every `@` is also followed by a zero-width space, so `@everyone`/`@here` never appear as such even
to a client that ignores the backslash. `unescape` gives the text back exactly. Messages are also
sent with AllowedMentions.none().
"""

from __future__ import annotations

import re

# Every character that opens, closes or marks a construct; the backslash itself first.
SPECIAL = "\\*_~`|[]()<>#-+.:@!"
_SPECIAL = re.compile("([" + re.escape(SPECIAL) + "])")
_ESCAPED = re.compile(r"\\([" + re.escape(SPECIAL) + "])")


ZWSP = "\u200b"


def escape(text: str) -> str:
    """`text` as Discord shows it literally."""
    return _SPECIAL.sub(r"\\\1", text).replace("@", "@" + ZWSP)


def unescape(rendered: str) -> str:
    """The inverse of `escape`."""
    return _ESCAPED.sub(r"\1", rendered.replace("\\@" + ZWSP, "\\@"))
