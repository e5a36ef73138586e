"""`make bench`: every benchmark in one run, one table, and docs/benchmarks.md rewritten.

Sections (`--only a,b`): engine (one cohort, SQLite vs PostgreSQL), sweep (planning N participants),
burst (Slack slash commands against darebot and a bare AsyncApp floor, and a py-spy profile),
workers (`--workers 1` vs 2 on PostgreSQL), campus (the engine on a 55k-person campus, and its
overhead over its own SQL run through the driver), delivery (2,000 DMs over 10 workspaces, two
processes, at Slack's limits).

`make bench BENCH_ARGS="--quick"` runs every code path at tiny sizes (the suite's smoke test does
this), `--campus-scale 0.1` a tenth of the campus, `--no-write` leaves docs/benchmarks.md alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import DOC, Figure, Run, text_table, write_doc

SECTIONS = ("engine", "sweep", "burst", "workers", "campus", "delivery")


def _terminate(signum, frame):  # type: ignore[no-untyped-def]
    raise SystemExit(128 + signum)  # run the finally blocks: stop the throwaway servers


class Postgres:
    """One throwaway PostgreSQL server for the whole run, started on first use."""

    def __init__(self) -> None:
        self.server: Any = None

    def url(self, prefix: str) -> str:
        if self.server is None:
            from tests.pg import start_postgres

            self.server = start_postgres()
        return self.server.create_database(f"{prefix}_{uuid.uuid4().hex[:8]}")

    def twin(self, url: str, suffix: str = "twin") -> str:
        """A copy of the database at `url` (nobody may be connected to it): CREATE DATABASE ... TEMPLATE."""
        from psycopg import sql
        from sqlalchemy.engine import make_url

        source = make_url(url).database or ""
        name = f"{source}_{suffix}"
        self.server._admin(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(source))
        )
        return str(self.server.url(name))

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def engine_section(rep: Run, pg: Postgres, quick: bool) -> None:
    from bench.engine import run_one

    participants, repeat = (10, 2) if quick else (200, 30)
    with tempfile.TemporaryDirectory() as tmp:
        lite = run_one(f"sqlite:///{tmp}/bench.sqlite3", participants, repeat)
    post = run_one(pg.url("bench_engine"), participants, repeat)
    section = f"Engine: one cohort of {participants}, medians of {repeat} (PostgreSQL against SQLite as floor)"
    for key, value in lite.items():
        unit = "cmd/s" if key.endswith("per_s") else "ms"
        name = key.removesuffix("_ms").removesuffix("_per_s")
        rep.add(
            Figure(section, f"{name} on SQLite", value, unit),
            Figure(section, f"{name} on PostgreSQL", post[key], unit, floor=value, higher_is_better=unit == "cmd/s"),
        )


def sweep_section(rep: Run, pg: Postgres, sizes: list[int], backends: list[str], heap: bool) -> None:
    from sqlalchemy.engine import make_url

    from bench.sweep import run_case
    from storage.db import Database

    def file_copy(url: str, k: int) -> str:
        source = Path(make_url(url).database or "")
        target = source.with_name(f"{source.stem}-{k}{source.suffix}")
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"

    # Sizes under a tenth of the largest sweep in about a second: the median of three runs on copies of
    # one database, so the growth ratio does not hang on one short run.
    def repeat(n: int) -> int:
        return 3 if n * 10 <= max(sizes) else 1

    results = []
    if "sqlite" in backends:
        tmp = Path(tempfile.mkdtemp(prefix="darebot-bench-"))
        try:
            for n in sizes:
                db = Database(f"sqlite:///{tmp / f'bench{n}.sqlite3'}")
                results.append(run_case(db, "sqlite", n, heap, repeat=repeat(n), copy=file_copy, cold=n == max(sizes)))
                db.dispose()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if "postgres" in backends:
        for n in sizes:
            db = Database(pg.url(f"bench_sweep{n}"))
            results.append(
                run_case(
                    db,
                    "postgres",
                    n,
                    heap,
                    repeat=repeat(n),
                    copy=lambda url, k: pg.twin(url, f"copy{k}"),
                    cold=n == max(sizes),
                )
            )
            db.dispose()
    section = "Sweep: plan nudges for N participants (cohorts of 100)"
    for r in results:
        big = r.n == max(sizes)
        rep.add(
            Figure(
                section,
                f"{r.backend} {r.n:,}: first sweep" + (", helper server warm" if r.cold_s is not None else ""),
                r.rate,
                "part./s",
                limit=20_000.0 if big else None,
                higher_is_better=True,
            ),
            *(
                [
                    Figure(
                        section,
                        f"{r.backend} {r.n:,}: first sweep, cold (helper server started by it)",
                        r.n / r.cold_s,
                        "part./s",
                        higher_is_better=True,
                    )
                ]
                if r.cold_s is not None
                else []
            ),
            Figure(
                section,
                f"{r.backend} {r.n:,}: steady re-sweep (nothing changed)",
                r.steady_s,
                "s",
                limit=1.0 if big and r.backend == "postgres" else None,
            ),
            Figure(section, f"{r.backend} {r.n:,}: peak RSS", r.peak_mb, "MB"),
        )
    for backend in backends:
        rs = sorted((r for r in results if r.backend == backend), key=lambda r: r.n)
        if len(rs) >= 2:
            small, big = rs[0], rs[-1]
            rep.add(
                Figure(
                    section,
                    f"{backend}: time growth {small.n:,} -> {big.n:,} ({big.n // small.n}x people)",
                    big.first_s / small.first_s,
                    "x",
                    limit=1.2 * big.n / small.n,
                )
            )


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"sections, comma-separated: {','.join(SECTIONS)}")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: every code path, no meaningful figures")
    ap.add_argument("--sizes", default=None, help="sweep: participant counts, comma-separated (10000,100000)")
    ap.add_argument("--backends", default="sqlite,postgres", help="sweep and campus: sqlite and/or postgres")
    ap.add_argument("--heap", action="store_true", help="sweep: also trace the Python heap (tracemalloc, ~4x slower)")
    ap.add_argument("--campus-scale", type=float, default=None, help="campus size factor (1.0 = 55k people)")
    ap.add_argument("--requests", type=int, default=None, help="burst: signed commands per measurement (500)")
    ap.add_argument("--no-profile", action="store_true", help="burst: skip the py-spy profile")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md as it is")
    args = ap.parse_args(argv)
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    quick = args.quick
    backends = [b for b in args.backends.split(",") if b]
    sizes = [int(s) for s in (args.sizes or ("100,200" if quick else "10000,100000")).split(",") if s]
    requests = args.requests or (10 if quick else 500)
    scale = args.campus_scale if args.campus_scale is not None else (0.002 if quick else 1.0)
    started = dt.datetime.now(dt.UTC)
    rep = Run()
    pg = Postgres()
    t0 = time.perf_counter()
    steps: dict[str, Callable[[], None]] = {
        "engine": lambda: engine_section(rep, pg, quick),
        "sweep": lambda: sweep_section(rep, pg, sizes, backends, args.heap),
        "burst": lambda: __import__("bench.burst").burst.run(
            rep,
            n=requests,
            concurrency=5 if quick else 20,
            people=5 if quick else 50,
            do_profile=not (quick or args.no_profile),
        ),
        "workers": lambda: __import__("bench.burst").burst.run_workers(
            rep, pg, n=requests, concurrency=5 if quick else 20, people=5 if quick else 50
        ),
        "campus": lambda: __import__("bench.campus").campus.run(
            rep, pg, scale=scale, backends=tuple(backends), repeat=3 if quick else 100
        ),
        "delivery": lambda: delivery_section(rep, pg, quick),
    }
    try:
        for name in SECTIONS:
            if name in only:
                print(f"== {name}", flush=True)
                steps[name]()
    finally:
        pg.stop()
    print()
    print(text_table(rep.figures))
    for section, texts in rep.notes.items():
        print(f"\n{section}\n" + "\n".join(texts))
    print(f"\ntotal {time.perf_counter() - t0:.0f}s")
    if not args.no_write:
        write_doc(rep, started, " ".join(sys.argv[1:] if argv is None else argv))
        print(f"wrote {DOC}")
    return 0


def delivery_section(rep: Run, pg: Postgres, quick: bool) -> None:
    from bench.delivery import run

    workspaces, per_ws, per_min = (2, 3, 600.0) if quick else (10, 200, 120.0)
    r = run(pg.url("bench_delivery"), workspaces=workspaces, per_workspace=per_ws, workers=2, per_min=per_min)
    section = (
        f"Delivery: {r.dms:,} DMs over {workspaces} workspaces, 2 processes on PostgreSQL, fake Slack at "
        f"{per_min:.0f}/min per workspace and 1/s per channel"
    )
    rep.add(
        Figure(section, "achieved rate", r.rate, "DM/s", limit=0.9 * r.allowed_per_s, higher_is_better=True),
        Figure(section, "lost", r.lost, "DMs", limit=0.0),
        Figure(section, "duplicated", r.duplicated, "DMs", limit=0.0),
        Figure(section, "429 answers", r.ratelimited, "", limit=max(2.0, 0.01 * r.dms)),
        # These move far less with the machine's load than the rate does.
        Figure(section, "worker CPU per DM", r.cpu_ms_per_dm, "ms"),
        Figure(section, "SQL statements per DM", r.statements_per_dm, ""),
    )
    rep.note(
        section,
        f"Allowed aggregate {r.allowed_per_s:.0f} DM/s ({workspaces} x {per_min:.0f}/min); the rate "
        f"limit shown is 90% of it. {r.delivered:,} delivered in {r.seconds:.1f}s from the first DM to the "
        f"last; outbox: {r.statuses}.",
    )


if __name__ == "__main__":
    raise SystemExit(main())
