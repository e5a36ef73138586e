"""A quick load check: 200 signed slash commands at concurrency 20 through the whole stack
(bolt AsyncApp on aiohttp, engine in worker threads, SQLite). None may be refused, and they must
be acknowledged well inside Slack's 3 seconds. Run with -s to see p50/p99."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fakes.slack_harness import TEAM, SlackHarness

N, CONCURRENCY = 200, 20


@pytest.mark.slow
def test_200_signed_commands_at_concurrency_20(tmp_path) -> None:
    h = SlackHarness(f"sqlite:///{tmp_path}/load.sqlite3")
    users = [f"U{i:03d}" for i in range(CONCURRENCY)]
    h.fake.add_user(TEAM, "UINS", "ines")
    for u in users:
        h.fake.add_user(TEAM, u, u.lower())
    try:
        h.slack.command("UINS", "cohort create Load")
        for u in users:
            h.slack.command(u, "cohort join Load")
        texts = ["progress", "board Load", "questions", 'contact "Person {i}"']

        def one(i: int) -> tuple[float, int, str]:
            t0 = time.perf_counter()
            res = h.slack.command(users[i % CONCURRENCY], texts[i % len(texts)].format(i=i))
            return time.perf_counter() - t0, res.status, res.body

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            t0 = time.perf_counter()
            results = list(pool.map(one, range(N)))
            wall = time.perf_counter() - t0
        times = sorted(r[0] for r in results)
        p50 = statistics.median(times) * 1000
        p99 = times[int(len(times) * 0.99) - 1] * 1000
        print(
            f"\n{N} commands at concurrency {CONCURRENCY}: p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
            f"max {times[-1] * 1000:.0f} ms, {N / wall:.0f} req/s"
        )
        assert all(status == 200 for _, status, _ in results)  # none refused
        assert p50 < 1000 and p99 < 2500  # loose: the suite runs in parallel; see the printed numbers
    finally:
        h.close()
