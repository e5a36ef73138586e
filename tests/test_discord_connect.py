"""The real discord.py client reaches on_ready against the local fake Discord, and syncs its commands once."""

from __future__ import annotations

import asyncio

from tests.fakes.discord_harness import running_bot
from tests.fakes.discord_server import FakeDiscord


def test_client_connects_syncs_and_is_ready(tmp_path):
    async def scenario():
        fake = await FakeDiscord().start()
        alice = fake.add_user("alice")
        fake.add_guild("Bootcamp", [alice])
        try:
            async with running_bot(tmp_path, fake=fake) as w:
                assert w.client.is_ready()
                assert fake.identifies == 1
                paths = [(c.method, c.path) for c in fake.calls]
                assert ("GET", "/users/@me") in paths
                assert ("GET", "/oauth2/applications/@me") in paths
                assert ("GET", "/gateway/bot") in paths  # the gateway came from the configured API
                puts = fake.calls_to("PUT", r"/applications/\d+/commands")
                assert len(puts) == 1
                [dare] = puts[0].json
                assert dare["name"] == "dare"
                names = {o["name"] for o in dare["options"]}
                assert {"cohort", "start", "log", "board", "report", "reward"} <= names
                assert len(w.client.guilds) == 1
            # a second start with the same tree does not sync again
            async with running_bot(tmp_path, fake=fake) as w2:
                assert w2.client.synced is False
            assert len(fake.calls_to("PUT", r"/applications/\d+/commands")) == 1
            assert fake.identifies == 2
        finally:
            await fake.close()

    asyncio.run(scenario())
