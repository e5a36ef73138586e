"""SQLite: the write-ahead log copied back into the database file by a thread of its own.

By default SQLite checkpoints inside a commit: the commit that takes the log past 1,000 pages copies
them into the database file and syncs it, and the command that happened to commit waits for it. At
campus scale that was 60-90 ms on one write in a hundred (an outreach p99 of 17 ms, against 3 ms
without). Here request connections checkpoint only as a backstop (BACKSTOP_PAGES, should this thread
stall), and a daemon thread runs a PASSIVE checkpoint every INTERVAL seconds on a connection of its
own: it waits for no reader or writer, and SQLite runs it with Python's lock released.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("darebot.db")

INTERVAL = 1.0
# Request connections still checkpoint when the log reaches this many pages (40 MB at 4 KB pages).
BACKSTOP_PAGES = 10_000


class Checkpointer:
    """One thread per SQLite file a process opened; stopped by `stop()` (Database.dispose) or when the
    Database is collected. It never creates the file: a deleted database stays deleted (storage.db)."""

    def __init__(self, path: Path, interval: float = INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self.done = threading.Event()
        self.runs = 0
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"darebot-checkpoint-{path.name}", daemon=True)
        self._thread.start()

    def stop(self, wait: float = 2.0) -> None:
        self.done.set()
        if self._thread is not threading.current_thread():
            self._thread.join(wait)

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One PASSIVE checkpoint: (busy, pages in the log, pages copied), or None when it could not run."""
        with self._lock:
            try:
                if self._conn is None:
                    # mode=rw: opening must not create an empty database where the file was deleted.
                    self._conn = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None,
                                                 check_same_thread=False)
                row = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as err:
                self._close()
                log.debug("checkpoint of %s did not run: %s", self.path, err)
                return None
            self.runs += 1
            return int(row[0]), int(row[1]), int(row[2])

    def _run(self) -> None:
        try:
            while not self.done.wait(self.interval):
                self.checkpoint()
        finally:
            with self._lock:
                self._close()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
