"""`make bench`: the engine benchmark (bench/engine.py), then the sweep benchmark (bench/sweep.py).

`python -m bench [--only engine|sweep] [--sizes 10000,100000] [--backends sqlite,postgres] [--heap]`
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.sweep import report, run_case
from storage.db import Database


def _terminate(signum, frame):  # type: ignore[no-untyped-def]
    raise SystemExit(128 + signum)  # run the finally blocks: stop the throwaway server


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--sizes", default="10000,100000", help="participant counts, comma-separated")
    ap.add_argument("--backends", default="sqlite,postgres", help="sqlite and/or postgres")
    ap.add_argument("--heap", action="store_true",
                    help="also trace the Python heap of a repeated first sweep (tracemalloc: ~4x slower)")
    ap.add_argument("--only", choices=("engine", "sweep"), help="run one of the two benchmarks")
    args = ap.parse_args(argv)
    if args.only != "sweep":
        try:
            from bench import engine
        except ImportError:  # pragma: no cover
            engine = None
        if engine is not None:
            engine.main()
            print()
        if args.only == "engine":
            return 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backends = [b for b in args.backends.split(",") if b]
    results = []
    t0 = time.perf_counter()
    print("sweep benchmark: plan nudges for N participants (cohorts of 100)", flush=True)
    if "sqlite" in backends:
        tmp = Path(tempfile.mkdtemp(prefix="darebot-bench-"))
        try:
            for n in sizes:
                db = Database(f"sqlite:///{tmp / f'bench{n}.sqlite3'}")
                results.append(run_case(db, "sqlite", n, args.heap))
                db.dispose()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if "postgres" in backends:
        try:
            from tests.pg import PostgresUnavailable, start_postgres
        except ImportError:  # pragma: no cover
            print("postgres: tests/pg.py not importable; skipped", file=sys.stderr)
        else:
            try:
                server = start_postgres()
            except PostgresUnavailable as e:
                print(f"postgres: skipped ({e})", file=sys.stderr)
            else:
                try:
                    for n in sizes:
                        db = Database(server.create_database(f"bench{n}"))
                        results.append(run_case(db, "postgres", n, args.heap))
                        db.dispose()
                finally:
                    server.stop()
    print()
    print(report(results))
    print(f"\ntotal {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
