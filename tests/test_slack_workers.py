"""`darebot run --platform slack --http --workers 2`: two processes answer on one port."""

from __future__ import annotations

import json
import signal
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from bench import burst
from tests.fakes.slack_api import signature

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _workers(pid: int) -> list[int]:
    """The server's child processes, without multiprocessing's resource tracker."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in out if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def _command(url: str, user: str, text: str) -> tuple[int, dict]:
    form = {
        "team_id": burst.TEAM,
        "team_domain": "t",
        "channel_id": "C1",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/dare",
        "text": text,
        "response_url": "http://127.0.0.1:9/r",
        "trigger_id": "1.1.t",
    }
    body = urllib.parse.urlencode(form)
    ts = str(int(__import__("time").time()))
    req = urllib.request.Request(
        url + "/slack/events",
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(burst.SECRET, ts, body),
        },
    )
    with urllib.request.urlopen(req, timeout=20) as resp:  # a new connection each time: the kernel spreads them
        return resp.status, json.loads(resp.read() or b"{}")


def test_two_workers_share_the_port_and_stop_together(pg_url: str) -> None:
    fake, api_url = burst.start_fake(3)
    proc = None
    try:
        burst.seed(pg_url, 3)
        proc, url = burst.start_darebot(pg_url, api_url, workers=2)
        workers = _workers(proc.pid)
        assert len(workers) == 2
        answers = [_command(url, burst.users(3)[i % 3], "progress") for i in range(12)]
        assert all(status == 200 for status, _ in answers)
        assert all("progress" in json.dumps(body).lower() for _, body in answers)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not any(_running(w) for w in workers)
    finally:
        burst.stop(proc)
        if fake.stdin is not None:
            fake.stdin.close()
        burst.stop(fake)
