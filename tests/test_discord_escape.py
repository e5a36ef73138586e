"""Discord escaping: whatever a person types shows literally, in any position, and pings no one."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from adapters.discord_escape import SPECIAL, escape, unescape
from adapters.discord_render import render
from bot.replies import Field, Reply, Section

PIECES = st.sampled_from(
    [
        "[x](https://a.example)",
        "[Claim your reward here](https://evil.example/login)",
        "[[a]]",
        "](",
        "[",
        "]",
        "(",
        ")",
        "<@123>",
        "<@!123>",
        "<@&9>",
        "<#42>",
        "@everyone",
        "@here",
        "<:emo:123>",
        "<a:emo:1>",
        "<t:1700000000:R>",
        "# ",
        "## ",
        "### ",
        "-# ",
        "- ",
        "* ",
        "1. ",
        "> ",
        ">>> ",
        "||",
        "**",
        "__",
        "~~",
        "*",
        "_",
        "`",
        "```",
        "\\",
        "\n",
        " ",
        "https://evil.example",
        "<https://x.example>",
        "word",
        "é",
        "👩‍💻",
    ]
)
TEXT = st.one_of(st.text(max_size=80), st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=20).map("".join))


def _bare_specials(out: str) -> list[int]:
    """Positions of special characters not escaped by a backslash."""
    bad, i = [], 0
    while i < len(out):
        if out[i] == "\\":
            if i + 1 >= len(out) or out[i + 1] not in SPECIAL:
                bad.append(i)
            i += 2
            continue
        if out[i] in SPECIAL:
            bad.append(i)
        i += 1
    return bad


def _strip_escapes(out: str) -> str:
    return re.sub(r"\\.", "\x00", out, flags=re.S)


@given(TEXT)
def test_escape_round_trips_and_leaves_nothing_live(text: str) -> None:
    out = escape(text)
    assert unescape(out) == text
    assert _bare_specials(out) == []
    live = _strip_escapes(out)
    for construct in ("](", "<@", "<#", "<:", "<t:", "||", "**", "__", "~~", "`", "@everyone", "@here", "://"):
        assert construct not in live
    for line in live.split("\n"):
        assert not line.lstrip().startswith(("#", ">", "-", "*", "+"))


@given(TEXT)
def test_rendered_replies_carry_no_live_link_or_mention(text: str) -> None:
    reply = Reply(
        title=text[:50], sections=(Section(title="Board", text=text, fields=(Field(text[:20] or "x", text),)),)
    )
    rendered = render(reply)
    parts = [rendered.content or ""]
    for embed in rendered.embeds:
        parts += (
            [embed.title or "", embed.description or ""]
            + [f.name or "" for f in embed.fields]
            + [f.value or "" for f in embed.fields]
        )
    for part in parts:
        live = _strip_escapes(part)
        assert "](" not in live and "<@" not in live and "@everyone" not in live


def test_the_reported_story_is_not_a_link() -> None:
    story = "[x](https://a.example) [Claim your reward here](https://evil.example/login)"
    out = render(Reply(title="Board", sections=(Section(text=story),))).content or ""
    assert "](" not in _strip_escapes(out)
    assert unescape(out.split("\n", 1)[1]) == story
