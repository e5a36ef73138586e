"""Two delivery workers on one PostgreSQL database share the outbox and send each nudge once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.nudges.policy import DEFAULT_POLICY
from bot.ports import Sent
from bot.scheduler import NudgeScheduler
from storage.db import Database
from storage.models import Nudge
from tests.fakes.room import Dm, Room

pytestmark = pytest.mark.postgres

START = datetime(2026, 10, 19, 14, 0, tzinfo=UTC)
FAST = replace(DEFAULT_POLICY, ws_rate=10_000.0, ws_burst=10_000)


class SlowMessenger:
    """Records DMs, taking a moment over each so the two workers overlap."""

    def __init__(self, clock, log: list, lock: threading.Lock) -> None:
        self.clock, self.log, self.lock, self.n = clock, log, lock, 0

    def send_dm(self, workspace_external_id: str, user_id: str, reply, **_kw) -> Sent:
        time.sleep(0.002)
        with self.lock:
            self.n += 1
            self.log.append(Dm(self.clock.now(), workspace_external_id, user_id, reply))
            return Sent(f"{id(self)}-{self.n}")


def run_workers(coaches: list[NudgeScheduler]) -> None:
    barrier = threading.Barrier(len(coaches))
    errors: list[BaseException] = []

    def work(c: NudgeScheduler) -> None:
        try:
            barrier.wait()
            while c.deliver_due(limit=5):
                pass
            c.deliver_due(limit=5)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(c,)) for c in coaches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_two_workers_send_each_nudge_once(pg_url):
    r = Room(Database(pg_url), START)
    r.db.upgrade()
    r.engine.outbox_listener = None  # nobody delivers but the two workers below
    people = [f"p{i:02d}" for i in range(60)]
    r.say("teach", "cohort create cs101 --deadline 2026-12-20 --tz America/New_York")
    for p in people:
        r.say(p, "cohort join cs101")
    r.say("teach", "start cs101")
    for p in people[:30]:
        r.say(p, "accept")
    log: list[Dm] = []
    lock = threading.Lock()
    messengers = [SlowMessenger(r.clock, log, lock) for _ in range(2)]
    coaches = [
        NudgeScheduler(Database(pg_url), r.clock, m, platform="console", worker_id=f"w{i}", policy=FAST)
        for i, m in enumerate(messengers)
    ]

    # round 1: the 60 announcements (30 of them no longer needed: those people accepted already)
    run_workers(coaches)
    # round 2: both sweep at once (planning races too), then deliver the reminders and digests
    for day in (21, 24, 26, 28):
        r.clock.set(datetime(2026, 10, day, 15, 0, tzinfo=UTC))
        threads = [threading.Thread(target=c.sweep) for c in coaches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        run_workers(coaches)

    with r.db.session() as s:
        rows = list(s.execute(select(Nudge)).scalars())
    sent = [n for n in rows if n.status == "sent"]
    assert not [n for n in rows if n.status in ("pending", "claimed") and n.due_at <= r.clock.now()]
    assert len(log) == len(sent) > 100
    per_dm = Counter((d.user, d.title, d.at) for d in log)
    assert max(per_dm.values()) == 1, [k for k, v in per_dm.items() if v > 1]
    assert len({n.platform_message_id for n in sent}) == len(sent)
    assert all(m.n > 10 for m in messengers), [m.n for m in messengers]  # both did real work
    assert {n.claimed_by for n in sent} == {None}
    dropped = [n for n in rows if n.status == "dropped"]
    assert len([n for n in dropped if n.rule == "dare-issued"]) == 30
