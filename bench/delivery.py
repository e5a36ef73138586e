"""Delivery at the limit that binds: many DMs over several Slack workspaces, several processes.

The fake Slack Web API (tests/fakes/slack_api.py) enforces Slack's chat.postMessage limits: one
message a second per channel and a token bucket per workspace (N a minute, short bursts). Each
worker is its own process on the same PostgreSQL database, running the real outbox delivery
(bot/nudges/delivery.py) through the real Slack messenger (adapters/slack_messenger.py). They share
the per-workspace budget through the database (bot/nudges/ratelimit.py), so together they should
send at (not above) the allowed aggregate rate: no 429 storm, nothing lost, nothing sent twice.

`python -m bench.delivery worker JSON` is one worker; `run()` builds the outbox, starts the fake
and the workers, and counts. The suite's correctness test (tests/test_shared_ratelimit.py) runs
the same code at a small size.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from bot.nudges.planner import plan
from bot.nudges.policy import DEFAULT_POLICY
from storage.db import Database
from storage.models import Cohort, Dare, Membership, Nudge, Person, Workspace

ROOT = Path(__file__).resolve().parent.parent
# A Monday mid-afternoon UTC: outside quiet hours for everyone (their zone is UTC). The workers'
# clock starts here and runs at real speed, so rate limits are in real seconds.
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def token(team: str) -> str:
    return f"xoxb-bench-{team}"


class OffsetClock:
    """Real time, shifted so that `t0` (a time.time() value shared by every worker) is NOW."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0

    def now(self) -> datetime:
        return NOW + timedelta(seconds=time.time() - self.t0)


def build_outbox(db: Database, workspaces: int, per_workspace: int) -> int:
    """Workspaces with one started dare each and `per_workspace` participants who have not accepted
    it: one announcement each. Person ids interleave workspaces, so the outbox does too."""
    start = NOW - timedelta(hours=1)
    with db.engine.begin() as conn:
        conn.execute(
            insert(Workspace),
            [
                dict(id=w + 1, platform="slack", external_id=f"T{w:02d}", name=f"ws{w}", created_at=start)
                for w in range(workspaces)
            ],
        )
        people, members = [], []
        n = workspaces * per_workspace
        for pid in range(1, n + workspaces + 1):
            w = (pid - 1) % workspaces
            teacher = pid > n
            people.append(
                dict(
                    id=pid,
                    workspace_id=w + 1,
                    external_id=f"U{pid:06d}",
                    display_name=f"Person {pid}",
                    alias=f"A{pid}",
                    tz="UTC",
                    quiet_start="21:00",
                    quiet_end="08:00",
                    nudges_enabled=True,
                    board_mode="named",
                    created_at=start,
                )
            )
            members.append(
                dict(cohort_id=w + 1, person_id=pid, is_instructor=teacher, is_participant=not teacher, joined_at=start)
            )
        conn.execute(insert(Person), people)
        conn.execute(
            insert(Cohort),
            [
                dict(
                    id=w + 1,
                    workspace_id=w + 1,
                    name="c",
                    name_key="c",
                    tz="UTC",
                    goal=3,
                    deadline=date(2026, 12, 20),
                    paused=False,
                    created_by=n + w + 1,
                    created_at=start,
                )
                for w in range(workspaces)
            ],
        )
        conn.execute(
            insert(Dare),
            [
                dict(
                    id=w + 1,
                    cohort_id=w + 1,
                    goal=3,
                    starts_at=start,
                    deadline=date(2026, 12, 20),
                    reward="coffee",
                    issued_by=n + w + 1,
                    followup_days=4,
                    stall_days=5,
                    daily_cap=1,
                    weekly_cap=3,
                    created_at=start,
                )
                for w in range(workspaces)
            ],
        )
        conn.execute(insert(Membership), members)
        if db.is_postgres:
            for t in ("workspace", "person", "cohort", "dare"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT MAX(id) FROM {t}))")
    with db.session() as s:
        return plan(s, NOW, DEFAULT_POLICY, platform="slack", rules=frozenset({"dare-issued"}))


