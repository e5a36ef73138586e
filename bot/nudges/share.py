"""A big sweep shared with helper processes: one process runs the rules on one core.

A first sweep after a campus import plans 100k people, about five seconds of Python in one
interpreter, while a second core idles (SQLite) or only answers the reads and writes (PostgreSQL).
Beyond `SHARE_MIN` people the sweeping process starts helpers. Each helper opens the same database
and sweeps batches exactly as the parent does: read, run the rules, write, commit.

A helper is never a fork of the sweeping process: that would carry its open connections and its
threads' locks into the child. Where the platform has one (Linux, macOS) it is a fork of a fork
server: a clean, single-threaded process that has imported the planner and storage once, so a helper
sweeps a tenth of a second after it is asked for, where a spawned interpreter spends about a second
on those imports. The scheduler starts that server ahead of time (`warm_up`) once the database is big
enough for a shared sweep (checked at start and hourly); otherwise the first shared sweep starts it.
Elsewhere helpers are spawned.

Batches are claimed one at a time from one shared pair of counters, the parent from the front and the
helpers from the back, so a helper that starts late (an interpreter and its imports take most of a
second) or not at all only leaves more batches to the parent, and no batch is swept twice. Batches are
disjoint sets of people, so the order in which they are swept changes nothing in what is planned.

A helper that fails reports how many of its claimed batches it did not finish: with none, the sweep
is complete and the failure is logged; with some, the sweep raises once the parent's own batches are
done (what the finished batches planned is committed; the people of the unfinished ones keep their
due time, so the next sweep plans them).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bot.nudges.policy import Policy
from bot.nudges.rules import DareInfo

log = logging.getLogger("darebot.nudges")

# Fewer people than this are swept in one process: a spawned helper, or the fork server's first start,
# takes most of a second, about what a sweep of 15,000 people takes.
SHARE_MIN = 20_000
# What the fork server imports before it forks anyone: what a helper runs (the planner, storage and the
# PostgreSQL driver; a missing one is skipped) and the main module, which each helper would otherwise
# import again on its own.
PRELOAD = ("__main__", "bot.nudges.planner", "storage.db", "psycopg")


def _context() -> Any:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


# Helpers, their counters and their lock all come from this context.
_CONTEXT = _context()
# The longest a process of the sweep waits for its turn to write to SQLite (Claims.turn_to_write).
WAIT_TO_WRITE = 10.0


class HelperFailed(RuntimeError):
    """A helper process failed with batches it had claimed unfinished (their people are planned next sweep)."""


def default_processes() -> int:
    """How many processes a big sweep uses unless told: two where there are two cores or more."""
    return min(2, os.cpu_count() or 1)


def shareable_url(bind: Any) -> str | None:
    """The URL a helper process opens the same database with, or None when it cannot: a connection
    (not an engine) bound by a caller, an in-memory SQLite database, a dialect other than SQLite or
    PostgreSQL."""
    if not isinstance(bind, Engine):
        return None
    url = bind.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or database.startswith("file:") or "mode=memory" in str(url):
            return None
    elif backend != "postgresql":
        return None
    return url.render_as_string(hide_password=False)


class Claims:
    """The batches of one sweep (`chunk` people each, in `ids` order), each claimed by one process: the
    sweeping process from the front, helpers from the back. The two counters live in shared memory
    under one lock; pickled into each helper with the ids."""

    def __init__(self, ids: Sequence[int], chunk: int) -> None:
        self.ids = list(ids)
        self.chunk = chunk
        self.count = (len(self.ids) + chunk - 1) // chunk
        self.bounds = _CONTEXT.Array("i", [0, self.count])
        self.writing = _CONTEXT.Lock()

    def __len__(self) -> int:
        return self.count

    def _batch(self, i: int) -> list[int]:
        return self.ids[i * self.chunk : (i + 1) * self.chunk]

    def _take(self, front: bool) -> int | None:
        with self.bounds.get_lock():
            first, end = self.bounds[0], self.bounds[1]
            if first >= end:
                return None
            if front:
                self.bounds[0] = first + 1
                return int(first)
            self.bounds[1] = end - 1
            return int(end - 1)

    def from_front(self) -> Iterator[list[int]]:
        while (i := self._take(front=True)) is not None:
            yield self._batch(i)

    def from_back(self) -> Iterator[list[int]]:
        while (i := self._take(front=False)) is not None:
            yield self._batch(i)

    @contextmanager
    def turn_to_write(self) -> Iterator[None]:
        """SQLite: one process of the sweep writes at a time, each waiting on this lock for the one before.
        Waiting in SQLite's busy handler instead, a process slept in growing steps (1, 2, 5, 10 ms...) past
        the moment the other's commit freed the database. Not held forever by a helper that died with it:
        after WAIT_TO_WRITE seconds the write goes ahead and SQLite's own locking decides."""
        held = self.writing.acquire(timeout=WAIT_TO_WRITE)
        try:
            yield
        finally:
            if held:
                self.writing.release()

    def left(self) -> int:
        """Batches nobody has claimed yet."""
        with self.bounds.get_lock():
            return max(0, int(self.bounds[1] - self.bounds[0]))

    def stop(self) -> None:
        """No batch is claimed after this (the sweep failed)."""
        with self.bounds.get_lock():
            self.bounds[0] = self.bounds[1]


