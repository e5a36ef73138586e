"""Sweep benchmark: plan nudges for N participants on SQLite and PostgreSQL.

For each database and size: build a workspace of N participants in cohorts of 100 (a dare each,
most accepted, contacts and outreach attempts in every state, some meetings and interviews), then
time the first sweep (an empty outbox: every due nudge is inserted) and a second one (steady
state: everything already planned) in a fresh process, whose peak resident set (getrusage) is the
sweeps' memory. Prints participants/second, peak memory, and the growth ratios between sizes.

The sweeping process first does what `darebot run`'s scheduler does at start in a database this big:
it starts the fork server the sweep's helpers come from (bot.nudges.share.warm_up) and waits for it.
For the largest size the first sweep is also timed "cold", on a copy of the database, in a process
that starts that server only when the sweep asks for a helper (the first big sweep after a start).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlmodel import Session

from bot.nudges import share
from bot.nudges.planner import plan
from bot.nudges.policy import DEFAULT_POLICY
from storage.db import Database
from storage.models import Acceptance, Cohort, Contact, Dare, Interview, Membership, Nudge, Outreach, Person, Workspace

NOW = datetime(2026, 10, 26, 15, 0, tzinfo=UTC)  # a Monday: digests fall due today
# How many processes a sweep uses (DAREBOT_SWEEP_PROCESSES, as `darebot run` reads it; unset: its default).
PROCESSES = int(os.environ["DAREBOT_SWEEP_PROCESSES"]) if os.environ.get("DAREBOT_SWEEP_PROCESSES") else None
START = datetime(2026, 10, 12, 14, 0, tzinfo=UTC)
COHORT = 100
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles", None)


def _batched(conn, table, rows: list[dict], size: int = 5000) -> None:
    for i in range(0, len(rows), size):
        conn.execute(insert(table), rows[i : i + size])


def populate(db: Database, n: int, seed: int = 1) -> None:
    """N participants (ids are assigned here, so everything is one bulk insert per table)."""
    rnd = random.Random(seed)
    cohorts = (n + COHORT - 1) // COHORT
    with db.engine.begin() as conn:
        conn.execute(
            insert(Workspace), [dict(id=1, platform="console", external_id="bench", name="bench", created_at=START)]
        )
        people, cohort_rows, dares, members, accepts, contacts, outreach, interviews = ([] for _ in range(8))
        instr_base = n + 1
        for c in range(cohorts):
            teacher = instr_base + c
            people.append(
                dict(
                    id=teacher,
                    workspace_id=1,
                    external_id=f"T{c}",
                    display_name=f"Teacher {c}",
                    alias=f"T{c}",
                    tz=None,
                    quiet_start="21:00",
                    quiet_end="08:00",
                    nudges_enabled=True,
                    board_mode="named",
                    created_at=START,
                )
            )
        _batched(conn, Person, people)
        people.clear()
        for c in range(cohorts):
            cohort_rows.append(
                dict(
                    id=c + 1,
                    workspace_id=1,
                    name=f"c{c}",
                    name_key=f"c{c}",
                    tz="America/Chicago",
                    goal=3,
                    deadline=date(2026, 11, 20),
                    paused=False,
                    created_by=instr_base + c,
                    created_at=START,
                )
            )
            dares.append(
                dict(
                    id=c + 1,
                    cohort_id=c + 1,
                    goal=3,
                    starts_at=START,
                    deadline=date(2026, 11, 20),
                    reward="coffee",
                    issued_by=instr_base + c,
                    followup_days=4,
                    stall_days=5,
                    daily_cap=1,
                    weekly_cap=3,
                    created_at=START,
                )
            )
            members.append(
                dict(
                    cohort_id=c + 1, person_id=instr_base + c, is_instructor=True, is_participant=False, joined_at=START
                )
            )
        _batched(conn, Cohort, cohort_rows)
        _batched(conn, Dare, dares)
        contact_id = outreach_id = interview_id = 0
        for pid in range(1, n + 1):
            cid = (pid - 1) // COHORT + 1
            people.append(
                dict(
                    id=pid,
                    workspace_id=1,
                    external_id=f"U{pid}",
                    display_name=f"Person {pid}",
                    alias=f"A{pid}",
                    tz=ZONES[pid % len(ZONES)],
                    quiet_start="21:00",
                    quiet_end="08:00",
                    nudges_enabled=pid % 50 != 0,
                    board_mode="named",
                    created_at=START,
                )
            )
            members.append(
                dict(cohort_id=cid, person_id=pid, is_instructor=False, is_participant=True, joined_at=START)
            )
            if rnd.random() < 0.3:
                continue  # not accepted
            accepts.append(dict(dare_id=cid, person_id=pid, accepted_at=START + timedelta(hours=rnd.randint(1, 72))))
            for _ in range(rnd.choice((0, 1, 1, 2, 3))):
                contact_id += 1
                contacts.append(
                    dict(
                        id=contact_id,
                        workspace_id=1,
                        person_id=pid,
                        name=f"C{contact_id}",
                        name_key=f"c{contact_id}",
                        kind="future-self",
                        can_decide=rnd.random() < 0.3,
                        created_at=START + timedelta(days=1),
                    )
                )
                sent = date(2026, 10, 13) + timedelta(days=rnd.randint(0, 8))
                for attempt in range(1, rnd.randint(1, 3) + 1):
                    outreach_id += 1
                    status = "no-reply"
                    meeting = None
                    if attempt == 1 and rnd.random() < 0.25:
                        status = rnd.choice(("replied", "meeting", "declined"))
                        meeting = date(2026, 10, 27) if status == "meeting" else None
                    outreach.append(
                        dict(
                            id=outreach_id,
                            contact_id=contact_id,
                            person_id=pid,
                            attempt_no=attempt,
                            channel="email",
                            sent_on=sent,
                            status=status,
                            replied_on=sent + timedelta(days=1) if status != "no-reply" else None,
                            meeting_on=meeting,
                            created_at=START + timedelta(days=1),
                        )
                    )
                    if status != "no-reply":
                        if status == "replied" and rnd.random() < 0.5:
                            interview_id += 1
                            interviews.append(
                                dict(
                                    id=interview_id,
                                    person_id=pid,
                                    contact_id=contact_id,
                                    held_on=sent + timedelta(days=3),
                                    asked="",
                                    created_at=START + timedelta(days=5),
                                )
                            )
                        break
                    sent += timedelta(days=4)
            if len(people) >= 20000:
                _batched(conn, Person, people)
                people.clear()
        _batched(conn, Person, people)
        for table, rows in (
            (Membership, members),
            (Acceptance, accepts),
            (Contact, contacts),
            (Outreach, outreach),
            (Interview, interviews),
        ):
            _batched(conn, table, rows)
        if db.is_postgres:  # explicit ids: move the sequences past them
            for t in ("workspace", "person", "cohort", "dare", "contact", "outreach", "interview"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {t}))"
                )
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")


@dataclass
class Result:
    backend: str
    n: int
    first_s: float
    planned: int
    steady_s: float
    base_mb: float  # resident set after imports and connecting
    peak_mb: float  # peak resident set after both sweeps
    heap_mb: float | None = None  # peak Python heap (tracemalloc) of a first sweep, on an emptied outbox
    first_cpu_s: float | None = None  # CPU seconds of the sweeping process in the first sweep
    first_server_cpu_s: float | None = None  # and of its PostgreSQL backends (the session's and the writer's)
    first_main_cpu_s: float | None = None  # of the sweep's own thread (reads and rules; the writer thread apart)
    first_helper_cpu_s: float | None = None  # of its helper processes (bot.nudges.share), when it started any
    cold_s: float | None = None  # the first sweep in a process that had not started the helpers' fork server

    @property
    def rate(self) -> float:
        return self.n / self.first_s

    @property
    def steady_rate(self) -> float:
        return self.n / self.steady_s

    @property
    def sweep_mb(self) -> float:
        return max(self.peak_mb - self.base_mb, 0.1)


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _reset_peak() -> float:
    """Reset the peak resident set to the current one (Linux); return the baseline in MB."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        pass
    return _status_mb("VmRSS") or _peak_mb()


