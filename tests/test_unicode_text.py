"""Real names and stories in any script pass; only control characters and bidi overrides are refused."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UsageError
from bot.validate import clean_text
from tests.fakes.chat import Chat

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
BREAKS = "\n\r\u2028\u2029\x85\x0b\x0c"
ALLOWED = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=BIDI + BREAKS)
JOINERS = st.sampled_from(
    [
        "\u200d",
        "\u200c",
        "\ufe0f",
        "\ufe0e",
        "\u200e",
        "\u200f",
        "\U000e0067",
        "👩",
        "💻",
        "مریم",
        "שלום",
        "हिन्दी",
        "🏳️‍🌈",
        "\u0301",
    ]
)
TEXT = st.lists(st.one_of(ALLOWED, JOINERS), min_size=1, max_size=40).map("".join)


@given(TEXT)
def test_every_printable_character_is_allowed(text: str) -> None:
    expected = unicodedata.normalize("NFC", text).strip()
    if not expected:
        with pytest.raises(UsageError, match="empty"):
            clean_text(text, what="Name", max_len=500)
        return
    assert clean_text(text, what="Name", max_len=500) == expected
    assert clean_text(text, what="Story", max_len=500, multiline=True) == expected


@given(
    TEXT,
    st.sampled_from([chr(c) for c in range(0x20) if chr(c) not in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"] + ["\x7f", "\x9b"]),
    TEXT,
)
def test_control_characters_are_refused(head: str, control: str, tail: str) -> None:
    with pytest.raises(UsageError, match="control characters"):
        clean_text(head + control + "x" + tail, what="Name", max_len=500)


@given(st.sampled_from(list(BIDI)))
def test_bidi_overrides_are_refused_with_a_reason(ch: str) -> None:
    with pytest.raises(UsageError, match="text-direction"):
        clean_text("moc." + ch + "live", what="Name", max_len=80)


def test_lone_surrogates_are_refused_not_crashed_on() -> None:
    with pytest.raises(UsageError):
        clean_text("a\ud800b", what="Name", max_len=80)


NAMES = ["Emoji 👩‍💻 Dev", "Family 👨‍👩‍👧", "مریم می‌خواهد", "José Ñúñez", "李小龍", "Ελένη", "🏳️‍🌈 Pride", "नमस्ते जी"]


@pytest.mark.parametrize("name", NAMES)
def test_real_names_and_stories_are_recorded(tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    chat = Chat.open(f"sqlite:///{tmp_path}/u.sqlite3")
    try:
        chat.ok("prof", f'/dare cohort create "{name}"')
        chat.ok("ann", f'/dare cohort join "{name}"')
        assert name in chat.ok("ann", f'/dare contact "{name}"')
        chat.ok("ann", f"/dare story {name} said yes --to cohort")
    finally:
        chat.db.dispose()


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=60))
def test_printable_ascii_takes_the_short_path_to_the_same_result(text: str) -> None:
    """clean_text skips the per-character checks for printable ASCII: what it returns must be what the full
    checks (bot.validate._checked) return for the same text."""
    from bot.validate import _checked

    full = _checked(text, what="Name", multiline=False, field=None)
    if not full:
        with pytest.raises(UsageError):
            clean_text(text, what="Name", max_len=100)
        return
    assert clean_text(text, what="Name", max_len=100) == full
