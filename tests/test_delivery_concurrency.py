"""Delivery by workspace: two workers on PostgreSQL, each sending several workspaces at once,
share one budget per workspace and never exceed it; a workspace without budget holds up no other.

Time is the injected ManualClock, for the workers and for the fake Slack's rate limits alike: the
checks count messages per clock window, never wall-clock time.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.slack_messenger import ClientPool, SlackMessenger
from bench.delivery import NOW, build_outbox, token
from bot.clock import ManualClock
from bot.nudges.delivery import Delivery
from bot.nudges.policy import DEFAULT_POLICY
from storage.db import Database
from storage.models import Nudge, Person, Workspace
from tests.fakes.slack_api import FakeSlackAPI

RATE, BURST = 2.0, 3  # per workspace: the limiter's budget and the fake's, the same
STEP = timedelta(milliseconds=250)


def _fake(db: Database, clock: ManualClock, workspaces: int) -> FakeSlackAPI:
    fake = FakeSlackAPI(time_fn=lambda: clock.now().timestamp()).start()
    for w in range(workspaces):
        fake.add_team(f"T{w:02d}", token(f"T{w:02d}"))
    with db.session() as s:
        for ws, user in s.execute(
            select(Workspace.external_id, Person.external_id).join(Person, Person.workspace_id == Workspace.id)
        ).all():
            fake.add_user(ws, user, user.lower())
    fake.per_channel_rate = 1.0
    fake.workspace_rate_per_min = RATE * 60
    fake.workspace_burst = BURST
    return fake


def _workers(url: str, clock: ManualClock, fake: FakeSlackAPI, n: int) -> list[Delivery]:
    policy = replace(DEFAULT_POLICY, ws_rate=RATE, ws_burst=BURST)
    return [
        Delivery(
            Database(url),
            clock,
            SlackMessenger(ClientPool(token, fake.url)),
            platform="slack",
            worker_id=f"w{i}",
            policy=policy,
            concurrency=4,
        )
        for i in range(n)
    ]


def _step(workers: list[Delivery]) -> None:
    """Every worker delivers once, all at the same clock moment, in threads started together."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def work(d: Delivery) -> None:
        try:
            barrier.wait()
            d.run(limit=5)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(d,)) for d in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


@pytest.mark.postgres
def test_two_workers_sharing_the_limiter_never_exceed_a_workspace_rate(pg_url: str) -> None:
    db = Database(pg_url)
    db.upgrade()
    workspaces, per_ws = 3, 12
    planned = build_outbox(db, workspaces, per_ws)
    clock = ManualClock(NOW)
    fake = _fake(db, clock, workspaces)
    workers = _workers(pg_url, clock, fake, 2)
    try:
        sends: list[Counter[str]] = []  # per step: chat.postMessage calls made (accepted or not), by workspace
        seen = 0
        for _ in range(200):
            _step(workers)
            posts = fake.calls_to("chat.postMessage")
            sends.append(Counter(fake.tokens[c.token or ""] for c in posts[seen:]))
            seen = len(posts)
            if len(fake.ok_calls_to("chat.postMessage")) >= planned:
                break
            clock.advance(STEP)
        assert seen == planned == workspaces * per_ws
        # A token bucket's bound: in any run of steps i..j, at most BURST + RATE * (time from i to j).
        for w in range(workspaces):
            team = f"T{w:02d}"
            per_step = [c[team] for c in sends]
            for i in range(len(per_step)):
                total = 0
                for j in range(i, len(per_step)):
                    total += per_step[j]
                    assert total <= BURST + RATE * (j - i) * STEP.total_seconds(), (team, i, j, per_step)
        assert fake.ratelimited == {"channel": 0, "workspace": 0}
        # Exactly once: everyone got their one DM, every row is sent, no attempt counted twice.
        channels = Counter(c.args.get("channel") for c in fake.ok_calls_to("chat.postMessage"))
        assert len(channels) == planned and set(channels.values()) == {1}
        with db.session() as s:
            rows = list(s.execute(select(Nudge)).scalars())
        assert {n.status for n in rows} == {"sent"}
        assert {n.attempts for n in rows} == {1}
        assert {n.claimed_by for n in rows} == {None}
        # The sends kept to the budget because it was spent at the limit, not because nothing was asked.
        assert len(sends) <= (per_ws - BURST) / (RATE * STEP.total_seconds()) + 3
    finally:
        fake.stop()
        for d in workers:
            d.db.dispose()
        db.dispose()


