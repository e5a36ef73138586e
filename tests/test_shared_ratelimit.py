"""The per-workspace send budget is one budget for every process (bot/nudges/ratelimit.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bench.delivery import run
from bot.nudges.ratelimit import SharedRateLimiter
from storage.db import Database, open_database

T = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_two_limiters_on_one_database_spend_one_budget(db_url: str) -> None:
    a = SharedRateLimiter(open_database(db_url), rate=2.0, burst=3)
    b = SharedRateLimiter(Database(db_url), rate=2.0, burst=3)
    key = "slack:T1"
    # the burst is shared: three messages between the two, then nothing without waiting 1/rate
    assert [a.reserve(key, T), b.reserve(key, T), a.reserve(key, T)] == [(True, 0.0)] * 3
    assert b.reserve(key, T) == (False, pytest.approx(0.5))
    assert a.reserve("slack:T2", T) == (True, 0.0)  # another workspace has its own budget
    # a slot within max_wait is booked: the next caller gets the one after it
    assert b.reserve(key, T, max_wait=2.0) == (True, pytest.approx(0.5))
    assert a.reserve(key, T, max_wait=2.0) == (True, pytest.approx(1.0))
    assert b.reserve(key, T, max_wait=1.2) == (False, pytest.approx(1.5))
    later = T + timedelta(seconds=1.5)
    assert a.reserve(key, later) == (True, 0.0)
    # a Retry-After seen by one process holds back the other
    a.block(key, later + timedelta(seconds=10))
    assert b.reserve(key, later + timedelta(seconds=4), max_wait=60) == (False, pytest.approx(6.0))
    # a clock a little behind never refills the bucket backwards
    assert b.reserve(key, later + timedelta(seconds=20)) == (True, 0.0)
    assert a.reserve(key, later + timedelta(seconds=19)) == (True, 0.0)
    a.db.dispose()
    b.db.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_processes_stay_within_the_workspace_limit(pg_url: str) -> None:
    """60 DMs over two workspaces from two delivering processes, against a fake Slack allowing
    4 a second per workspace: each process alone could send faster, together they must not."""
    r = run(pg_url, workspaces=2, per_workspace=30, workers=2, per_min=240, fake_burst=4, burst=2, timeout=120)
    assert r.dms == 60
    assert r.statuses == {"sent": 60}
    assert r.delivered == 60 and r.lost == 0 and r.duplicated == 0
    assert r.ratelimited <= 2  # scheduling jitter between the processes, not a storm
