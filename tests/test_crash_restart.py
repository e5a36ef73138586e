"""Kill a real delivery process mid-send, restart it: no nudge is lost, at most the one in flight is
sent twice. The child runs the real-time NudgeScheduler (APScheduler) with a slow messenger that writes each
DM to a file before the platform's answer comes back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from storage.db import Database, open_database
from storage.models import Nudge, Person

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = [f"u{i:02d}" for i in range(10)]


class FileMessenger:
    """'Sends' by appending to a file, then takes its time before answering with a message id."""

    def __init__(self, path: str, hang_at: int = 0) -> None:
        self.path, self.hang_at, self.n = path, hang_at, 0

    def send_dm(self, workspace_external_id: str, user_id: str, reply, **_kw):  # type: ignore[no-untyped-def]
        from bot.ports import Sent

        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{user_id}\n")
            f.flush()
            os.fsync(f.fileno())
        print(f"SENT {user_id}", flush=True)
        self.n += 1
        # the platform is slow to answer; the `hang_at`-th answer never comes before the kill
        time.sleep(60 if self.n == self.hang_at else 0.2)
        return Sent(f"msg-{user_id}")


def child(url: str, out: str, worker: str, hang_at: str) -> None:
    from bot.clock import SystemClock
    from bot.scheduler import NudgeScheduler

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # before any thread starts: sigwait takes it
    nudges = NudgeScheduler(
        Database(url),
        SystemClock(),
        FileMessenger(out, int(hang_at)),
        platform="console",
        sweep_seconds=1,
        worker_id=worker,
    )
    nudges.start()
    print("READY", flush=True)
    signal.sigwait({signal.SIGTERM})
    nudges.shutdown()


def spawn(url: str, out: Path, hang_at: int = 0) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_crash_restart", url, str(out), "worker-1", str(hang_at)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def read_until(proc: subprocess.Popen[str], count: int, seen: list[str]) -> None:
    """Block on the child's output (no polling) until `count` SENT lines have been read in total."""
    assert proc.stdout is not None
    while sum(1 for s in seen if s.startswith("SENT")) < count:
        line = proc.stdout.readline()
        assert line, "worker exited early"
        seen.append(line.strip())


def setup_outbox(url: str) -> None:
    from bot.clock import ManualClock
    from bot.engine import Engine
    from bot.identity import Actor, WorkspaceRef

    db = open_database(url)
    engine = Engine(db, ManualClock(datetime.now(UTC)))
    ws = WorkspaceRef("console", "T1")
    say = lambda u, t: engine.handle_text(ws, Actor(u, u), t)  # noqa: E731
    say("teach", "cohort create crash")
    for u in PEOPLE:
        say(u, "cohort join crash")
    say("teach", "start crash")
    with db.session() as s:  # whatever the real hour, no quiet hours in the way
        s.execute(update(Person).values(quiet_start="00:00", quiet_end="00:00"))
    db.dispose()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_mid_delivery_loses_nothing(db_url, tmp_path):
    setup_outbox(db_url)
    out = tmp_path / "sent.txt"
    seen: list[str] = []
    proc = spawn(db_url, out, hang_at=4)
    try:
        read_until(proc, 4, seen)  # the 4th DM has reached the "platform", its answer is pending
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    db = Database(db_url)
    with db.session() as s:
        statuses = Counter(s.execute(select(Nudge.status)).scalars())
    assert statuses["sent"] == 3 and statuses["claimed"] >= 1, statuses  # the in-flight one stays claimed

    proc = spawn(db_url, out)  # restarted with the same worker id: takes its rows back at once
    try:
        sent_before = len(out.read_text().split())
        read_until(proc, len(PEOPLE) - sent_before + 1, [])  # the rest, plus the one that was in flight
        proc.send_signal(signal.SIGTERM)  # shutdown waits for the last answer to be recorded
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with db.session() as s:
        statuses = Counter(s.execute(select(Nudge.status)).scalars())
    db.dispose()

    lines = out.read_text().split()
    counts = Counter(lines)
    assert set(counts) == set(PEOPLE)  # no nudge lost
    assert statuses == Counter({"sent": len(PEOPLE)})
    twice = [u for u, n in counts.items() if n > 1]
    assert len(twice) <= 1 and all(counts[u] == 2 for u in twice)  # at most the in-flight one, once more
    assert lines[3] in twice or not twice


if __name__ == "__main__":
    child(*sys.argv[1:5])