def _peak_mb() -> float:
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _server_cpu(s: Session) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends connected to this database (a local server we can
    read: the session's, and the writer's once it has connected; it stays in the pool), else None."""
    if s.get_bind().dialect.name != "postgresql":
        return None
    pids = (
        s.connection()
        .exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        .scalars()
        .all()
    )
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class _HelperCpu(logging.Handler):
    """The CPU seconds the sweep's helpers report (bot.nudges.planner logs them): a helper forked by the fork
    server is that server's child, not ours, so os.times() does not count it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        self.seconds += getattr(record, "helper_cpu", 0.0)


def sweep_once(db: Database, cpu: dict[str, float | None] | None = None) -> tuple[float, int]:
    """Seconds and rows planned; `cpu` gets the CPU seconds of this process and of the database server
    for the sweep: on a shared machine the wall time says as much about the neighbours as about us."""
    gc.collect()
    helper_cpu = _HelperCpu()
    logger = logging.getLogger("darebot.nudges")
    logger.addHandler(helper_cpu)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with db.session() as s:
            server = _server_cpu(s)
            t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
            planned = plan(s, NOW, DEFAULT_POLICY, platform="console", processes=PROCESSES)
            elapsed, used, main = time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - m0
            after = _server_cpu(s)
    finally:
        logger.removeHandler(helper_cpu)
        logger.setLevel(level)
    helpers = helper_cpu.seconds
    if cpu is not None:
        cpu["first_cpu_s"] = used
        cpu["first_main_cpu_s"] = main
        cpu["first_helper_cpu_s"] = helpers or None
        cpu["first_server_cpu_s"] = after - server if after is not None and server is not None else None
    return elapsed, planned


