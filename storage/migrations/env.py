"""Alembic environment: runs on the connection storage.db hands it, or on the configured URL."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401
import storage.slack_store  # noqa: F401  (Slack installations, migration 0003)

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    # Alembic's own command line (alembic.ini at the repository root): the database darebot itself uses.
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "DAREBOT_DATABASE_URL", "sqlite:///darebot.sqlite3"
    )
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # take turns with darebot processes migrating at start
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": 0x64617265})
        _run(conn)
    engine.dispose()
