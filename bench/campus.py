"""The engine at campus scale: 1,000 cohorts of 50 and one of 5,000 (55k people, ~550k outreach
attempts, ~220k interviews) on SQLite and PostgreSQL, built with bulk inserts (not the engine).

Measured through the engine (Engine.handle_text, what every adapter calls): log, outreach,
progress, a 50-person board, a 5,000-person board and an instructor's report, p50/p99 over
distinct people and cohorts. And the engine's overhead, on twins of the database (copies made before
the engine's first write, so each does the same writes): each measured `log` is also done by the same
statements written by hand on the bare driver (sqlite3 / psycopg, same pragmas, one commit:
bench/handlog.py), the issue's floor; and the statements and parameters the engine sent (recorded as
the driver got them) are replayed with no Python between them, the lower bound of any implementation.

The SQLite campus is cached under the temp dir, keyed by VERSION and the scale, and copied before
each run (the writes change it); bump VERSION when the generator or the schema changes.
"""

from __future__ import annotations

import math
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, make_url

from storage.checkpoint import BACKSTOP_PAGES
from storage.db import Database
from storage.models import Acceptance, Cohort, Contact, Dare, Interview, Membership, Outreach, Person, Workspace

VERSION = 2
WS_EXTERNAL = "campus"
START = datetime(2026, 9, 7, 14, 0, tzinfo=UTC)
NOW = datetime(2026, 10, 28, 15, 0, tzinfo=UTC)
CONTACTS = 5  # per participant; the last one has no interview (the measured log uses it)
ATTEMPTS = 2  # outreach attempts per contact
INTERVIEWED = 4  # contacts per participant with an interview


@dataclass(frozen=True)
class Shape:
    cohorts: int
    size: int
    big: int

    @staticmethod
    def of(scale: float) -> Shape:
        return Shape(max(2, round(1000 * scale)), 50, max(20, round(5000 * scale)))

    @property
    def participants(self) -> int:
        return self.cohorts * self.size + self.big


def _batched(conn: Any, table: Any, rows: list[dict[str, Any]], size: int = 5000) -> None:
    for i in range(0, len(rows), size):
        conn.execute(insert(table), rows[i : i + size])
    rows.clear()