@pytest.mark.postgres
def test_a_workspace_without_budget_holds_up_no_other(pg_url: str) -> None:
    db = Database(pg_url)
    db.upgrade()
    planned = build_outbox(db, 2, 8)
    clock = ManualClock(NOW)
    fake = _fake(db, clock, 2)
    fake.workspace_rate_per_min = None
    (worker,) = _workers(pg_url, clock, fake, 1)
    worker.limiter = type(worker.limiter)(worker.db, rate=1000.0, burst=1000)
    try:
        until = NOW + timedelta(seconds=30)
        worker.limiter.block("slack:T00", until)  # a Retry-After seen for T00
        assert worker.run(limit=3) == 8
        posts = fake.ok_calls_to("chat.postMessage")
        assert {fake.tokens[c.token or ""] for c in posts} == {"T01"}
        with db.session() as s:
            held = list(s.execute(select(Nudge).where(Nudge.workspace_id == 1)).scalars())
        # T00's rows are back in the outbox, due when the block ends, their attempts uncounted.
        assert len(held) == 8 and {n.status for n in held} == {"pending"}
        assert {n.attempts for n in held} == {0} and min(n.due_at for n in held) >= until
        assert worker.run(limit=3) == 0  # nothing due before the block ends
        clock.set(until)
        assert worker.run(limit=3) == 8
        assert len(fake.ok_calls_to("chat.postMessage")) == planned
    finally:
        fake.stop()
        worker.db.dispose()
        db.dispose()


class _Died(BaseException):
    """The process died: nothing in delivery catches this."""


class _DiesAfterSending:
    """Slack gets the DM, then the process dies before recording it."""

    def __init__(self, inner: SlackMessenger) -> None:
        self.inner = inner

    def send_dm(self, workspace_external_id: str, user_id: str, reply, *, key: str = "", check: bool = False):  # type: ignore[no-untyped-def]
        self.inner.send_dm(workspace_external_id, user_id, reply, key=key, check=check)
        raise _Died


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_dm_in_flight_when_its_worker_died_is_checked_before_it_is_sent_again(db_url: str, concurrency: int) -> None:
    db = Database(db_url)
    db.upgrade()
    planned = build_outbox(db, 2, 1)
    clock = ManualClock(NOW)
    fake = _fake(db, clock, 2)
    dead, alive = _workers(db_url, clock, fake, 2)
    dead.messenger = _DiesAfterSending(SlackMessenger(ClientPool(token, fake.url)))
    dead.concurrency = alive.concurrency = concurrency if not db.is_sqlite else 1
    try:
        with pytest.raises(_Died):
            dead.run(limit=5)
        assert len(fake.ok_calls_to("chat.postMessage")) >= 1  # out, but not recorded as sent
        clock.advance(timedelta(seconds=DEFAULT_POLICY.claim_seconds + 1))  # its claims run out
        assert alive.run(limit=5) == planned
        channels = Counter(c.args.get("channel") for c in fake.ok_calls_to("chat.postMessage"))
        assert len(channels) == planned and set(channels.values()) == {1}  # nobody got it twice
        with db.session() as s:
            assert {n.status for n in s.execute(select(Nudge)).scalars()} == {"sent"}
    finally:
        fake.stop()
        dead.db.dispose()
        alive.db.dispose()
        db.dispose()
