"""The `darebot` command: run the coach on the configured platform, or manage the database and keys.

A configuration mistake ends the start with one line on stderr and exit code 2, before anything connects.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer

from adapters.config import ConfigError, Settings, load_settings

log = logging.getLogger("darebot")

app = typer.Typer(
    help="darebot: an accountability coach that dares a cohort to do reverse interviews.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database tasks: upgrade, current, history.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys for stored Slack tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

NO_PLATFORM = (
    "no platform configured: set SLACK_BOT_TOKEN with SLACK_APP_TOKEN (Socket Mode) or "
    "SLACK_SIGNING_SECRET (--http), or DISCORD_TOKEN; or pass --platform console for the local console"
)


def darebot_version() -> str:
    try:
        return version("darebot")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"darebot {darebot_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """darebot: an accountability coach that dares a cohort to do reverse interviews."""


def parse_start(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--start: {value!r} is not a date and time (e.g. 2026-09-07T13:00:00+00:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _someone_is_there() -> bool:
    """A person at a terminal, or a script piped or redirected in (DESIGN: piped lines run as a demo).

    A container started without a terminal has stdin on /dev/null (a character device) or closed:
    that is a deployment missing its platform settings, not a console session.
    """
    try:
        if sys.stdin.isatty():
            return True
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)


def choose_platform(settings: Settings, platform: str | None, *, interactive: bool) -> str:
    """The forced platform, else the configured one; the console only when asked or a person is at a terminal."""
    if platform is not None:
        return platform
    chosen = settings.pick_platform()
    if chosen == "console" and not interactive:
        raise ConfigError(NO_PLATFORM)
    return chosen


def check_platform(settings: Settings, chosen: str, *, http: bool) -> None:
    """What each platform needs, before connecting anywhere."""
    if chosen == "slack":
        from adapters.preflight import slack_settings_problem

        problem = slack_settings_problem(settings, http=http)
        if problem:
            raise ConfigError(problem)
    elif chosen == "discord" and not settings.discord_token:
        raise ConfigError("DISCORD_TOKEN is not set (see docs/discord.md)")


@app.command()
def run(
    platform: Annotated[str | None, typer.Option(help="console, slack or discord (default: configuration)")] = None,
    http: Annotated[bool, typer.Option(help="Slack: serve POST /slack/events over HTTP, not Socket Mode")] = False,
    port: Annotated[int, typer.Option(help="Slack HTTP port")] = 3000,
    workers: Annotated[int, typer.Option(min=1, help="Slack HTTP: server processes sharing the port (PostgreSQL)")] = 1,
    start: Annotated[str | None, typer.Option(help="Console: the clock's starting moment (ISO), for demos")] = None,
    health_port: Annotated[int | None, typer.Option(help="Serve GET /healthz and GET /metrics on this port")] = None,
    health_host: Annotated[str, typer.Option(help="Address for --health-port")] = "0.0.0.0",
    dashboard_port: Annotated[
        int | None,
        typer.Option(
            help="Also serve the instructors' web dashboard on this port (Slack HTTP mode serves it on --port)"
        ),
    ] = None,
) -> None:
    """Run darebot: Slack when Slack tokens are set, Discord when a Discord token is, else the console."""
    if platform is not None and platform not in ("console", "slack", "discord"):
        raise typer.BadParameter("--platform takes console, slack or discord")
    settings = load_settings()
    moment = parse_start(start)
    chosen = choose_platform(settings, platform, interactive=_someone_is_there())
    check_platform(settings, chosen, http=http)

    from adapters.observability import setup_logging

    # The console's own output is the conversation: only warnings go to stderr there unless asked.
    level = settings.log_level if chosen != "console" or "DAREBOT_LOG_LEVEL" in _env() else "WARNING"
    setup_logging(level, settings.log_format)

    if dashboard_port is not None and not (chosen == "slack" and http):
        _dashboard_beside(settings, dashboard_port)
    if chosen == "slack":
        from adapters.preflight import check_slack_tokens

        _exit_on_term()
        check_slack_tokens(settings, http=http)
        _prepare_database(settings)
        if workers > 1:
            if not http:
                raise typer.BadParameter("--workers needs --http")
            from adapters.workers import run_workers

            raise typer.Exit(run_workers(settings, workers=workers, port=port))
        from adapters.slack_serve import run_slack

        run_slack(settings, http=http, port=port, health_port=health_port, health_host=health_host)
    elif chosen == "discord":
        from adapters.discord_bot import DEFAULT_SYNC_STATE, run_discord

        _exit_on_term()
        _prepare_database(settings)
        run_discord(
            settings,
            health_port=health_port,
            health_host=health_host,
            sync_state_path=settings.state_dir / DEFAULT_SYNC_STATE.name,
        )
    else:
        raise typer.Exit(_run_console(settings, moment, health_port, health_host))


def _exit_on_term() -> None:
    """Until a platform's event loop takes the signals over, SIGTERM ends the start at once, cleanly."""

    def on_term(_sig: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)


