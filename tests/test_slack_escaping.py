"""Slack: user text never becomes a mention or link in mrkdwn, file titles or alt text; a cohort name
that looks like a mention or mathtext still gets its chart, titled harmlessly."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import slack_render as r
from adapters.slack_files import file_uploads
from bot.replies import Attachment, Reply
from tests.fakes.slack_harness import TEAM, SlackHarness

PIECES = st.sampled_from(
    [
        "<!channel>",
        "<!here>",
        "<@U123>",
        "<#C1|x>",
        "<https://evil.example|Claim>",
        "&",
        "&lt;",
        "<",
        ">",
        "*b*",
        "_i_",
        "`c`",
        "\n",
        "$\\frac$",
        "é",
        "👩‍💻",
    ]
)
TEXT = st.one_of(st.text(max_size=60), st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=12).map("".join))


@given(TEXT)
def test_mrkdwn_escape_leaves_no_angle_brackets_and_round_trips(text: str) -> None:
    out = r.escape(text)
    assert "<" not in out and ">" not in out
    assert html.unescape(out) == text or "&" in text  # html.unescape also reads entities the text itself contained
    assert out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text


@given(TEXT)
def test_file_titles_and_alt_text_carry_no_mention_or_link(text: str) -> None:
    reply = Reply(
        title=text, image=Attachment(text + ".png", b"x", "image/png"), file=Attachment(text + ".csv", b"x", "text/csv")
    )
    for upload in file_uploads(reply):
        for key in ("title", "alt_txt", "filename"):
            value = upload.get(key, "")
            assert "<" not in value and ">" not in value and "&" not in value and "\n" not in value
        assert not upload["filename"].startswith(".")


@pytest.fixture
def h(tmp_path) -> Iterator[SlackHarness]:  # type: ignore[no-untyped-def]
    harness = SlackHarness(f"sqlite:///{tmp_path}/darebot.sqlite3")
    harness.fake.add_user(TEAM, "UINS", "ines")
    harness.fake.add_user(TEAM, "UA", "ada")
    try:
        yield harness
    finally:
        harness.close()


@pytest.mark.parametrize("name", ["<!channel>", "$\\frac{a}$ cohort"])
def test_a_chart_from_a_hostile_cohort_name_is_uploaded_with_a_harmless_title(h: SlackHarness, name: str) -> None:
    created = h.reply(h.slack.command("UINS", f'cohort create "{name}"'))
    assert "Cohort created" in created["text"], created
    h.slack.command("UA", f'cohort join "{name}"')
    h.slack.command("UINS", f'start "{name}"')
    h.reply(h.slack.command("UINS", f'report "{name}"'))
    h.fake.wait_for_calls("files.completeUploadExternal")
    h.drain()
    [chart] = h.fake.shared_files()
    assert "<" not in chart.title and "<!channel>" not in chart.alt_txt
    assert chart.content and chart.content.startswith(b"\x89PNG")


@pytest.mark.parametrize("title", ["$\\frac{a}$", "$$", "a $x^$ b", "\\$"])
def test_a_chart_title_is_text_not_mathtext(title: str) -> None:
    from bot.charts import funnel_chart
    from bot.stats import Funnel

    assert funnel_chart(title, Funnel(4, 3, 2, 1, 1)).startswith(b"\x89PNG")
