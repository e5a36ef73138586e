"""SQLite: the write-ahead log copied back into the database file by a thread of its own.

By default SQLite checkpoints inside a commit: the commit that takes the log past 1,000 pages copies
them into the database file and syncs it, and the command that happened to commit waits for it. At
campus scale that was 60-90 ms on one write in a hundred (an outreach p99 of 17 ms, against 3 ms
without). Here request connections checkpoint only as a backstop (BACKSTOP_PAGES, should this thread
stall), and a daemon thread runs a PASSIVE checkpoint on a connection of its own after every COMMITS
commits of this process (and after IDLE seconds with any): it waits for no reader or writer, and SQLite
runs it with Python's lock released. Not every second: each checkpoint syncs the file, and syncing once
a second slowed a burst of Slack commands' acknowledgements (help's ack p99 about 2x).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger("darebot.db")

# A checkpoint after this many commits (a command's commit adds a few pages: about SQLite's own 1,000).
COMMITS = 250
# ... or after this many seconds, if anything was committed since the last one.
IDLE = 30.0
# Request connections still checkpoint when the log reaches this many pages (40 MB at 4 KB pages).
BACKSTOP_PAGES = 10_000


class Checkpointer:
    """One thread per SQLite file a process opened; stopped by `stop()` (Database.dispose) or when the
    Database is collected. It never creates the file: a deleted database stays deleted (storage.db)."""

    def __init__(self, path: Path, every: int | None = None, idle: float | None = None) -> None:
        self.path = path
        self.every = COMMITS if every is None else every
        self.idle = IDLE if idle is None else idle
        self.commits = 0  # since the last checkpoint (counted without a lock: an estimate is enough)
        self.runs = 0
        self.done = threading.Event()
        self._wake = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"darebot-checkpoint-{path.name}", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """A commit of this process (storage.db): the thread runs a checkpoint every `every` of them."""
        self.commits += 1
        if self.commits >= self.every:
            self._wake.set()

    def stop_soon(self) -> None:
        self.done.set()
        self._wake.set()

    def stop(self, wait: float = 2.0) -> None:
        self.stop_soon()
        if self._thread is not threading.current_thread():
            self._thread.join(wait)

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One PASSIVE checkpoint: (busy, pages in the log, pages copied), or None when it could not run."""
        with self._lock:
            try:
                if self._conn is None:
                    # mode=rw: opening must not create an empty database where the file was deleted.
                    self._conn = sqlite3.connect(
                        f"file:{quote(str(self.path))}?mode=rw", uri=True, isolation_level=None, check_same_thread=False
                    )
                row = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as err:
                self._close()
                log.debug("checkpoint of %s did not run: %s", self.path, err)
                return None
            self.runs += 1
            return int(row[0]), int(row[1]), int(row[2])

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self.idle)
                if self.done.is_set():
                    return
                self._wake.clear()
                if self.commits:
                    self.commits = 0
                    self.checkpoint()
        finally:
            with self._lock:
                self._close()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