def _prepare_database(settings: Settings) -> None:
    """Wait (bounded) for the database, then migrate under the lock, before any platform connects."""
    from storage.db import connect_and_upgrade

    connect_and_upgrade(settings.database_url, wait_seconds=settings.db_connect_seconds).dispose()


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


class _Stop(Exception):
    """SIGTERM in the console: leave the input loop like end-of-input."""


def _run_console(settings: Settings, moment: datetime | None, health_port: int | None, health_host: str) -> int:
    from adapters.console import run_console
    from adapters.health import HealthServer, Probe
    from adapters.metrics import PrometheusObserver
    from storage.db import connect_and_upgrade

    def on_term(_sig: int, _frame: Any) -> None:
        raise _Stop()

    signal.signal(signal.SIGTERM, on_term)
    db = connect_and_upgrade(settings.database_url, wait_seconds=settings.db_connect_seconds)
    server = HealthServer(Probe(db, "console", lambda: True), health_port, health_host) if health_port else None
    if server:
        server.start()
    try:
        return run_console(db, default_tz=settings.tz, start=moment, observer=PrometheusObserver())
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        if server:
            server.stop()
        db.dispose()


# -- database --------------------------------------------------------------------------------------------


def _alembic(settings: Settings) -> Any:
    from storage.db import Database

    return Database(settings.database_url)


def _dashboard_beside(settings: Settings, port: int) -> None:
    from adapters.dashboard import start_in_background
    from adapters.wiring import build_from_settings

    start_in_background(build_from_settings(settings, platform="dashboard", messenger=None).engine, settings, port)


@app.command()
def dashboard(
    port: Annotated[int, typer.Option(help="Port to serve the dashboard on")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "0.0.0.0",
) -> None:
    """Serve only the instructors' web dashboard over the configured database."""
    from adapters.dashboard import run_dashboard
    from adapters.observability import setup_logging

    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    run_dashboard(settings, port=port, host=host)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to DAREBOT_DATABASE_URL (also done at each start, under a lock)."""
    from storage.db import connect_and_upgrade

    settings = load_settings()
    connect_and_upgrade(settings.database_url, wait_seconds=settings.db_connect_seconds).dispose()
    typer.echo("Database is up to date.")


@db_app.command("current")
def db_current() -> None:
    """The revision the database is at."""
    from alembic import command

    db = _alembic(load_settings())
    with db.engine.connect() as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        command.current(cfg, verbose=False)
    db.dispose()


@db_app.command("history")
def db_history() -> None:
    """Every migration, newest first."""
    from alembic import command

    db = _alembic(load_settings())
    command.history(db.alembic_config(), indicate_current=False)
    db.dispose()


# -- keys ------------------------------------------------------------------------------------------------


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored token with the first key of DAREBOT_SECRET_KEY (after adding a new key in front)."""
    from storage.db import connect_and_upgrade
    from storage.slack_store import rotate_tokens

    settings = load_settings()
    if not settings.secret_keys:
        raise ConfigError("DAREBOT_SECRET_KEY is not set: put the new key first, then the old ones, comma-separated")
    db = connect_and_upgrade(settings.database_url, wait_seconds=settings.db_connect_seconds)
    try:
        done, unreadable = rotate_tokens(db, settings.secret_keys)
    finally:
        db.dispose()
    typer.echo(f"Re-encrypted {done} installation(s) with the first key.")
    if unreadable:
        typer.echo(f"{unreadable} installation(s) could not be read with any key; they must reinstall.", err=True)
        raise typer.Exit(1)


def main() -> None:
    from storage.db import DatabaseUnavailable

    try:
        app(prog_name="darebot")
    except ConfigError as err:
        sys.stderr.write(f"darebot: {err}\n")
        sys.exit(2)
    except DatabaseUnavailable as err:
        sys.stderr.write(f"darebot: {err}\n")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