@dataclass(frozen=True)
class Job:
    """What every process of one sweep plans with: the same moment, dares, policy and due times read."""

    now: datetime
    policy: Policy
    rules: frozenset[str] | None
    by_cohort: dict[int, list[DareInfo]]
    dare_ids: set[int]
    seen: dict[int, datetime | None]


class Tally:
    """The batches a process claimed, and how many of them it committed (counted by the sweep, whose
    reader may claim ahead of what its writer has committed)."""

    def __init__(self, batches: Iterator[list[int]]) -> None:
        self.batches, self.claimed, self.committed = batches, 0, 0

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            self.claimed += 1
            yield batch


def _nothing() -> None:
    """What warm_up's first helper does."""


def warm_up() -> threading.Thread | None:
    """Start the fork server helpers come from, on a thread of its own, and return that thread (it ends
    once the server has done its imports and forked a first, idle, helper). None where helpers are
    spawned, or on one core. A failure is logged: the first shared sweep tries again."""
    if _CONTEXT.get_start_method() != "forkserver" or default_processes() < 2:
        return None

    def start() -> None:
        try:
            process = _CONTEXT.Process(target=_nothing, daemon=True, name="darebot-sweep-warm-up")
            process.start()
            process.join()
        except Exception:
            log.warning("could not start the sweep helpers' fork server; a big sweep starts it", exc_info=True)

    thread = threading.Thread(target=start, daemon=True, name="darebot-sweep-warm-up")
    thread.start()
    return thread


def _help(url: str, claims: Claims, job: Job, out: Any) -> None:
    """A helper process: sweep batches from the back until none is left; send ("done", rows inserted,
    batches, CPU seconds) or ("failed", traceback, batches claimed and not finished, CPU seconds)."""
    from bot.nudges.planner import sweep_batches  # the planner imports this module
    from storage.db import Database

    tally = Tally(claims.from_back())
    try:
        db = Database(url)
        try:
            with db.session() as session:
                inserted = sweep_batches(session, iter(tally), job, tally, turn=claims.turn_to_write)
        finally:
            db.dispose()
        out.send(("done", inserted, tally.claimed, time.process_time()))
    except BaseException:
        out.send(("failed", traceback.format_exc(), tally.claimed - tally.committed, time.process_time()))
    finally:
        out.close()


class Helpers:
    """The helper processes of one sweep, started by a thread of their own; `join` waits for them.

    Starting a helper blocks until the child has read its arguments, and it reads them only as it unpickles
    them: a fork of a running fork server takes a tenth of a second, but a spawned interpreter (or the fork
    server's own start) imports the planner and storage on the way, about a second in which the sweeping
    process would plan nothing. The thread takes that wait, and starts nothing once no batch is left.
    `cpu`: the CPU seconds the helpers used, known after `join`."""

    def __init__(self, url: str, claims: Claims, job: Job, count: int) -> None:
        self.claims = claims
        self.running: list[tuple[Any, Any]] = []
        self.cpu = 0.0
        self._starter: threading.Thread | None = threading.Thread(
            target=self._start, args=(url, job, count), daemon=True, name="darebot-sweep-helpers"
        )
        try:
            self._starter.start()
        except RuntimeError:  # no thread to be had (a process limit): the sweeping process takes every batch
            self._starter = None
            log.warning("could not start a sweep helper process; this process sweeps alone", exc_info=True)

    def _start(self, url: str, job: Job, count: int) -> None:
        for _ in range(count):
            if self.claims.left() == 0:
                return
            receive, send = _CONTEXT.Pipe(duplex=False)
            process = _CONTEXT.Process(
                target=_help, args=(url, self.claims, job, send), daemon=True, name="darebot-sweep-helper"
            )
            try:
                process.start()
            except Exception:  # no process to be had: the sweeping process takes the batches left
                receive.close()
                send.close()
                log.warning(
                    "started %d of %d sweep helper processes; the sweep goes on without the others",
                    len(self.running),
                    count,
                    exc_info=True,
                )
                return
            send.close()  # the helper holds the only sending end: its exit ends `receive`
            self.running.append((process, receive))

    def join(self) -> tuple[int, int]:
        """Wait for every helper; (rows they inserted, batches they swept). Raises HelperFailed when one
        failed with claimed batches unfinished."""
        if self._starter is not None:
            self._starter.join()
        inserted = batches = 0
        lost: list[str] = []
        for process, receive in self.running:
            try:
                report = receive.recv()
            except EOFError:  # it died without a word (killed)
                report = ("failed", f"exit code {process.exitcode}", None, 0.0)
            finally:
                receive.close()
            process.join()
            self.cpu += report[3]
            if report[0] == "done":
                inserted += report[1]
                batches += report[2]
            elif report[2] == 0:
                log.warning(
                    "a sweep helper process failed before leaving any batch unfinished; the sweep did its batches:\n%s",
                    report[1],
                )
            else:
                lost.append(str(report[1]))
        if lost:
            raise HelperFailed(
                "a sweep helper process failed; its unfinished batches are planned next sweep:\n" + "\n".join(lost)
            )
        return inserted, batches

    def stop(self) -> None:
        """The parent failed: no more batches for anyone; wait for the helpers' batches in flight."""
        self.claims.stop()
        if self._starter is not None:
            self._starter.join()
        for process, receive in self.running:
            process.join()
            receive.close()
