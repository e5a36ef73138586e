"""Property tests: dashboard links refuse any change; chart titles always fit; `progress` reads its optional @user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import commands as c
from bot.charts import fit_title
from bot.dashboard import LinkRefused, sign, verify
from bot.grammar import parse

KEY = b"k" * 32
NOW = datetime(2026, 9, 7, 12, 0, tzinfo=UTC)
TOKEN = sign(KEY, 7, 42, NOW + timedelta(hours=24))
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(TOKEN) - 1), st.sampled_from(ALPHABET))
def test_any_changed_character_is_refused(i: int, ch: str) -> None:
    changed = TOKEN[:i] + ch + TOKEN[i + 1 :]
    if changed == TOKEN:
        assert verify(KEY, changed, NOW) == (7, 42)
        return
    with pytest.raises(LinkRefused, match="changed"):
        verify(KEY, changed, NOW)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
)
def test_links_open_until_they_expire(ws: int, person: int, seconds: int) -> None:
    expires = NOW + timedelta(seconds=seconds)
    token = sign(KEY, ws, person, expires)
    if seconds >= 1:
        assert verify(KEY, token, NOW) == (ws, person)
    with pytest.raises(LinkRefused, match="expired"):
        verify(KEY, token, expires)
    with pytest.raises(LinkRefused):
        verify(b"other" * 7, token, NOW)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=400))
def test_chart_titles_fit_two_lines(name: str) -> None:
    lines = fit_title(name).split("\n")
    assert len(lines) <= 2 and all(len(line) <= 56 for line in lines)


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True))
def test_progress_takes_an_optional_user_then_a_cohort(name: str) -> None:
    assert parse(f"progress {name}") == c.Progress(None, name)
    assert parse(f"progress @ann {name}") == c.Progress(c.UserRef("ann", "ann"), name)
    assert parse("progress @ann") == c.Progress(c.UserRef("ann", "ann"), None)
