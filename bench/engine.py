"""Engine benchmark: command latency and report/board time on SQLite and PostgreSQL, side by side.

Run with `make bench` (or `python -m bench.engine`). Figures are medians of repeated runs in one
process, so the two databases are measured under the same machine load.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.clock import ManualClock
from bot.engine import Engine
from bot.identity import Actor, WorkspaceRef
from storage.db import open_database

WS = WorkspaceRef("console", "bench")


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _seed(engine: Engine, clock: ManualClock, participants: int) -> None:
    say = lambda who, text: engine.handle_text(WS, Actor(who, who), text)  # noqa: E731
    say("prof", "/dare cohort create Bench --goal 2")
    for i in range(participants):
        say(f"s{i}", "/dare cohort join Bench")
    say("prof", "/dare start Bench")
    for i in range(participants):
        who = f"s{i}"
        say(who, "/dare accept")
        say(who, f'/dare contact "Person {i}" --decides')
        say(who, f'/dare outreach "Person {i}"')
        if i % 3 == 0:
            say(who, f'/dare reply "Person {i}" --meeting today')
            say(who, f'/dare log "Person {i}" --minutes 15 --outcome advice')
    clock.advance(timedelta(days=1))


def run_one(url: str, participants: int, repeat: int) -> dict[str, float]:
    db = open_database(url)
    clock = ManualClock(datetime(2026, 9, 7, 14, tzinfo=UTC))
    engine = Engine(db, clock)
    t0 = time.perf_counter()
    _seed(engine, clock, participants)
    seed_s = time.perf_counter() - t0
    commands = 3 * participants + participants // 3 * 2 + participants + 2
    counter = iter(range(10**9))
    write = _timed(lambda: engine.handle_text(WS, Actor("s1", "s1"), f'/dare contact "Extra {next(counter)}"'), repeat)
    progress = _timed(lambda: engine.handle_text(WS, Actor("s1", "s1"), "/dare progress"), repeat)
    board = _timed(lambda: engine.handle_text(WS, Actor("prof", "prof"), "/dare board Bench"), repeat)
    report = _timed(lambda: engine.handle_text(WS, Actor("prof", "prof"), "/dare report Bench"), max(3, repeat // 5))
    db.dispose()
    return {
        "seed_cmds_per_s": commands / seed_s,
        "write_ms": 1000 * statistics.median(write),
        "progress_ms": 1000 * statistics.median(progress),
        "board_ms": 1000 * statistics.median(board),
        "report_ms": 1000 * statistics.median(report),
    }


def main(participants: int = 200, repeat: int = 30) -> None:
    from tests.pg import start_postgres

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_one(f"sqlite:///{tmp}/bench.sqlite3", participants, repeat)
    server = start_postgres()
    try:
        results["postgres"] = run_one(server.create_database("bench_engine"), participants, repeat)
    finally:
        server.stop()
    print(f"\nengine: one cohort of {participants} participants, medians of {repeat} runs")
    print(f"{'measure':<22}{'sqlite':>12}{'postgres':>12}{'pg/sqlite':>12}")
    for key in results["sqlite"]:
        a, b = results["sqlite"][key], results["postgres"][key]
        print(f"{key:<22}{a:>12.1f}{b:>12.1f}{b / a:>12.2f}")


if __name__ == "__main__":
    main()
