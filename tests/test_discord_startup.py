"""Start-up against the fake Discord: gateway redirect, command sync scope, sharding, backoff."""

from __future__ import annotations

import asyncio
import json

import discord
import pytest

from adapters.discord_bot import ShardedDareBot, make_client, serve
from tests.fakes.discord_harness import discord_settings, running_bot, text_of
from tests.fakes.discord_server import FakeDiscord
from tests.test_discord_e2e import slash


def test_gateway_url_from_settings_and_instant_guild_sync(tmp_path):
    async def scenario():
        fake = await FakeDiscord().start()
        ann = fake.add_user("ann")
        g = fake.add_guild("Bootcamp", [ann])
        async with running_bot(
            tmp_path, fake=fake, DISCORD_GATEWAY_URL=fake.gateway_url, DISCORD_GUILD_ID=g["id"]
        ) as w:
            assert fake.calls_to("GET", "/gateway/bot") == []  # DISCORD_GATEWAY_URL wins
            assert len(fake.calls_to("PUT", rf"/applications/\d+/guilds/{g['id']}/commands")) == 1
            assert fake.calls_to("PUT", r"/applications/\d+/commands") == []
            out = await slash(w, ann, g, "cohort create", name="CS101")  # the guild copy answers
            assert "instructor" in text_of(out)
        await fake.close()

    asyncio.run(scenario())


def test_a_changed_command_tree_is_synced_again(tmp_path):
    async def scenario():
        fake = await FakeDiscord().start()
        fake.add_guild("Bootcamp", [fake.add_user("ann")])
        async with running_bot(tmp_path, fake=fake):
            pass
        state = tmp_path / "commands.json"
        saved = json.loads(state.read_text())
        state.write_text(json.dumps({k: "0" * 64 for k in saved}))  # as if an older tree was synced
        async with running_bot(tmp_path, fake=fake) as w:
            assert w.client.synced
        assert len(fake.calls_to("PUT", r"/applications/\d+/commands")) == 2
        await fake.close()

    asyncio.run(scenario())


def test_the_sharding_switch_runs_an_auto_sharded_client(tmp_path):
    async def scenario():
        fake = await FakeDiscord().start()
        ann = fake.add_user("ann")
        g = fake.add_guild("Bootcamp", [ann])
        async with running_bot(tmp_path, fake=fake, DISCORD_SHARDED="true") as w:
            assert isinstance(w.client, ShardedDareBot) and isinstance(w.client, discord.AutoShardedClient)
            identify = next(f for f in fake.gateway_frames if f["op"] == 2)
            assert identify["d"]["shard"] == [0, 1]
            assert "instructor" in text_of(await slash(w, ann, g, "cohort create", name="CS101"))
        await fake.close()

    asyncio.run(scenario())


def test_start_up_failures_back_off_and_a_bad_token_stops_at_once(tmp_path):
    async def scenario():
        fake = await FakeDiscord().start()
        fake.add_guild("Bootcamp", [fake.add_user("ann")])
        from bot.clock import ManualClock
        from bot.engine import Engine
        from storage.db import open_database
        from tests.fakes.discord_harness import START

        db = await asyncio.to_thread(open_database, f"sqlite:///{tmp_path / 'b.sqlite3'}")
        engine = Engine(db, ManualClock(START))
        settings = discord_settings(fake, "sqlite://")
        sleeps: list[float] = []
        clients = []

        async def fake_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        def build():
            c = make_client(settings, engine, sync_state_path=tmp_path / "c.json", guild_ready_timeout=0.05)
            clients.append(c)
            asyncio.get_running_loop().create_task(_close_when_ready(c))
            return c

        async def _close_when_ready(c):
            await c.ready_event.wait()
            await c.close()

        fake.login_errors_next = 3  # Discord is down for the first three logins
        await asyncio.wait_for(serve(settings, build, first_delay=5, sleep=fake_sleep), 20)
        assert len(clients) == 4 and len(sleeps) == 3
        assert 4 <= sleeps[0] <= 6 and 8 <= sleeps[1] <= 12 and 16 <= sleeps[2] <= 24  # doubling, with jitter
        assert fake.identifies == 1

        bad = discord_settings(fake, "sqlite://", DISCORD_TOKEN="wrong")
        sleeps.clear()
        with pytest.raises(discord.LoginFailure):
            await serve(bad, lambda: make_client(bad, engine, sync_state_path=tmp_path / "c.json"), sleep=fake_sleep)
        assert sleeps == []
        db.dispose()
        await fake.close()

    asyncio.run(scenario())


@pytest.mark.slow
def test_darebot_run_platform_discord_serves_the_fake(tmp_path):
    """The real entry point in its own process: `darebot run --platform discord` against the fake."""
    import os
    import signal
    import sys

    async def scenario():
        fake = await FakeDiscord().start()
        ann = fake.add_user("ann")
        g = fake.add_guild("Bootcamp", [ann])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "DAREBOT_"))}
        env.update(
            DISCORD_TOKEN=fake.token,
            DISCORD_API_URL=fake.api_url,
            DAREBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}",
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from adapters.cli import main; main()",
            "run",
            "--platform",
            "discord",
            cwd=tmp_path,
            env={**env, "PYTHONPATH": os.getcwd()},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await fake.wait_identified(timeout=30)
            payload = fake.command_interaction(ann, g, ["dare", "cohort", "create"], {"name": "CS101"})
            await fake.dispatch("INTERACTION_CREATE", payload)
            out = await fake.wait_final(payload, timeout=15)
            assert "instructor" in text_of(out)
            assert (tmp_path / ".darebot-discord-commands.json").exists()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            await fake.close()

    asyncio.run(scenario())


def test_reconnects_resume_on_the_fake_and_an_invalid_session_identifies_there_again(tmp_path):
    """The redirect holds beyond the first connection: a resume follows READY's resume_gateway_url,
    and after INVALID_SESSION discord.py falls back to DEFAULT_GATEWAY, which darebot pointed here."""

    async def scenario():
        fake = await FakeDiscord().start()
        ann = fake.add_user("ann")
        g = fake.add_guild("Bootcamp", [ann])
        async with running_bot(tmp_path, fake=fake) as w:
            resumed = asyncio.ensure_future(fake.wait_frame(lambda f: f["op"] == 6))
            await fake.drop_connections()
            await resumed
            assert "instructor" in text_of(await slash(w, ann, g, "cohort create", name="CS101"))

            async def no_wait(shard_id, *, initial=False):  # discord.py waits 5 s before a re-IDENTIFY
                return None

            w.client.before_identify_hook = no_wait
            fake.invalidate_resumes = True
            identified = asyncio.ensure_future(fake.wait_frame(lambda f: f["op"] == 2))
            await fake.drop_connections()
            await identified
            assert fake.identifies == 2
            assert "Welcome" in text_of(await slash(w, ann, g, "cohort join", name="CS101"))
        await fake.close()

    asyncio.run(scenario())
