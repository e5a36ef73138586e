"""The composition root: the one place that builds darebot for a platform.

It opens the database, picks the clock, builds the platform's ports (directory, messenger), the
nudge scheduler and the engine with all of them, and hands adapters a finished engine. Nothing
after this point changes the engine's wiring.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TextIO

from adapters.config import Settings
from adapters.deadline import ENGINE
from bot.clock import Clock, SystemClock
from bot.dashboard import DashboardConfig
from bot.engine import Engine
from bot.ports import Directory, Messenger, Observer
from bot.scheduler import NudgeScheduler
from storage.db import Database, open_database

if TYPE_CHECKING:
    from adapters.console import ConsoleMessenger
    from adapters.discord_messenger import DiscordMessenger
    from adapters.slack_app import SlackAdapter


@dataclass(frozen=True)
class Darebot:
    """A built darebot: the engine adapters call and the scheduler that sends its nudges."""

    db: Database
    clock: Clock
    engine: Engine
    nudges: NudgeScheduler | None


def build(
    db: Database,
    clock: Clock,
    *,
    platform: str,
    default_tz: str,
    messenger: Messenger | None,
    directory: Directory | None = None,
    sweep_seconds: int = 60,
    worker_id: str | None = None,
    observer: Observer | None = None,
    dashboard: DashboardConfig | None = None,
    sweep_processes: int | None = None,
) -> Darebot:
    """The engine with its ports; with a messenger, the nudge scheduler too (its kick is the engine's
    outbox listener, so a command that plans a DM due now gets it sent at once). With an observer, the
    engine's commands and the scheduler's sweeps are reported to it, and the messenger's DMs counted."""
    ENGINE.fit(sqlite=db.is_sqlite)
    nudges = None
    if messenger is not None:
        if observer is not None:
            from adapters.metrics import CountingMessenger

            messenger = CountingMessenger(messenger)
        nudges = NudgeScheduler(
            db,
            clock,
            messenger,
            platform=platform,
            sweep_seconds=sweep_seconds,
            worker_id=worker_id,
            sweep_processes=sweep_processes,
        )
        if observer is not None:
            nudges.observer = observer
    engine = Engine(
        db,
        clock,
        default_tz=default_tz,
        directory=directory,
        outbox_listener=nudges.kick if nudges is not None else None,
        observer=observer,
        dashboard=dashboard,
    )
    return Darebot(db, clock, engine, nudges)


def metrics_observer() -> Observer:
    """The Prometheus observer every real run uses (GET /metrics)."""
    from adapters.metrics import PrometheusObserver

    return PrometheusObserver()


def build_from_settings(
    settings: Settings,
    *,
    platform: str,
    messenger: Messenger | None,
    directory: Directory | None = None,
    clock: Clock | None = None,
    db: Database | None = None,
) -> Darebot:
    return build(
        db or open_database(settings.database_url),
        clock or SystemClock(),
        platform=platform,
        default_tz=settings.tz,
        messenger=messenger,
        directory=directory,
        sweep_seconds=settings.sweep_seconds,
        worker_id=settings.worker_id,
        observer=metrics_observer(),
        sweep_processes=settings.sweep_processes,
        dashboard=DashboardConfig(settings.public_url, settings.secret_keys[0] if settings.secret_keys else None)
        if settings.public_url
        else None,
    )


def build_slack(settings: Settings, *, clock: Clock | None = None, db: Database | None = None) -> SlackAdapter:
    """Slack: the token store (OAuth), one client pool shared by the directory (users.info) and the
    messenger (DMs), the engine, and the bolt app's listeners."""
    from adapters.slack_app import SlackAdapter
    from adapters.slack_messenger import ClientPool, SlackDirectory, SlackMessenger
    from adapters.slack_oauth import make_store, oauth_mode

    db = db or open_database(settings.database_url)
    store = make_store(settings, db) if oauth_mode(settings) else None

    def token_for(team_id: str) -> str | None:
        if store is None:
            return settings.slack_bot_token
        token: str | None = store.bot_token(team_id)
        return token

    clients = ClientPool(token_for, settings.slack_api_url)
    directory = SlackDirectory(clients)
    bot = build_from_settings(
        settings, platform="slack", messenger=SlackMessenger(clients), directory=directory, clock=clock, db=db
    )
    return SlackAdapter(settings, bot.engine, nudges=bot.nudges, clients=clients, directory=directory, store=store)


def build_discord(
    settings: Settings, *, clock: Clock | None = None, db: Database | None = None
) -> tuple[Darebot, DiscordMessenger]:
    """Discord: the engine and scheduler, and the messenger a client attaches itself to once built."""
    from adapters.discord_messenger import DiscordMessenger

    messenger = DiscordMessenger()
    return build_from_settings(settings, platform="discord", messenger=messenger, clock=clock, db=db), messenger


def build_console(
    db: Database, clock: Clock, *, default_tz: str, out: TextIO, observer: Observer | None = None
) -> tuple[Darebot, ConsoleMessenger]:
    """The console: DMs are printed. No outbox listener: the console delivers right after printing each
    reply, so a command's answer always comes before the DMs it caused."""
    from adapters.console import ConsoleMessenger

    bot = build(db, clock, platform="console", default_tz=default_tz, messenger=None, observer=observer)
    messenger = ConsoleMessenger(bot.engine, out)
    # One console at a time per file: a fixed id reclaims anything left in flight by a killed run.
    nudges = NudgeScheduler(db, clock, messenger, platform="console", worker_id="console")
    if observer is not None:
        nudges.observer = observer
    return replace(bot, nudges=nudges), messenger
