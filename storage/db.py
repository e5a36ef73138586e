"""Engines, sessions and migrations. SQLite by default (WAL, busy timeout), PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor, ExecutionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, create_engine

import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)
from storage.checkpoint import BACKSTOP_PAGES, Checkpointer

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# How long a SQLite transaction waits for the write lock. SQLite's busy handler is not a fair queue, and
# on a starved CPU (the suite under load: 20 concurrent commands on 2 busy cores) a waiter exceeded 10 s.
# A failure after 30 s is still an answered error; before it, a slow answer.
BUSY_TIMEOUT_MS = 30_000
# pg_advisory_xact_lock key for migrations: any constant shared by every darebot process ("dare").
MIGRATION_LOCK = 0x64617265

log = logging.getLogger("darebot.db")


class DatabaseUnavailable(Exception):
    """The database did not answer within the allowed time."""


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # pysqlite's own transaction handling issues BEGIN lazily and COMMITs around some statements, which
    # breaks SAVEPOINT: a row added inside session.begin_nested() survived the outer rollback. As
    # SQLAlchemy documents for pysqlite, turn the driver's handling off and emit BEGIN ourselves.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode loses no committed transaction on a process crash, only on power loss.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    # Checkpoints run on a thread of their own (storage.checkpoint), not inside a command's commit.
    cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cur.close()


_PENDING = "darebot_begin_pending"
_READS = ("SELECT", "PRAGMA")


def _sqlite_begin(conn: Connection) -> None:
    # The transaction is opened lazily, at its first write (or SAVEPOINT), with BEGIN IMMEDIATE: reads
    # before it run as the driver's legacy mode ran them (no lock, so read-only work never queues behind
    # writers), and a transaction that writes takes the write lock before it has read anything, so it
    # can't fail with SQLITE_BUSY on a stale snapshot (what a plain deferred BEGIN does under load).
    conn.info[_PENDING] = True


def _sqlite_before_execute(
    conn: Connection,
    cursor: DBAPICursor,
    statement: str,
    parameters: object,
    context: ExecutionContext | None,
    executemany: bool,
) -> tuple[str, object]:
    # Listened with retval=True (it returns the statement and parameters as given): SQLAlchemy then calls
    # it as it is, not through a wrapper, before every statement.
    if conn.info.get(_PENDING) and not statement.lstrip()[:6].upper().startswith(_READS):
        conn.info[_PENDING] = False
        cursor.execute("BEGIN IMMEDIATE")
    return statement, parameters


def _sqlite_end(conn: Connection) -> None:
    conn.info[_PENDING] = False


class StorageGone(Exception):
    """The SQLite file darebot opened was deleted or replaced: nothing written now would last."""


class Unit:
    """One transaction on one pooled connection: Core statements run on `conn`, and an ORM Session bound
    to the same connection and transaction is made only when something asks for it.

    A small command (a log) runs only Core statements (storage.direct); building a Session,
    its connection handling, commit and close were a fifth of its time. Writes through the Session are
    flushed before the commit; the Session never commits or rolls back the transaction itself.
    """

    def __init__(self, conn: Connection | None, info: dict[str, Any], session: Session | None = None) -> None:
        self._conn = conn
        self._info = info
        self._session = session

    @classmethod
    def around(cls, session: Session) -> Unit:
        """The unit of a Session someone else manages (its connection, and its commit)."""
        return cls(None, session.info, session)

    @property
    def conn(self) -> Connection:
        if self._conn is None or self._conn.closed:  # around a Session: its connection of the moment
            self._conn = self.session.connection()
        return self._conn

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(bind=self.conn, expire_on_commit=False, join_transaction_mode="rollback_only")
            self._session.info.update(self._info)
        return self._session

    @property
    def has_session(self) -> bool:
        return self._session is not None

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class _Kept:
    """SQLite: each thread's connection, kept from one unit to the next.

    Taking a connection from the pool and handing it back (SQLAlchemy's Connection, the pool's checkout
    and reset) cost about a tenth of a small command (a log) on SQLite, where a statement takes tens of
    microseconds. A thread keeps its connection between units; it goes back when the thread ends or the
    database is disposed. Engine threads are few and long-lived (adapters/deadline.py: one on SQLite).
    PostgreSQL's connections still come from the pool at each unit: it pings them there (pool_pre_ping)
    and has a server-side limit on connections to share. At most KEPT threads keep one, so threads that
    come and go in numbers (an executor's, a scheduler's) can never hold the pool's every connection:
    the others take theirs from the pool and give it back, as before.
    """

    KEPT = 4

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: set[Connection] = set()

    def mine(self) -> Connection | None:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None and (conn.closed or conn.invalidated):
            self.drop(conn)
            return None
        return conn

    def take(self, conn: Connection) -> bool:
        """Keep `conn` for this thread, if there is room; whether it was kept."""
        with self._lock:
            if len(self._all) >= self.KEPT:
                return False
            self._all.add(conn)
        self._local.conn = conn
        # Back to the pool when this thread ends (its Thread object is collected).
        self._local.release = weakref.finalize(threading.current_thread(), _Kept._release, self._lock, self._all, conn)
        return True

    def drop(self, conn: Connection) -> None:
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
            self._local.release.detach()
        _Kept._release(self._lock, self._all, conn)

    def close_all(self) -> None:
        with self._lock:
            held, self._all = list(self._all), set()
        self._local = threading.local()
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()

    @staticmethod
    def _release(lock: threading.Lock, held: set[Connection], conn: Connection) -> None:
        with lock:
            held.discard(conn)
        with contextlib.suppress(Exception):  # already closed, or its database gone
            conn.close()


class Database:
    """One database: its SQLAlchemy engine, session factory and migration runner."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.is_postgres = parsed.get_backend_name() == "postgresql"
        # The SQLite file and its identity (device, inode) when first opened: a file deleted or
        # replaced under a running process keeps taking writes into the old inode, all lost.
        self.path: Path | None = None
        self._identity: tuple[int, int] | None = None
        self._gone_logged = False
        # Called once (with the reason) when storage is found gone; entry points stop the process.
        self.on_fatal: Callable[[str], None] | None = None
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            self.path = Path(parsed.database).resolve()
            self.path.parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
        self.engine: Engine = create_engine(url, **kwargs)
        self._kept: _Kept | None = _Kept() if self.is_sqlite else None
        self._checkpointer: Checkpointer | None = None
        self._checkpointer_lock = threading.Lock()
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "connect", self._remember_file)
            event.listen(self.engine, "begin", _sqlite_begin)
            event.listen(self.engine, "before_cursor_execute", _sqlite_before_execute, retval=True)
            event.listen(self.engine, "commit", _sqlite_end)
            event.listen(self.engine, "rollback", _sqlite_end)

    def _remember_file(self, _dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        if self.path is not None and self._identity is None:
            st = os.stat(self.path)
            self._identity = (st.st_dev, st.st_ino)

    def file_problem(self) -> str | None:
        """SQLite: why the file at the path is no longer the one opened (None when all is well)."""
        if self.path is None or self._identity is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return f"the database file {self.path} was deleted"
        except OSError as err:
            return f"the database file {self.path} can't be read ({err.strerror})"
        if (st.st_dev, st.st_ino) != self._identity:
            return f"the database file {self.path} was replaced by another file"
        return None

    def ensure_file(self) -> None:
        """Raise StorageGone (and report it once, loudly) when the SQLite file was deleted or replaced."""
        problem = self.file_problem()
        if problem is None:
            return
        if not self._gone_logged:
            self._gone_logged = True
            log.critical("storage: %s; refusing every write. Restore the file and restart darebot.", problem)
            if self.on_fatal is not None:
                self.on_fatal(problem)
        raise StorageGone(problem)

    def _commit(self, commit: Callable[[], None]) -> None:
        """Commit, unless the SQLite file is gone: a write into a deleted file is never reported as saved."""
        if self.path is not None:
            self.ensure_file()
            if self._checkpointer is None:
                self._start_checkpointer(self.path)
        commit()
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def _start_checkpointer(self, path: Path) -> None:
        with self._checkpointer_lock:
            if self._checkpointer is None:
                self._checkpointer = Checkpointer(path)
                weakref.finalize(self, self._checkpointer.stop_soon)

    def _connection(self) -> tuple[Connection, bool]:
        """A connection for a unit, and whether it is this thread's kept one (SQLite: see _Kept)."""
        if self._kept is None:
            return self.engine.connect(), False
        conn = self._kept.mine()
        if conn is not None and not conn.in_transaction():
            return conn, True
        # A new connection would create an empty database in place of a deleted file: refuse first.
        self.ensure_file()
        fresh = self.engine.connect()
        if conn is not None:  # a unit inside a unit: a connection of its own
            return fresh, False
        return fresh, self._kept.take(fresh)

    @contextmanager
    def unit(self, info: dict[str, Any] | None = None) -> Iterator[Unit]:
        """A command's unit of work (see Unit): committed when the block ends, rolled back whole if it raises."""
        conn, kept = self._connection()
        try:
            conn.begin()  # the engine's "begin" listeners run now (SQLite's deferred BEGIN IMMEDIATE)
            unit = Unit(conn, info or {})
            try:
                yield unit
                unit.flush()
                self._commit(conn.commit)
            except BaseException:
                conn.rollback()
                raise
            finally:
                unit.close()
        finally:
            if not kept:
                conn.close()
            elif conn.invalidated or conn.in_transaction():  # a rollback that failed: not kept for the next
                self._kept.drop(conn)  # type: ignore[union-attr]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back whole if it raises."""
        if self.path is not None:  # its connection may be a new one: see _connection
            self.ensure_file()
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
                self._commit(s.commit)
            except BaseException:
                s.rollback()
                raise

    def alembic_config(self) -> Config:
        # imported here: a sweep's helper process, which never migrates, starts without Alembic's ~0.15 s
        from alembic.config import Config

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
            from alembic import command

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
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._kept is not None:
            self._kept.close_all()
        self.engine.dispose()


def exit_now(reason: str) -> None:
    """A Database.on_fatal for entry points with no graceful stop: flush the logs, exit with status 1."""
    logging.shutdown()
    os._exit(1)


def _enable_crash_log() -> None:
    # A SIGBUS/SIGSEGV (e.g. SQLite's shared-memory file made unwritable under it) kills the process
    # without a Python exception: faulthandler at least writes the fatal error and stack to stderr.
    if not faulthandler.is_enabled():
        faulthandler.enable()


def open_database(url: str) -> Database:
    """Open and migrate: what every entry point calls."""
    _enable_crash_log()
    db = Database(url)
    db.upgrade()
    return db


def connect_and_upgrade(url: str, *, wait_seconds: float = 0.0) -> Database:
    """Open, wait up to `wait_seconds` for the server to answer, then migrate."""
    _enable_crash_log()
    db = Database(url)
    try:
        db.wait_until_reachable(wait_seconds)
        db.upgrade()
    except BaseException:
        db.dispose()
        raise
    return db
