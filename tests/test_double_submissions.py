"""Double submissions record once: the same write command twice within seconds, and a double click on
"Post to channel" (two trigger_ids, one message). Engine on both databases, and Slack over signed HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from adapters import slack_render as r
from storage.models import Outreach, RecruiterCall, Story
from tests.fakes.chat import Chat
from tests.fakes.slack_harness import TEAM, SlackHarness


def _count(db, table) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def chat(db_url: str) -> Iterator[Chat]:
    chat = Chat.with_contact(db_url)
    try:
        yield chat
    finally:
        chat.db.dispose()


def test_the_same_story_twice_is_saved_once(chat: Chat) -> None:
    chat.ok("ann", "/dare story I asked Ada for advice --to cohort")
    chat.wait(seconds=3)
    again = chat.err("ann", "/dare   story I asked Ada for advice  --to cohort")  # spacing differs: same command
    assert "Already recorded" in again
    assert _count(chat.db, Story) == 1
    chat.wait(seconds=11)  # outside the window, it is a new story
    chat.ok("ann", "/dare story I asked Ada for advice --to cohort")
    assert _count(chat.db, Story) == 2


def test_recruiter_and_outreach_twice_are_saved_once(chat: Chat) -> None:
    chat.ok("ann", "/dare recruiter Acme --role Analyst")
    chat.err("ann", "/dare recruiter Acme --role Analyst")
    chat.ok("ann", '/dare outreach "Ada" --via email')
    chat.err("ann", '/dare outreach "Ada" --via email')
    assert _count(chat.db, RecruiterCall) == 1
    assert _count(chat.db, Outreach) == 1


def test_different_people_or_commands_are_not_duplicates(chat: Chat) -> None:
    chat.ok("ann", "/dare story one")
    chat.ok("ann", "/dare story two")
    chat.ok("prof", "/dare story one")
    assert _count(chat.db, Story) == 3


def test_reads_may_repeat(chat: Chat) -> None:
    for _ in range(2):
        chat.ok("ann", "/dare progress")
        chat.ok("ann", "/dare board CS101")
        chat.ok("prof", "/dare report CS101")


def test_a_refused_command_leaves_no_key_and_can_be_sent_again(chat: Chat) -> None:
    chat.err("ann", '/dare outreach "Bob"')
    chat.ok("ann", '/dare contact "Bob"')
    chat.ok("ann", '/dare outreach "Bob"')  # the same text, refused a moment ago, now recorded
    assert _count(chat.db, Outreach) == 1


def test_expired_keys_are_cleaned_by_the_sweep(chat: Chat) -> None:
    from bot.dedupe import purge_expired
    from storage.models import ProcessedEvent

    for i in range(5):
        chat.ok("ann", f"/dare story number {i}")
    chat.wait(minutes=1)
    chat.ok("ann", "/dare story later")
    with chat.db.session() as s:
        assert purge_expired(s, chat.clock.now()) >= 5  # the stories, and the set-up commands before them
    with chat.db.session() as s:
        keys = s.execute(select(ProcessedEvent.key).where(ProcessedEvent.key.startswith("dedupe:"))).scalars().all()  # type: ignore[attr-defined]
    assert len(keys) == 1


# -- Slack, over signed HTTP -------------------------------------------------------------------


@pytest.fixture
def h(tmp_path) -> Iterator[SlackHarness]:  # type: ignore[no-untyped-def]
    harness = SlackHarness(f"sqlite:///{tmp_path}/darebot.sqlite3")
    for uid, name in (("UINS", "ines"), ("UA", "ada")):
        harness.fake.add_user(TEAM, uid, name)
    try:
        yield harness
    finally:
        harness.close()


def test_slack_double_story_and_recruiter_record_once(h: SlackHarness) -> None:
    assert h.slack.command("UINS", "cohort create Spring26").status == 200
    h.slack.command("UA", "cohort join Spring26")
    first = h.reply(h.slack.command("UA", "story Ada said yes --to instructor"))
    second = h.reply(h.slack.command("UA", "story Ada said yes --to instructor"))
    assert "Already recorded" not in first["text"] and "Already recorded" in second["text"]
    h.slack.command("UA", "recruiter Acme")
    assert "Already recorded" in h.reply(h.slack.command("UA", "recruiter Acme"))["text"]
    assert _count(h.db, Story) == 1 and _count(h.db, RecruiterCall) == 1


def test_slack_post_to_channel_posts_once_per_message(h: SlackHarness) -> None:
    h.slack.command("UINS", "cohort create Spring26")
    h.slack.command("UA", "cohort join Spring26")
    h.fake.clear()
    for _ in range(2):  # a double click: two trigger_ids, the same message
        h.slack.block_action("UINS", r.encode_action_id("board.post", 0), "Spring26")
    h.drain()
    public = [c for c in h.fake.calls_to("response_url") if c.args.get("response_type") == "in_channel"]
    assert len(public) == 1
    h.clock.advance(timedelta(minutes=5))
    # a board posted from another message is a new post
    payload_ts = "2.2"
    h.slack.interaction(
        {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": "UINS", "team_id": TEAM},
            "trigger_id": "9.9",
            "container": {"type": "message", "message_ts": payload_ts, "channel_id": "C1"},
            "channel": {"id": "C1"},
            "response_url": h.fake.response_url("post2"),
            "actions": [{"type": "button", "action_id": r.encode_action_id("board.post", 0), "value": "Spring26"}],
        }
    )
    h.drain()
    public = [c for c in h.fake.calls_to("response_url") if c.args.get("response_type") == "in_channel"]
    assert len(public) == 2
