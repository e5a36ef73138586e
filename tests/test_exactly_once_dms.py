"""Exactly-once DMs through ambiguity: Slack accepts the DM but answers too late (or never), and the
next attempt finds the DM in the person's history instead of sending it again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.slack_messenger import METADATA_EVENT, SlackMessenger
from storage.models import Nudge
from tests.fakes.slack_harness import TEAM, SlackHarness

STUDENTS = ("UA", "UB", "UC")


def _harness(tmp_path) -> SlackHarness:  # type: ignore[no-untyped-def]
    h = SlackHarness(f"sqlite:///{tmp_path}/d.sqlite3")
    h.fake.add_user(TEAM, "UINS", "ines")
    for uid in STUDENTS:
        h.fake.add_user(TEAM, uid, uid.lower())
    h.engine.outbox_listener = None  # delivery runs below, step by step
    messenger = SlackMessenger(h.adapter.clients, timeout=1)  # gives up after 1 s
    h.nudges.messenger = h.nudges.delivery.messenger = messenger
    h.slack.command("UINS", "cohort create C")
    for uid in STUDENTS:
        h.slack.command(uid, "cohort join C")
    h.drain()
    return h


def _deliver_until_settled(h: SlackHarness) -> dict[str, tuple[str, str | None]]:
    for _ in range(30):
        h.nudges.deliver_due()
        with h.db.session() as s:
            rows = list(s.execute(select(Nudge)).scalars())
        if all(n.status not in ("pending", "claimed") for n in rows):
            break
        h.clock.advance(timedelta(seconds=61))
    return {n.key: (n.status, n.last_error) for n in rows}


def _tagged(h: SlackHarness, uid: str) -> list[str]:
    return [
        m["metadata"]["event_payload"]["key"]
        for m in h.fake.dm_history(TEAM, uid)
        if (m.get("metadata") or {}).get("event_type") == METADATA_EVENT
    ]


@pytest.mark.parametrize("trouble", ["late", "dropped"])
def test_the_dare_dm_goes_out_once_when_slack_answers_late_or_not_at_all(tmp_path, trouble: str) -> None:  # type: ignore[no-untyped-def]
    h = _harness(tmp_path)
    try:
        if trouble == "late":
            h.fake.answer_late("chat.postMessage", 2.5, times=2)
        else:
            h.fake.drop_answer("chat.postMessage", times=2)
        h.slack.command("UINS", "start C")
        rows = _deliver_until_settled(h)
        assert rows and all(status == "sent" for status, _ in rows.values()), rows
        for uid in STUDENTS:
            keys = _tagged(h, uid)
            assert len(keys) == len(set(keys)), (uid, keys)  # no DM twice
            assert keys, uid
        assert len(rows) >= len(STUDENTS)
        # the late/dropped ones were looked up, not re-sent
        assert h.fake.calls_to("conversations.history")
    finally:
        h.close()


def test_an_ambiguous_send_that_never_arrived_is_sent_on_the_next_attempt(tmp_path) -> None:  # type: ignore[no-untyped-def]
    h = _harness(tmp_path)
    try:
        h.fake.fail_next("chat.postMessage", "internal_error", status=500, times=1)  # Slack 500: outcome unknown
        h.slack.command("UINS", "start C")
        rows = _deliver_until_settled(h)
        assert all(status == "sent" for status, _ in rows.values()), rows
        for uid in STUDENTS:
            assert len(_tagged(h, uid)) == 1
    finally:
        h.close()


# -- Discord: the nonce makes a repeat harmless ----------------------------------------------------


def test_discord_a_late_answer_then_a_retry_posts_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from adapters.discord_messenger import nonce_for
    from bot.ports import AmbiguousSendError
    from tests.fakes.discord_harness import running_bot
    from tests.fakes.discord_server import FakeDiscord
    from tests.test_discord_dms import NUDGE

    async def scenario() -> None:
        fake = await FakeDiscord().start()
        ann = fake.add_user("ann")
        guild = fake.add_guild("Bootcamp", [ann])
        async with running_bot(tmp_path, fake=fake, with_coach=False) as w:
            m = w.messenger
            m.timeout = 0.5
            fake.answer_late_next, fake.answer_late_seconds = 1, 1.5
            with pytest.raises(AmbiguousSendError):
                await asyncio.to_thread(m.send_dm, guild["id"], ann.id, NUDGE, key="dare:1:2")
            await asyncio.sleep(1.2)  # the late answer comes and goes
            sent = await asyncio.to_thread(m.send_dm, guild["id"], ann.id, NUDGE, key="dare:1:2", check=True)
            posts = fake.dm_messages(ann)
            assert len(posts) == 1 and sent.message_id == posts[0]["id"]
            bodies = [c.json for c in fake.calls_to("POST", f"/channels/{fake.dm_channels[ann.id]}/messages")]
            assert len(bodies) == 2 and all(b["nonce"] == nonce_for("dare:1:2") and b["enforce_nonce"] for b in bodies)
            # another DM (another key) is a new message
            await asyncio.to_thread(m.send_dm, guild["id"], ann.id, NUDGE, key="dare:1:3")
            assert len(fake.dm_messages(ann)) == 2

    asyncio.run(scenario())