def populate(db: Database, shape: Shape, seed: int = 1) -> None:
    """Bulk-insert the campus; ids are assigned here so each table is a stream of inserts."""
    rnd = random.Random(seed)
    n_cohorts = shape.cohorts + 1  # the last cohort is the big one
    n = shape.participants
    teacher0 = n + 1
    with db.engine.begin() as conn:
        conn.execute(
            insert(Workspace),
            [dict(id=1, platform="console", external_id=WS_EXTERNAL, name="campus", created_at=START)],
        )
        people = [
            dict(
                id=teacher0 + c,
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
            for c in range(n_cohorts)
        ]
        _batched(conn, Person, people)
        names = [f"c{c}" for c in range(shape.cohorts)] + ["big"]
        _batched(
            conn,
            Cohort,
            [
                dict(
                    id=c + 1,
                    workspace_id=1,
                    name=names[c],
                    name_key=names[c],
                    tz="America/Chicago",
                    goal=3,
                    deadline=date(2026, 12, 18),
                    paused=False,
                    created_by=teacher0 + c,
                    created_at=START,
                )
                for c in range(n_cohorts)
            ],
        )
        _batched(
            conn,
            Dare,
            [
                dict(
                    id=c + 1,
                    cohort_id=c + 1,
                    goal=3,
                    starts_at=START,
                    deadline=date(2026, 12, 18),
                    reward="coffee",
                    issued_by=teacher0 + c,
                    followup_days=4,
                    stall_days=5,
                    daily_cap=1,
                    weekly_cap=3,
                    created_at=START,
                )
                for c in range(n_cohorts)
            ],
        )
        members = [
            dict(cohort_id=c + 1, person_id=teacher0 + c, is_instructor=True, is_participant=False, joined_at=START)
            for c in range(n_cohorts)
        ]
        accepts: list[dict[str, Any]] = []
        contacts: list[dict[str, Any]] = []
        outreach: list[dict[str, Any]] = []
        interviews: list[dict[str, Any]] = []
        contact_id = outreach_id = interview_id = 0
        for pid in range(1, n + 1):
            cid = (pid - 1) // shape.size + 1 if pid <= shape.cohorts * shape.size else n_cohorts
            people.append(
                dict(
                    id=pid,
                    workspace_id=1,
                    external_id=f"U{pid}",
                    display_name=f"Person {pid}",
                    alias=f"A{pid}",
                    tz=None,
                    quiet_start="21:00",
                    quiet_end="08:00",
                    nudges_enabled=True,
                    board_mode="named",
                    created_at=START,
                )
            )
            members.append(
                dict(cohort_id=cid, person_id=pid, is_instructor=False, is_participant=True, joined_at=START)
            )
            accepts.append(dict(dare_id=cid, person_id=pid, accepted_at=START + timedelta(hours=rnd.randint(1, 72))))
            for k in range(CONTACTS):
                contact_id += 1
                contacts.append(
                    dict(
                        id=contact_id,
                        workspace_id=1,
                        person_id=pid,
                        name=f"Contact {k}",
                        name_key=f"contact {k}",
                        kind="future-self",
                        can_decide=k == 0,
                        created_at=START + timedelta(days=1),
                    )
                )
                sent = date(2026, 9, 9) + timedelta(days=rnd.randint(0, 20))
                met = k < INTERVIEWED
                for attempt in range(1, ATTEMPTS + 1):
                    outreach_id += 1
                    last = attempt == ATTEMPTS
                    outreach.append(
                        dict(
                            id=outreach_id,
                            contact_id=contact_id,
                            person_id=pid,
                            attempt_no=attempt,
                            channel="email",
                            sent_on=sent + timedelta(days=4 * (attempt - 1)),
                            status="meeting" if met and last else "no-reply",
                            replied_on=sent + timedelta(days=5) if met and last else None,
                            meeting_on=sent + timedelta(days=7) if met and last else None,
                            created_at=START + timedelta(days=2),
                        )
                    )
                if met:
                    interview_id += 1
                    interviews.append(
                        dict(
                            id=interview_id,
                            person_id=pid,
                            contact_id=contact_id,
                            held_on=sent + timedelta(days=7),
                            minutes=20,
                            asked="",
                            created_at=START + timedelta(days=10),
                        )
                    )
            if len(outreach) >= 50000:
                for table, rows in (
                    (Person, people),
                    (Membership, members),
                    (Acceptance, accepts),
                    (Contact, contacts),
                    (Outreach, outreach),
                    (Interview, interviews),
                ):
                    _batched(conn, table, rows)
        for table, rows in (
            (Person, people),
            (Membership, members),
            (Acceptance, accepts),
            (Contact, contacts),
            (Outreach, outreach),
            (Interview, interviews),
        ):
            _batched(conn, table, rows)
        if db.is_postgres:  # explicit ids: move the sequences past them
            for t in (
                "workspace",
                "person",
                "cohort",
                "dare",
                "contact",
                "outreach",
                "interview",
                "membership",
                "acceptance",
            ):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {t}))"
                )
        conn.exec_driver_sql("ANALYZE")


def sqlite_campus(shape: Shape, workdir: Path) -> str:
    """A working copy of the cached SQLite campus (built on first use); returns its URL."""
    cache = Path(tempfile.gettempdir()) / f"darebot-campus-v{VERSION}-{shape.cohorts}x{shape.size}+{shape.big}.sqlite3"
    if not cache.exists():
        t0 = time.perf_counter()
        building = cache.with_suffix(".building")
        building.unlink(missing_ok=True)
        db = Database(f"sqlite:///{building}")
        db.upgrade()
        populate(db, shape)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()
        building.replace(cache)
        print(
            f"  campus {shape.participants} people built on SQLite in {time.perf_counter() - t0:.0f}s "
            f"(cached: {cache})",
            flush=True,
        )
    work = workdir / "campus.sqlite3"
    shutil.copyfile(cache, work)
    url = f"sqlite:///{work}"
    Database(url).upgrade()  # a cache from an older schema head gets the newer migrations
    return url


# --- measuring -----------------------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(q * len(s)) - 1)]


