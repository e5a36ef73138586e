"""SQLite's connections: each thread keeps one between commands, and the write-ahead log is copied
back into the database file by a thread of its own, never inside a command's commit.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

from sqlalchemy import func, select, text

from storage import checkpoint
from storage.checkpoint import BACKSTOP_PAGES, Checkpointer
from storage.db import _Kept, open_database
from storage.models import Cohort
from tests.fakes.chat import Chat


def _until(condition, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    """Polls `condition` until it holds (a wait for a thread, not a timing: the bound only ends a hang)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def test_a_thread_keeps_its_connection_from_one_command_to_the_next(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/k.sqlite3")
    try:
        with db.unit() as first:
            a = first.conn
        with db.unit() as second:
            b = second.conn
            with db.unit() as inner:  # a unit inside a unit: a connection of its own
                assert inner.conn is not b
        assert a is b
        seen: list[object] = []
        worker = threading.Thread(target=lambda: seen.append(db.unit().__enter__().conn))
        worker.start()
        worker.join()
        assert seen and seen[0] is not a
    finally:
        db.dispose()


def test_a_kept_connection_goes_back_when_its_thread_ends_and_all_close_on_dispose(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/k.sqlite3")
    pool = db.engine.pool

    def one_command() -> None:
        with db.unit() as unit:
            unit.conn.execute(text("SELECT 1"))

    worker = threading.Thread(target=one_command)
    worker.start()
    worker.join()
    del worker
    assert _until(lambda: pool.checkedout() == 0)  # type: ignore[attr-defined]
    one_command()
    assert pool.checkedout() == 1  # type: ignore[attr-defined]
    db.dispose()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


def test_commands_leave_checkpoints_to_the_checkpoint_thread(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(checkpoint, "COMMITS", 10)
    path = tmp_path / "c.sqlite3"
    chat = Chat.open(f"sqlite:///{path}")
    try:
        with chat.db.unit() as unit:
            assert unit.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
        checkpointer = chat.db._checkpointer
        assert checkpointer is not None and checkpointer.every == 10
        runs = checkpointer.runs
        for n in range(30):
            chat.ok("prof", f"/dare cohort create Group{n}")
        assert _until(lambda: checkpointer.runs > runs)  # woken by the commits, not by a timer
        busy, pages, copied = checkpointer.checkpoint() or (1, 0, 0)
        assert busy == 0 and copied == pages  # everything committed is in the database file
    finally:
        chat.db.dispose()
    assert not checkpointer._thread.is_alive()


def test_a_few_commits_are_checkpointed_once_the_process_is_idle(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    chat = Chat.open(f"sqlite:///{path}")
    try:
        chat.ok("prof", "/dare cohort create Quiet")
        chat.db.dispose()  # the test's own checkpointer, with a short idle time
        checkpointer = Checkpointer(path, every=1_000, idle=0.05)
        try:
            assert not _until(lambda: checkpointer.runs > 0, seconds=0.3)  # nothing committed: nothing to do
            checkpointer.committed()
            assert _until(lambda: checkpointer.runs == 1)
        finally:
            checkpointer.stop()
    finally:
        chat.db.dispose()


def test_after_a_checkpoint_the_database_file_alone_holds_every_row(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    chat = Chat.open(f"sqlite:///{path}")
    try:
        for n in range(20):
            chat.ok("prof", f"/dare cohort create Group{n}")
        checkpointer = Checkpointer(path, idle=3600)
        try:
            busy, pages, copied = checkpointer.checkpoint() or (1, 0, 0)
            assert busy == 0 and copied == pages
        finally:
            checkpointer.stop()
        shutil.copy(path, tmp_path / "file-alone.sqlite3")  # without its -wal
        with closing(sqlite3.connect(tmp_path / "file-alone.sqlite3")) as raw:
            assert raw.execute("SELECT count(*) FROM cohort").fetchone()[0] == 20
        with chat.db.session() as s:
            assert s.execute(select(func.count()).select_from(Cohort)).scalar() == 20
    finally:
        chat.db.dispose()


def test_the_checkpointer_never_creates_a_deleted_database(tmp_path: Path) -> None:
    path = tmp_path / "gone.sqlite3"
    checkpointer = Checkpointer(path, every=1, idle=0.01)
    try:
        assert checkpointer.checkpoint() is None
        checkpointer.committed()
        time.sleep(0.05)  # its own run, which may not create the file either
        assert not path.exists() and not os.path.exists(f"{path}-wal")
    finally:
        checkpointer.stop()


def test_only_a_few_threads_keep_a_connection_so_the_pool_never_runs_dry(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/k.sqlite3")
    go = threading.Event()
    ran: list[bool] = []

    def command_then_idle() -> None:
        with db.unit() as unit:
            unit.conn.execute(text("SELECT 1"))
        ran.append(True)
        go.wait(30)  # alive, as an executor's idle thread is

    idle = [threading.Thread(target=command_then_idle) for _ in range(20)]  # more than the pool's 15
    try:
        for thread in idle:
            thread.start()
        assert _until(lambda: len(ran) == 20)
        assert db.engine.pool.checkedout() == _Kept.KEPT  # type: ignore[attr-defined]
        with db.session() as s:  # the pool still has connections for everyone else
            assert s.execute(select(func.count()).select_from(Cohort)).scalar() == 0
    finally:
        go.set()
        for thread in idle:
            thread.join()
        db.dispose()


def test_the_checkpointer_opens_a_file_whose_name_looks_like_a_uri(tmp_path: Path) -> None:
    folder = tmp_path / "a class #1?"
    folder.mkdir()
    path = folder / "dare 50%.sqlite3"
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("CREATE TABLE t (x)")
        raw.execute("INSERT INTO t VALUES (1)")
        raw.commit()
        checkpointer = Checkpointer(path, idle=3600)
        try:
            busy, pages, copied = checkpointer.checkpoint() or (1, 0, 0)
            assert busy == 0 and pages > 0 and copied == pages  # this file's log, copied
        finally:
            checkpointer.stop()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no other file opened or created
