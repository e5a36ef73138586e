"""The `darebot` command: run the coach on the configured platform, or manage the database."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Annotated, Optional

import typer

from adapters.config import Settings

app = typer.Typer(help="darebot: an accountability coach that dares a cohort to do reverse interviews.",
                  no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database tasks.")
app.add_typer(db_app, name="db")


def _parse_start(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def run(
    platform: Annotated[Optional[str], typer.Option(help="console, slack or discord (default: from configuration)")] = None,  # noqa: UP007
    http: Annotated[bool, typer.Option(help="Slack: serve POST /slack/events over HTTP instead of Socket Mode")] = False,
    port: Annotated[int, typer.Option(help="Slack HTTP port")] = 3000,
    start: Annotated[Optional[str], typer.Option(help="Console: the clock's starting moment (ISO), for repeatable demos")] = None,  # noqa: UP007
    dashboard_port: Annotated[Optional[int], typer.Option(help="Also serve the instructors' web dashboard on this port (Slack HTTP mode serves it on --port)")] = None,  # noqa: UP007
) -> None:
    """Run darebot: Slack when Slack tokens are set, Discord when a Discord token is, else the console."""
    settings = Settings()
    chosen = platform or settings.pick_platform()
    if chosen not in ("console", "slack", "discord"):
        raise typer.BadParameter("--platform takes console, slack or discord")
    logging.basicConfig(level=logging.INFO if chosen != "console" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from storage.db import open_database

    if dashboard_port is not None and not (chosen == "slack" and http):
        _dashboard_beside(settings, dashboard_port)
    if chosen == "console":
        from adapters.console import run_console

        db = open_database(settings.database_url)
        raise typer.Exit(run_console(db, default_tz=settings.tz, start=_parse_start(start)))
    if chosen == "slack":
        from adapters.slack_app import run_slack

        run_slack(settings, http=http, port=port)
    else:
        from adapters.discord_bot import run_discord

        run_discord(settings)


def _dashboard_beside(settings: Settings, port: int) -> None:
    from adapters.dashboard import start_in_background
    from adapters.wiring import build_from_settings

    start_in_background(build_from_settings(settings, platform="dashboard", messenger=None).engine, settings, port)


@app.command()
def dashboard(port: Annotated[int, typer.Option(help="Port to serve the dashboard on")] = 8080,
              host: Annotated[str, typer.Option(help="Address to listen on")] = "0.0.0.0") -> None:
    """Serve only the instructors' web dashboard over the configured database."""
    from adapters.dashboard import run_dashboard

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_dashboard(Settings(), port=port, host=host)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to DAREBOT_DATABASE_URL (also done at each start)."""
    from storage.db import Database

    settings = Settings()
    Database(settings.database_url).upgrade()
    typer.echo("Database is up to date.")


def main() -> None:
    app(prog_name="darebot")


if __name__ == "__main__":
    sys.exit(main())
