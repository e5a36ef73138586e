"""A big sweep shared with a helper process plans exactly what one process plans.

The helper is a real process (a fork of the helpers' fork server, or a spawned interpreter where the
platform has no fork server) opening the same database (a SQLite file, or PostgreSQL). The
parent is held back until the helper has claimed its first batch, so both processes sweep some of the
batches whatever the machine's speed; the tiny batches make each sweep many batches.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.clock import ManualClock
from bot.nudges import planner, share
from bot.nudges.policy import DEFAULT_POLICY
from bot.scheduler import NudgeScheduler
from storage.db import Database
from tests.test_sweep_batch import SWEEPS, _outbox, _populate, _reset


@pytest.fixture
def cohort(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    db = Database(db_url)
    db.upgrade()
    _populate(db)
    monkeypatch.setattr(planner, "CHUNK", 8)
    monkeypatch.setattr(share, "SHARE_MIN", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    front = share.Claims.from_front

    def after_the_helper(self: share.Claims) -> Iterator[list[int]]:
        deadline = time.monotonic() + 60
        while self.bounds[1] == self.count and time.monotonic() < deadline:
            time.sleep(0.005)
        yield from front(self)

    monkeypatch.setattr(share.Claims, "from_front", after_the_helper)
    yield db
    db.dispose()


def _sweeps(db: Database, processes: int) -> list[tuple[set[tuple[Any, ...]], dict[int, Any]]]:
    out = []
    for now in SWEEPS:
        with db.session() as s:
            planner.plan(s, now, DEFAULT_POLICY, platform="console", processes=processes)
        out.append(_outbox(db))
    return out


def test_a_sweep_shared_with_a_helper_plans_what_one_process_plans(
    cohort: Database, caplog: pytest.LogCaptureFixture
) -> None:
    alone = _sweeps(cohort, processes=1)
    assert not [r for r in caplog.records if "helper" in r.getMessage()]
    _reset(cohort)
    with caplog.at_level(logging.INFO, logger="darebot.nudges"):
        shared = _sweeps(cohort, processes=2)
    helped = [r.args for r in caplog.records if r.getMessage().startswith("sweep of")]
    assert len(helped) >= 3  # (a sweep with nobody due starts no helper)
    assert all(isinstance(a, tuple) and 0 < a[1] < a[2] for a in helped), helped  # both processes swept
    for now, (want_rows, want_marks), (got_rows, got_marks) in zip(SWEEPS, alone, shared, strict=True):
        assert got_rows == want_rows, f"sweep at {now}: {sorted(got_rows ^ want_rows)[:5]}"
        assert got_marks == want_marks, f"sweep at {now}"


def test_a_helper_that_fails_leaves_its_people_to_the_next_sweep(
    cohort: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = SWEEPS[0]
    alone = _sweeps(cohort, processes=1)[0]
    _reset(cohort)
    # The helper's "database" is a directory: it fails opening it, for the batch it has just claimed.
    monkeypatch.setattr(share, "shareable_url", lambda bind: f"sqlite:///{os.path.dirname(__file__)}")
    with cohort.session() as s, pytest.raises(share.HelperFailed, match="unfinished batches"):
        planner.plan(s, now, DEFAULT_POLICY, platform="console", processes=2)
    rows, _marks = _outbox(cohort)
    assert rows and rows < alone[0]  # the parent's batches are committed, the helper's are not
    with cohort.session() as s:
        planner.plan(s, now, DEFAULT_POLICY, platform="console", processes=1)
    assert _outbox(cohort) == alone


def test_a_helper_that_cannot_start_sweeping_leaves_the_whole_sweep_to_the_parent(
    cohort: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alone = _sweeps(cohort, processes=1)[0]
    _reset(cohort)
    monkeypatch.undo()  # the fixture's settings again, without its wait for the helper's first claim
    monkeypatch.setattr(planner, "CHUNK", 8)
    monkeypatch.setattr(share, "SHARE_MIN", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(share, "shareable_url", lambda bind: "no-such-dialect://")  # fails before claiming
    monkeypatch.setattr(share.Claims, "left", lambda self: 1)  # started even if the parent is done first
    with caplog.at_level(logging.WARNING, logger="darebot.nudges"), cohort.session() as s:
        planner.plan(s, SWEEPS[0], DEFAULT_POLICY, platform="console", processes=2)
    assert _outbox(cohort) == alone
    assert any("failed before leaving any batch unfinished" in r.getMessage() for r in caplog.records)


@given(n=st.integers(0, 60), chunk=st.integers(1, 9), sides=st.lists(st.booleans(), max_size=80))
def test_claims_give_every_batch_to_exactly_one_side(n: int, chunk: int, sides: list[bool]) -> None:
    ids = list(range(100, 100 + 2 * n, 2))
    claims = share.Claims(ids, chunk)
    front, back = claims.from_front(), claims.from_back()
    got: list[list[int]] = []
    for side in sides:
        batch = next(front if side else back, None)
        if batch is not None:
            got.append(batch)
    got += list(front) + list(back)
    assert sorted(pid for b in got for pid in b) == ids
    assert all(0 < len(b) <= chunk for b in got) and len(got) == len(claims)


def test_without_shared_memory_the_sweep_runs_in_one_process(
    cohort: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alone = _sweeps(cohort, processes=1)[0]
    _reset(cohort)

    def no_shm(*args: Any) -> None:
        raise OSError(38, "Function not implemented")  # what a container without /dev/shm answers

    monkeypatch.setattr(share, "Claims", no_shm)
    with caplog.at_level(logging.WARNING, logger="darebot.nudges"), cohort.session() as s:
        planner.plan(s, SWEEPS[0], DEFAULT_POLICY, platform="console", processes=2)
    assert _outbox(cohort) == alone
    assert any("sweeps alone" in r.getMessage() for r in caplog.records)


def test_no_helper_is_started_once_every_batch_is_claimed() -> None:
    claims = share.Claims(list(range(1, 50)), 10)
    assert claims.left() == 5
    assert len(list(claims.from_front())) == 5 and claims.left() == 0
    job = share.Job(SWEEPS[0], DEFAULT_POLICY, None, {}, set(), {})
    helpers = share.Helpers("sqlite:////nonexistent/none.sqlite3", claims, job, 1)
    assert helpers.join() == (0, 0) and helpers.running == []


class _Null:
    def send_dm(self, ws: str, user: str, reply: object, **_kw: object) -> object:
        return None


def test_the_scheduler_starts_the_helpers_server_only_where_a_shared_sweep_can_come(
    cohort: Database, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(share, "warm_up", lambda: asked.append("warm"))
    clock = ManualClock(SWEEPS[0])

    def scheduler(db: Database, platform: str = "console", processes: int | None = None) -> NudgeScheduler:
        return NudgeScheduler(db, clock, _Null(), platform=platform, sweep_processes=processes)

    monkeypatch.setattr(share, "SHARE_MIN", 130)  # the generated cohort: 130 people on the console
    hourly = scheduler(cohort)
    hourly.warm_up_helpers()
    hourly.warm_up_helpers()  # an hour later: started already
    assert asked == ["warm"]
    scheduler(cohort, platform="slack").warm_up_helpers()  # 10 people there
    scheduler(cohort, processes=1).warm_up_helpers()  # told to sweep alone
    monkeypatch.setattr(share, "SHARE_MIN", 131)
    scheduler(cohort).warm_up_helpers()
    assert asked == ["warm"]
    memory = Database("sqlite://")  # no other process can open it
    memory.upgrade()
    monkeypatch.setattr(share, "SHARE_MIN", 0)
    scheduler(memory).warm_up_helpers()
    assert asked == ["warm"]
    scheduler(cohort)._job_purge()  # the hourly job, with the retention purge, is what calls it
    assert asked == ["warm", "warm"]


def test_after_warm_up_a_helper_sweeps_and_reports_its_cpu(cohort: Database, caplog: pytest.LogCaptureFixture) -> None:
    alone = _sweeps(cohort, processes=1)[0]
    _reset(cohort)
    server = share.warm_up()
    if "forkserver" in __import__("multiprocessing").get_all_start_methods():
        assert server is not None
        server.join()
    with caplog.at_level(logging.INFO, logger="darebot.nudges"), cohort.session() as s:
        planner.plan(s, SWEEPS[0], DEFAULT_POLICY, platform="console", processes=2)
    assert _outbox(cohort) == alone
    (done,) = [r for r in caplog.records if r.getMessage().startswith("sweep of")]
    assert done.__dict__["helper_cpu"] > 0  # (logging.LogRecord: the extra is an attribute)