def worker(cfg: dict) -> None:
    """One delivering process: deliver until nothing is left to send (or the deadline passes)."""
    from sqlalchemy import event

    from adapters.slack_messenger import ClientPool, SlackMessenger
    from bot.nudges.delivery import Delivery

    db = Database(cfg["url"])
    statements = [0]

    def count(*_args: object, **_kw: object) -> None:
        statements[0] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    clock = OffsetClock(cfg["t0"])
    policy = replace(DEFAULT_POLICY, ws_rate=cfg["rate"], ws_burst=cfg["burst"], backoff_base=1.0)
    clients = ClientPool(lambda team: token(team), cfg["api_url"])
    delivery = Delivery(
        db, clock, SlackMessenger(clients), platform="slack", worker_id=cfg["worker_id"], policy=policy, realtime=True
    )
    deadline = time.time() + cfg["timeout"]
    while time.time() < deadline:
        sent = delivery.run(limit=cfg.get("batch", 20))
        if sent:
            continue
        with db.session() as s:
            left = s.execute(
                select(func.count()).select_from(Nudge).where(Nudge.status.in_(("pending", "claimed")))
            ).scalar_one()
        if not left:
            break
        time.sleep(0.02)
    db.dispose()
    if cfg.get("stats"):
        Path(cfg["stats"]).write_text(json.dumps({"statements": statements[0]}))


@dataclass
class DeliveryResult:
    dms: int
    workspaces: int
    workers: int
    seconds: float
    allowed_per_s: float
    sent_rows: int
    delivered: int  # chat.postMessage calls the fake accepted
    duplicated: int  # people who got the announcement more than once
    lost: int  # planned DMs never delivered
    ratelimited: int  # 429s the fake answered
    statuses: dict[str, int]
    worker_cpu: float = 0.0  # CPU seconds the worker processes used (user + system), all of them
    statements: int = 0  # SQL statements the workers sent

    @property
    def cpu_ms_per_dm(self) -> float:
        """The workers' own cost per DM: unlike the rate, hardly moved by other load on the machine."""
        return 1000.0 * self.worker_cpu / self.delivered if self.delivered else 0.0

    @property
    def statements_per_dm(self) -> float:
        return self.statements / self.delivered if self.delivered else 0.0

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.rate / self.allowed_per_s


def run(
    url: str,
    *,
    workspaces: int = 10,
    per_workspace: int = 200,
    workers: int = 2,
    per_min: float = 300.0,
    fake_burst: int = 10,
    burst: int = 5,
    timeout: float = 300.0,
) -> DeliveryResult:
    """Build the outbox on `url` (a fresh database), start the fake and `workers` processes, count."""
    from tests.fakes.slack_api import FakeSlackAPI

    db = Database(url)
    db.upgrade()
    planned = build_outbox(db, workspaces, per_workspace)
    fake = FakeSlackAPI().start()
    try:
        for w in range(workspaces):
            team = f"T{w:02d}"
            fake.add_team(team, token(team))
        with db.session() as s:
            for ws_ext, user in s.execute(
                select(Workspace.external_id, Person.external_id).join(Person, Person.workspace_id == Workspace.id)
            ).all():
                fake.add_user(ws_ext, user, user.lower())
        fake.per_channel_rate = 1.0  # Slack: about one message a second in a channel (a DM is one)
        fake.workspace_rate_per_min = per_min
        fake.workspace_burst = fake_burst
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        t0 = time.time()
        procs = []
        stats = [Path(tempfile.mkstemp(prefix="darebot-delivery-", suffix=".json")[1]) for _ in range(workers)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for i in range(workers):
            cfg = dict(
                url=url,
                api_url=fake.url,
                worker_id=f"bench-w{i}",
                t0=t0,
                rate=per_min / 60.0,
                burst=burst,
                timeout=timeout,
                stats=str(stats[i]),
            )
            procs.append(
                subprocess.Popen([sys.executable, "-m", "bench.delivery", "worker", json.dumps(cfg)], cwd=ROOT, env=env)
            )
        for p in procs:
            p.wait(timeout + 60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        statements = 0
        for path in stats:
            text = path.read_text()
            statements += json.loads(text)["statements"] if text else 0
            path.unlink()
        posts = fake.ok_calls_to("chat.postMessage")
        ok_channels = Counter(c.args.get("channel") for c in posts)
        # From the first DM out (the workers have started) to the last.
        elapsed = (max(c.at for c in posts) - min(c.at for c in posts)) if len(posts) > 1 else 0.0
        with db.session() as s:
            statuses = dict(s.execute(select(Nudge.status, func.count()).group_by(Nudge.status)).all())
        return DeliveryResult(
            dms=planned,
            workspaces=workspaces,
            workers=workers,
            seconds=elapsed,
            allowed_per_s=workspaces * per_min / 60.0,
            sent_rows=statuses.get("sent", 0),
            delivered=len(posts),
            duplicated=sum(1 for n in ok_channels.values() if n > 1),
            lost=planned - len(ok_channels),
            ratelimited=sum(fake.ratelimited.values()),
            statuses=statuses,
            worker_cpu=cpu,
            statements=statements,
        )
    finally:
        fake.stop()
        db.dispose()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        worker(json.loads(sys.argv[2]))
    else:
        print("usage: python -m bench.delivery worker JSON", file=sys.stderr)
        raise SystemExit(2)
