"""`darebot run --platform slack --http --workers N`: N server processes on one port.

Each worker is its own process (spawned, so it inherits no threads or connections) with its own
engine and database pool, serving the same port through SO_REUSEPORT: the kernel spreads incoming
connections over the workers' sockets. Only worker 0 runs the scheduler (sweep, digests); the
others deliver what a command just queued in a background thread, which is safe because delivery
claims rows with SELECT ... FOR UPDATE SKIP LOCKED and every process spends the one per-workspace
budget kept in the database (bot/nudges/ratelimit.py). Meant for PostgreSQL: on SQLite every
write still goes through one file lock, so more processes add little.

The parent only supervises: SIGINT/SIGTERM are passed on to the workers, and if one dies the
others are stopped too, so a process manager (systemd, Docker) sees the failure and restarts all.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import socket
import time
from typing import Any

from adapters.config import Settings

log = logging.getLogger("darebot.workers")


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) a SO_REUSEPORT socket: it fixes the port when `port` is 0 and keeps
    it ours while the workers start, each binding its own socket to it."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(settings: Settings, index: int, host: str, port: int) -> None:
    import asyncio

    from adapters.observability import setup_logging
    from adapters.slack_serve import serve

    setup_logging(settings.log_level, settings.log_format)  # a spawned process starts with no logging set up
    if settings.worker_id:  # each process needs its own id (it names the rows it claims)
        settings = settings.model_copy(update={"worker_id": f"{settings.worker_id}-{index}"})
    asyncio.run(serve(settings, http=True, port=port, host=host, scheduler=index == 0, reuse_port=True))


def run_workers(settings: Settings, *, workers: int, port: int = 3000, host: str = "0.0.0.0") -> int:
    """Start `workers` server processes on `port`; return when they have stopped (exit status)."""
    from adapters.slack_serve import check_settings

    check_settings(settings, http=True)
    if not hasattr(socket, "SO_REUSEPORT"):
        raise SystemExit("--workers needs SO_REUSEPORT (Linux, macOS, BSD); run one process per port instead.")
    if settings.database_url.startswith("sqlite"):
        log.warning("--workers %d on SQLite: every write still waits for one file lock; use PostgreSQL", workers)
    from storage.db import open_database

    open_database(settings.database_url).dispose()  # migrate once, before the workers race to
    holder = reserve_port(host, port)
    port = holder.getsockname()[1]
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(settings, i, host, port), name=f"darebot-w{i}", daemon=False)
        for i in range(workers)
    ]
    stopping = False

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.pid is not None and p.is_alive():
                p.terminate()  # SIGTERM: each worker drains and stops its scheduler

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for p in procs:
            p.start()
        log.info("darebot: %d workers on %s:%d", workers, host, port)
        while not stopping and all(p.is_alive() for p in procs):
            time.sleep(0.2)
        if not stopping:
            dead = [p.name for p in procs if not p.is_alive()]
            log.error("darebot: worker %s stopped; stopping the others", ", ".join(dead))
            forward(signal.SIGTERM, None)
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join(5)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        holder.close()
    return 0 if stopping and all(p.exitcode in (0, -signal.SIGTERM) for p in procs) else 1
