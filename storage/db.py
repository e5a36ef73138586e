"""Engines, sessions and migrations. SQLite by default (WAL, busy timeout), PostgreSQL by URL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key for migrations: any constant shared by every darebot process ("dare").
MIGRATION_LOCK = 0x64617265

log = logging.getLogger("darebot.db")


class DatabaseUnavailable(Exception):
    """The database did not answer within the allowed time."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode loses no committed transaction on a process crash, only on power loss.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Database:
    """One database: its SQLAlchemy engine, session factory and migration runner."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.is_postgres = parsed.get_backend_name() == "postgresql"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back whole if it raises."""
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent; run at every start). On PostgreSQL the
        migration runs under a transaction-scoped advisory lock, so processes starting together take
        turns: the first migrates, the others then find the schema current."""
        with self.engine.begin() as conn:
            if self.is_postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            cfg = self.alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def ping(self) -> None:
        """One real round trip; raises when the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def wait_until_reachable(self, seconds: float, *, first_delay: float = 0.5, max_delay: float = 5.0) -> None:
        """Retry with exponential backoff for up to `seconds` (a database container may still be starting)."""
        deadline = time.monotonic() + seconds
        delay = first_delay
        while True:
            try:
                self.ping()
                return
            except (DBAPIError, OSError) as err:
                left = deadline - time.monotonic()
                reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0][:200]
                if left <= 0:
                    raise DatabaseUnavailable(f"the database did not answer within {seconds:g} s: {reason}") from None
                log.warning("database not reachable yet (%s); retrying in %.1f s", reason, min(delay, left))
                time.sleep(min(delay, left))
                delay = min(delay * 2, max_delay)

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> Database:
    """Open and migrate: what every entry point calls."""
    db = Database(url)
    db.upgrade()
    return db


def connect_and_upgrade(url: str, *, wait_seconds: float = 0.0) -> Database:
    """Open, wait up to `wait_seconds` for the server to answer, then migrate."""
    db = Database(url)
    try:
        db.wait_until_reachable(wait_seconds)
        db.upgrade()
    except BaseException:
        db.dispose()
        raise
    return db
