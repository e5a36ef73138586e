"""DMs through the Discord messenger: outcomes the outbox relies on, and buttons that survive a restart."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from adapters.discord_messenger import DiscordMessenger
from bot.nudges.messages import LOG, SNOOZE, STOP
from bot.ports import PermanentSendError, Sent, TransientSendError
from bot.replies import Reply, Section
from storage.models import Interview, Person
from tests.fakes.discord_harness import buttons_of, running_bot, text_of
from tests.fakes.discord_server import EPHEMERAL, FakeDiscord
from tests.test_discord_e2e import slash

NUDGE = Reply(
    title="How is it going?", sections=(Section(text="You have 2 interviews to go."),), buttons=(LOG, SNOOZE, STOP)
)


async def _world():
    fake = await FakeDiscord().start()
    ann, bob = fake.add_user("ann"), fake.add_user("bob")
    guild = fake.add_guild("Bootcamp", [ann, bob])
    return fake, ann, bob, guild


def test_messenger_outcomes_429_503_50007(tmp_path):
    async def scenario():
        fake, ann, bob, g = await _world()
        async with running_bot(tmp_path, fake=fake, with_coach=False) as w:
            m = w.messenger
            # a 429 (with Discord's Via header) stays with discord.py's limiter: it waits and retries
            fake.rate_limit_next, fake.retry_after = 1, 0.05
            sent = await asyncio.to_thread(m.send_dm, g["id"], ann.id, NUDGE)
            assert isinstance(sent, Sent) and sent.message_id
            ann_posts = fake.calls_to("POST", f"/channels/{fake.dm_channels[ann.id]}/messages")
            assert [c.status for c in ann_posts] == [429, 200]
            assert len(fake.calls_to("POST", "/users/@me/channels")) == 1  # the DM channel is cached
            fake.rate_limit_next, fake.rate_limit_global = 1, True  # a global limit: waited out too
            await asyncio.to_thread(m.send_dm, g["id"], ann.id, NUDGE)
            ann_posts = fake.calls_to("POST", f"/channels/{fake.dm_channels[ann.id]}/messages")
            assert [c.status for c in ann_posts] == [429, 200, 429, 200]
            # 5xx -> transient
            fake.server_error_next = 1
            with pytest.raises(TransientSendError):
                await asyncio.to_thread(m.send_dm, g["id"], ann.id, NUDGE)
            # a message darebot built wrong (400) is darebot's fault: transient, the person stays reachable
            fake.bad_request_next = 1
            with pytest.raises(TransientSendError, match="400"):
                await asyncio.to_thread(m.send_dm, g["id"], ann.id, NUDGE)
            # DMs closed -> permanent, after exactly one attempt
            fake.dm_closed.add(bob.id)
            with pytest.raises(PermanentSendError, match="50007"):
                await asyncio.to_thread(m.send_dm, g["id"], bob.id, NUDGE)
            assert len(fake.calls_to("POST", f"/channels/{fake.dm_channels[bob.id]}/messages")) == 1
            # the scheduler thread must not be the loop's own thread
            with pytest.raises(RuntimeError):
                m.send_dm(g["id"], ann.id, NUDGE)
        # no client -> transient (the outbox keeps the row)
        with pytest.raises(TransientSendError):
            DiscordMessenger().send_dm(g["id"], ann.id, NUDGE)
        await fake.close()

    asyncio.run(scenario())


def test_dm_buttons_still_work_after_a_restart(tmp_path):
    async def scenario():
        fake, ann, bob, g = await _world()
        db_url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        async with running_bot(tmp_path, fake=fake, db_url=db_url) as w:
            await slash(w, ann, g, "cohort create", name="CS101")
            await slash(w, ann, g, "contact", name="Ada Lovelace")
            await asyncio.to_thread(w.messenger.send_dm, g["id"], ann.id, NUDGE)
        [dm] = fake.dm_messages(ann)
        ids = buttons_of(dm)
        assert set(ids) == {"Log it", "Snooze 3 days", "Stop these"}

        # a new process: nothing in memory but the registered dynamic button class
        async with running_bot(tmp_path, fake=fake, db_url=db_url) as w:
            press = fake.component_interaction(ann, dm, ids["Snooze 3 days"])
            await fake.dispatch("INTERACTION_CREATE", press)
            out = await fake.wait_final(press)
            assert "Snoozed for 3 days" in text_of(out)
            with w.db.session() as s:
                assert s.exec(select(Person).where(Person.external_id == ann.id)).one().snoozed_until is not None

            # "Log it" opens the log form as a modal in the DM; submitting it logs the interview
            cb = await fake.interact(fake.component_interaction(ann, dm, ids["Log it"]))
            assert cb["type"] == 9 and cb["data"]["custom_id"] == f"dareform:{g['id']}:log"
            sub = fake.modal_submit_interaction(
                ann, cb["data"], {"contact": ["Ada Lovelace"], "minutes": "25"}, channel_id=dm["channel_id"]
            )
            await fake.dispatch("INTERACTION_CREATE", sub)
            out = await fake.wait_final(sub)
            assert "logged" in text_of(out), text_of(out)
            with w.db.session() as s:
                assert len(s.exec(select(Interview)).all()) == 1
        await fake.close()

    asyncio.run(scenario())


class SlowEngine:
    """The real engine, slowed down: Discord must get a defer within 3 s and a follow-up later."""

    def __init__(self, engine, delay: float) -> None:
        self._engine, self._delay = engine, delay

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def run(self, ws, actor, command):
        import time

        time.sleep(self._delay)
        return self._engine.run(ws, actor, command)


def test_a_slow_engine_is_deferred_then_followed_up(tmp_path):
    async def scenario():
        fake, ann, bob, g = await _world()
        from bot.clock import ManualClock
        from bot.engine import Engine
        from storage.db import open_database
        from tests.fakes.discord_harness import START

        db_url = f"sqlite:///{tmp_path / 'slow.sqlite3'}"
        db = await asyncio.to_thread(open_database, db_url)
        engine = SlowEngine(Engine(db, ManualClock(START)), delay=0.3)
        async with running_bot(
            tmp_path, fake=fake, engine=engine, db_url=db_url, with_coach=False, client_options={"defer_after": 0.05}
        ) as w:
            payload = fake.command_interaction(ann, g, ["dare", "cohort", "create"], {"name": "CS101"})
            first = await fake.interact(payload)
            assert first["type"] == 5 and first["data"]["flags"] & EPHEMERAL  # "thinking…", privately
            out = await fake.wait_final(payload)
            assert "instructor" in text_of(out)
            edit = fake.followups[payload["token"]][0]
            assert edit["kind"] == "edit" and edit["allowed_mentions"]["parse"] == []

            # a public reply after a private defer: the placeholder says so, the reply is posted
            await slash(w, bob, g, "cohort join", name="CS101")
            payload = fake.command_interaction(ann, g, ["dare", "start"], {"name": "CS101"})
            await fake.interact(payload)
            post = await fake.wait_for(
                lambda c: c.method == "POST" and c.path.startswith(f"/webhooks/{fake.app_id}/{payload['token']}")
            )
            assert "Dare issued" in text_of(post.json) and not (post.json.get("flags", 0) & EPHEMERAL)
        db.dispose()
        await fake.close()

    asyncio.run(scenario())