class SqlRecorder:
    """Records the statements the engine sends (as the driver receives them) while `on`."""

    def __init__(self, db: Database) -> None:
        self.on = False
        self.statements: list[tuple[str, Any, bool]] = []
        event.listen(db.engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if self.on:
            self.statements.append((statement, parameters, executemany))


class Driver:
    """The bare driver on a twin of the engine's database (a copy made before the engine's first write),
    with the same pragmas as storage/db.py: each statement the engine sent is replayed on rows in the
    state the engine found them, so it does the same work. (Replayed on the engine's own database, after
    the engine, its UPDATE matched nothing and its upsert skipped its DO UPDATE: the driver did less.)"""

    def __init__(self, db: Database) -> None:
        self.is_sqlite = db.is_sqlite
        if db.is_sqlite:
            self.conn: Any = sqlite3.connect(make_url(db.url).database, timeout=10)
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "busy_timeout=10000",
                "foreign_keys=ON",
                f"wal_autocheckpoint={BACKSTOP_PAGES}",
            ):  # darebot checkpoints on a thread of its own
                self.conn.execute(f"PRAGMA {pragma}")
        else:
            import psycopg

            url = make_url(db.url).set(drivername="postgresql")
            self.conn = psycopg.connect(url.render_as_string(hide_password=False))

    def run(self, statements: list[tuple[str, Any, bool]]) -> None:
        cur = self.conn.cursor()
        for sql, params, many in statements:
            if many:
                cur.executemany(sql, params)
            else:
                cur.execute(sql, params)
            if cur.description is not None:
                cur.fetchall()
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def measure(url: str, twins: tuple[str, str], backend: str, shape: Shape, rep: Any, repeat: int) -> None:
    """`twins`: two copies of the database at `url`, one for the driver's replay of the engine's log, one for
    the log written by hand on the driver (bench.handlog)."""
    from bench import handlog
    from bench.report import Figure
    from bot.clock import ManualClock
    from bot.engine import Engine
    from bot.identity import Actor, WorkspaceRef

    db = Database(url)
    engine = Engine(db, ManualClock(NOW), default_tz="UTC")
    ws = WorkspaceRef("console", WS_EXTERNAL, "campus")
    rnd = random.Random(7)
    small = shape.cohorts * shape.size
    teacher0 = shape.participants + 1
    failures: list[str] = []

    def timed(fn: Callable[[int], Any], n: int, *, warm: bool = False) -> list[float]:
        """`n` timed calls; `warm`: one untimed call first (a read), as a server that has been up a
        minute has compiled its statements: the first report of a process costs 60-150 ms more."""
        if warm:
            fn(0)
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            reply = fn(i)
            out.append((time.perf_counter() - t0) * 1000)
            if getattr(reply, "is_error", False) and len(failures) < 5:
                failures.append(reply.plain_text()[:200])
        return out

    def say(pid: int, text: str) -> Any:
        # as the platform names them, so a command does not also rename its person
        who, name = (
            (f"U{pid}", f"Person {pid}")
            if pid <= shape.participants
            else (f"T{pid - teacher0}", f"Teacher {pid - teacher0}")
        )
        return engine.handle_text(ws, Actor(who, name), text)

    picks = rnd.sample(range(1, small + 1), min(small, 3 * repeat))
    engine.handle_text(ws, Actor("U1", "U1"), "/dare progress")  # warm up the ORM and the caches
    from adapters.heap import settle_heap

    settle_heap()  # as every server does once started (adapters/heap.py)
    ops: dict[str, list[float]] = {}
    ops["outreach (write)"] = timed(lambda i: say(picks[i], '/dare outreach "Contact 3"'), repeat)
    recorder = SqlRecorder(db)
    twin_db, hand_db = Database(twins[0]), Database(twins[1])
    driver, hand = Driver(twin_db), Driver(hand_db)
    log_by_hand = handlog.log_sqlite if backend == "sqlite" else handlog.log_postgres
    written = handlog.SQLITE if backend == "sqlite" else handlog.POSTGRES
    engine_log: list[float] = []
    driver_log: list[float] = []
    hand_log: list[float] = []
    for i in range(repeat):
        pid = picks[repeat + i]
        recorder.statements.clear()
        recorder.on = True
        t0 = time.perf_counter()
        reply = say(pid, '/dare log "Contact 4" --minutes 15')
        engine_log.append((time.perf_counter() - t0) * 1000)
        recorder.on = False
        if reply.is_error and len(failures) < 5:
            failures.append(reply.plain_text()[:200])
        statements = list(recorder.statements)
        t0 = time.perf_counter()
        driver.run(statements)
        driver_log.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        logged = log_by_hand(hand.conn, "console", WS_EXTERNAL, f"U{pid}", "Contact 4", 15, NOW)
        hand_log.append((time.perf_counter() - t0) * 1000)
        if i == 0:  # the same statements, and the same answer
            drift = handlog.differences([sql for sql, _, _ in statements], written)
            if drift:
                raise RuntimeError(
                    "bench/handlog.py no longer writes the engine's statements for a log:\n" + "\n".join(drift)
                )
        if f"#{logged.number} " not in reply.title:
            raise RuntimeError(f"the log by hand counted interview #{logged.number}; the engine: {reply.title!r}")
    driver.close()
    hand.close()
    twin_db.dispose()
    hand_db.dispose()
    event.remove(db.engine, "before_cursor_execute", recorder._record)
    ops["log (write)"] = engine_log
    ops["progress"] = timed(lambda i: say(picks[2 * repeat + i % repeat], "/dare progress"), repeat, warm=True)
    boards = [rnd.randrange(shape.cohorts) for _ in range(repeat)]
    ops["board, 50 people"] = timed(lambda i: say(teacher0 + boards[i], f"/dare board c{boards[i]}"), repeat, warm=True)
    few = max(3, repeat // 5)
    ops["report, 50 people"] = timed(
        lambda i: say(teacher0 + boards[i % len(boards)], f"/dare report c{boards[i % len(boards)]}"), few, warm=True
    )
    ops[f"board, {shape.big:,} people"] = timed(
        lambda i: say(teacher0 + shape.cohorts, "/dare board big"), few, warm=True
    )
    db.dispose()

    limits = {
        "outreach (write)": 15.0,
        "log (write)": 15.0,
        "progress": 15.0,
        "board, 50 people": 15.0,
        "report, 50 people": 50.0,
        f"board, {shape.big:,} people": 200.0,
    }
    section = (
        f"Campus on {backend}: {shape.participants:,} people ({shape.cohorts:,} cohorts of {shape.size} "
        f"and one of {shape.big:,}), through the engine"
    )
    for name, xs in ops.items():
        limit = limits[name] if backend == "sqlite" else None
        rep.add(
            Figure(section, f"{name} p50", statistics.median(xs), "ms"),
            Figure(section, f"{name} p99", pct(xs, 0.99), "ms", limit=limit),
        )
        print(
            f"  campus {backend:<8} {name:<22} p50 {statistics.median(xs):7.1f}  p99 {pct(xs, 0.99):7.1f} ms",
            flush=True,
        )
    engine_ms, driver_ms, hand_ms = (statistics.median(xs) for xs in (engine_log, driver_log, hand_log))
    rep.add(
        Figure(section, "log: written by hand on the driver, median", hand_ms, "ms"),
        Figure(section, "log: engine / written by hand on the driver (medians)", engine_ms / hand_ms, "x", limit=2.0),
        Figure(section, "log: its recorded SQL replayed on the driver, median", driver_ms, "ms"),
        Figure(section, "log: engine / its recorded SQL replayed (medians)", engine_ms / driver_ms, "x"),
    )
    rep.note(
        section,
        f"A log ({len(statements)} statements) through the engine: median {engine_ms:.2f} ms. The same "
        f"statements written by hand on the bare driver (bench/handlog.py), on a twin of the database: "
        f"{hand_ms:.2f} ms, ratio {engine_ms / hand_ms:.2f}x (target <= 2x). Its recorded statements and "
        f"parameters replayed with no Python between them, on another twin: {driver_ms:.2f} ms, ratio "
        f"{engine_ms / driver_ms:.2f}x.",
    )
    if failures:
        rep.note(section, "Refused commands (the figures include them): " + "; ".join(failures))


def run(
    rep: Any, pg: Any, *, scale: float = 1.0, backends: tuple[str, ...] = ("sqlite", "postgres"), repeat: int = 100
) -> None:
    shape = Shape.of(scale)
    workdir = Path(tempfile.mkdtemp(prefix="darebot-campus-"))
    try:
        if "sqlite" in backends:
            url = sqlite_campus(shape, workdir)
            twins = (workdir / "twin.sqlite3", workdir / "hand.sqlite3")
            for twin in twins:
                shutil.copyfile(make_url(url).database or "", twin)
            measure(url, (f"sqlite:///{twins[0]}", f"sqlite:///{twins[1]}"), "sqlite", shape, rep, repeat)
        if "postgres" in backends:
            url = pg.url("campus")
            db = Database(url)
            db.upgrade()
            t0 = time.perf_counter()
            populate(db, shape)
            db.dispose()
            print(
                f"  campus {shape.participants} people built on PostgreSQL in {time.perf_counter() - t0:.0f}s",
                flush=True,
            )
            measure(url, (pg.twin(url), pg.twin(url, "hand")), "postgres", shape, rep, repeat)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
