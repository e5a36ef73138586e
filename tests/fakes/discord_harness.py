"""Shared set-up for the Discord tests: a fake Discord, the engine on SQLite, the real discord.py client."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.config import Settings
from adapters.discord_bot import DareBot, ShardedDareBot, make_client
from adapters.discord_messenger import DiscordMessenger
from adapters.wiring import build
from bot.clock import ManualClock
from storage.db import open_database
from tests.fakes.discord_server import FakeDiscord

START = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)  # a Monday morning


@dataclass
class World:
    fake: FakeDiscord
    client: DareBot | ShardedDareBot
    engine: Any
    db: Any
    clock: ManualClock
    settings: Settings
    task: asyncio.Task[None]
    nudges: Any
    messenger: DiscordMessenger


def discord_settings(fake: FakeDiscord, db_url: str, **extra: Any) -> Settings:
    values = {"DISCORD_TOKEN": fake.token, "DISCORD_API_URL": fake.api_url, "DAREBOT_DATABASE_URL": db_url}
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def running_bot(
    tmp_path: Path,
    *,
    fake: FakeDiscord | None = None,
    engine: Any = None,
    db_url: str | None = None,
    clock: ManualClock | None = None,
    with_coach: bool = True,
    wait_ready: bool = True,
    client_options: dict[str, Any] | None = None,
    **settings_extra: Any,
) -> AsyncIterator[World]:
    """Start (or reuse) a fake Discord and run darebot's real discord.py client against it."""
    own_fake = fake is None
    # The fake has no 3-second deadline: answer directly unless a test asks for early deferral,
    # so a loaded CI machine cannot turn a direct answer into a defer + follow-up.
    client_options = {"defer_after": 5.0, **(client_options or {})}
    if fake is None:
        fake = await FakeDiscord().start()
    db_url = db_url or f"sqlite:///{tmp_path / 'darebot.sqlite3'}"
    db = await asyncio.to_thread(open_database, db_url)
    clock = clock or ManualClock(START)
    settings = discord_settings(fake, db_url, **settings_extra)
    messenger = DiscordMessenger()
    built = build(db, clock, platform="discord", default_tz="UTC", messenger=messenger if with_coach else None)
    nudges = built.nudges
    engine = engine or built.engine
    client = make_client(
        settings,
        engine,
        nudges=nudges,
        sync_state_path=tmp_path / "commands.json",
        guild_ready_timeout=0.05,
        **client_options,
    )
    messenger.attach(client)
    task = asyncio.create_task(client.start(settings.discord_token or ""))
    try:
        if wait_ready:
            ready = asyncio.ensure_future(client.ready_event.wait())
            done, _ = await asyncio.wait({ready, task}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                task.result()  # raise the start-up error
            assert ready in done, "the client never became ready"
        yield World(fake, client, engine, db, clock, settings, task, nudges, messenger)
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        if own_fake:
            await fake.close()
        db.dispose()


def text_of(message: dict[str, Any]) -> str:
    """Everything a person reads in a message payload: content, embed titles, descriptions, fields."""
    parts = [message.get("content") or ""]
    for e in message.get("embeds") or []:
        parts += [e.get("title") or "", e.get("description") or ""]
        for f in e.get("fields") or []:
            parts += [f.get("name") or "", f.get("value") or ""]
    # Discord shows a backslash before punctuation as just the punctuation (simple-markdown's escape rule).
    return "\n".join(re.sub(r"\\([^0-9A-Za-z\s])", r"\1", p) for p in parts if p)


def buttons_of(message: dict[str, Any]) -> dict[str, str]:
    """label -> custom_id of every button in a message payload."""
    out = {}
    for row in message.get("components") or []:
        for comp in row.get("components") or []:
            if comp.get("type") == 2:
                out[comp.get("label")] = comp.get("custom_id")
    return out