def measure(url: str, heap: bool = False, warm: bool = True) -> dict:
    """Run in a fresh process, so its peak resident set is the sweep's and nothing else's. `warm`: start
    the helpers' fork server first and wait for it, as the scheduler does at start."""
    db = Database(url)
    with db.session() as s:  # connect and warm up the ORM before taking the baseline
        s.execute(select(func.count()).select_from(Nudge)).scalar()
    if warm and PROCESSES != 1 and (server := share.warm_up()) is not None:
        server.join()
    gc.collect()
    base = _reset_peak()
    cpu: dict[str, float | None] = {}
    first, planned = sweep_once(db, cpu)
    steady, again = sweep_once(db)
    assert again == 0, again
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Nudge)).scalar() == planned
    peak = _peak_mb()
    if not heap:
        return dict(first_s=first, planned=planned, steady_s=steady, base_mb=base, peak_mb=peak, **cpu)
    with db.session() as s:
        s.execute(delete(Nudge))
    tracemalloc.start()
    _, replanned = sweep_once(db)
    heap = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert replanned == planned
    return dict(first_s=first, planned=planned, steady_s=steady, base_mb=base, peak_mb=peak, heap_mb=heap, **cpu)


def run_case(
    db: Database,
    backend: str,
    n: int,
    heap: bool = False,
    *,
    repeat: int = 1,
    copy: Callable[[str, int], str] | None = None,
    cold: bool = False,
) -> Result:
    """Populate, then sweep in a fresh process; with `repeat` > 1, also on copies of the populated database
    made by `copy(url, k)`, and keep the median first sweep (a small size's sweep takes half a second,
    so one scheduler hiccup moved its figure, and the growth ratio with it, by a quarter). `cold`: also
    time a first sweep on one more copy in a process that has not started the helpers' fork server."""
    db.upgrade()
    t0 = time.perf_counter()
    populate(db, n)
    db.dispose()
    print(f"  {backend:<10} {n:>7} participants: data ready in {time.perf_counter() - t0:5.1f}s", flush=True)
    urls = [db.url] + ([copy(db.url, k) for k in range(1, repeat)] if copy is not None else [])
    cold_url = copy(db.url, repeat) if cold and copy is not None else None
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))

    def sweep_in_a_new_process(url: str, warm: bool) -> Result:
        out = subprocess.run(
            [sys.executable, "-m", "bench.sweep", url, "heap" if heap else "-", "warm" if warm else "cold"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return Result(backend, n, **json.loads(out.strip().splitlines()[-1]))

    runs = [sweep_in_a_new_process(url, warm=True) for url in urls]
    r = sorted(runs, key=lambda x: x.first_s)[len(runs) // 2]
    if cold_url is not None:
        r.cold_s = sweep_in_a_new_process(cold_url, warm=False).first_s
    cpu = f" (CPU: {r.first_cpu_s:.1f}s here" if r.first_cpu_s is not None else " ("
    cpu += f", {r.first_main_cpu_s:.1f}s of it in the sweep's thread" if r.first_main_cpu_s is not None else ""
    cpu += f", {r.first_helper_cpu_s:.1f}s in a helper process" if r.first_helper_cpu_s else ""
    cpu += f", {r.first_server_cpu_s:.1f}s in the server)" if r.first_server_cpu_s is not None else ")"
    of = f" (median of {len(runs)}: {', '.join(f'{x.first_s:.2f}' for x in runs)} s)" if len(runs) > 1 else ""
    print(
        f"  {backend:<10} {n:>7} participants: first sweep {r.first_s:.1f}s{of}{cpu}, steady {r.steady_s:.1f}s, "
        + (f"cold first sweep {r.cold_s:.1f}s, " if r.cold_s is not None else "")
        + f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return r


def report(results: list[Result]) -> str:
    lines = [
        f"{'backend':<10} {'participants':>12} {'planned':>8} {'first sweep':>11} {'part./s':>9} "
        f"{'steady sweep':>12} {'part./s':>9} {'peak RSS MB':>11} {'sweep RSS MB':>12} {'heap MB':>7}"
    ]
    for r in results:
        lines.append(
            f"{r.backend:<10} {r.n:>12} {r.planned:>8} {r.first_s:>10.2f}s {r.rate:>9.0f} "
            f"{r.steady_s:>11.2f}s {r.steady_rate:>9.0f} {r.peak_mb:>11.1f} {r.sweep_mb:>12.1f} "
            f"{'-' if r.heap_mb is None else f'{r.heap_mb:.1f}':>7}"
        )
    by_backend: dict[str, list[Result]] = {}
    for r in results:
        by_backend.setdefault(r.backend, []).append(r)
    for backend, rs in by_backend.items():
        rs.sort(key=lambda r: r.n)
        for small, big in zip(rs, rs[1:], strict=False):
            x = big.n / small.n
            lines.append(
                f"{backend}: {x:.0f}x the participants -> time x{big.first_s / small.first_s:.1f} "
                f"(steady x{big.steady_s / small.steady_s:.1f}), peak RSS x{big.peak_mb / small.peak_mb:.2f} "
                f"(sweep's own RSS x{big.sweep_mb / small.sweep_mb:.2f}"
                + (f", Python heap x{big.heap_mb / small.heap_mb:.2f})" if big.heap_mb and small.heap_mb else ")")
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], heap=sys.argv[2:3] == ["heap"], warm=sys.argv[3:4] != ["cold"])))
