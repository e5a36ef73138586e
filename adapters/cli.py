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
    workers: Annotated[int, typer.Option(min=1, help="Slack HTTP: server processes sharing the port (PostgreSQL)")] = 1,
    start: Annotated[Optional[str], typer.Option(help="Console: the clock's starting moment (ISO), for repeatable demos")] = None,  # noqa: UP007
) -> None:
    """Run darebot: Slack when Slack tokens are set, Discord when a Discord token is, else the console."""
    settings = Settings()
    chosen = platform or settings.pick_platform()
    if chosen not in ("console", "slack", "discord"):
        raise typer.BadParameter("--platform takes console, slack or discord")
    logging.basicConfig(level=logging.INFO if chosen != "console" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from storage.db import open_database

    if chosen == "console":
        from adapters.console import run_console

        db = open_database(settings.database_url)
        raise typer.Exit(run_console(db, default_tz=settings.tz, start=_parse_start(start)))
    if chosen == "slack":
        if workers > 1:
            if not http:
                raise typer.BadParameter("--workers needs --http")
            from adapters.workers import run_workers

            raise typer.Exit(run_workers(settings, workers=workers, port=port))
        from adapters.slack_app import run_slack

        run_slack(settings, http=http, port=port)
    else:
        from adapters.discord_bot import run_discord

        run_discord(settings)


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
