"""Answer within a platform's deadline: one helper for Slack's 3-second ack and Discord's 3-second
first response, and the threads the synchronous engine runs on.

The engine is synchronous, so its calls run on a few worker threads (ENGINE, below). If it answers
within the budget the caller puts the answer in the first response (no extra round trip); otherwise
the caller acknowledges or defers at once and delivers the pending answer when it comes. Slack's
slash commands also pass `when_busy`: if commands are already waiting for the engine, this one would
only queue behind them, so it is acknowledged at once and answered through its response_url
(Slack's lazy listener pattern); under a class-wide burst the acknowledgement then never waits for
the engine's queue. A failure becomes the engine's own "something went wrong" reply
(bot.replies.OOPS), so every platform says the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from bot.errors import DareError
from bot.replies import OOPS, Reply, error_reply

log = logging.getLogger(__name__)

BUDGET = 2.0  # seconds of engine time that still leave room to answer inside a 3-second deadline
BUSY_BUDGET = 0.0  # the same when commands already wait for the engine: acknowledge at once
# Engine threads. The engine is CPU-bound Python under one GIL. On PostgreSQL two overlap the
# network waits and let a short command pass a long one. On SQLite a second thread adds no throughput,
# only a second contender for the GIL against the event loop that acknowledges requests: when a busy
# engine thread gives the GIL up, the other one took it about as often as the loop did. Measured side
# by side (docs/benchmarks.md), one thread gave a 50-person board's ack p99 1.9x the bare app's
# instead of 4.9x, and more answers a second.
ENGINE_THREADS = 2
SQLITE_ENGINE_THREADS = 1
# How long a busy engine thread may keep the GIL once the event loop asks for it (CPython's default
# is 5 ms). The loop gives the GIL up at every socket call (reading a request, writing an ack,
# posting an answer) and must win it back each time, so with the engine busy each of those waited
# up to 5 ms. Set when the first engine thread starts, so only a process running the engine has it.
SWITCH_INTERVAL = 0.001

T = TypeVar("T")


def guarded(work: Callable[[], T], what: str) -> Callable[[], T | Reply]:
    """`work`, with a refusal or a crash turned into a short private reply."""

    def call() -> T | Reply:
        try:
            return work()
        except DareError as err:
            return error_reply(str(err))
        except Exception:
            log.exception("%s failed", what)
            return error_reply(OOPS)

    return call


class EngineLane:
    """A few threads for engine calls, with commands ahead of background work: an App Home refresh
    waits until no command is waiting, so in a burst it takes no thread, and no time, from the
    answers people wait for. Process-wide (ENGINE): every adapter's engine work shares it."""

    FOREGROUND, BACKGROUND = 0, 1

    def __init__(self, threads: int = ENGINE_THREADS) -> None:
        self.threads = threads
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], None]]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._started = 0
        self._waiting = 0  # foreground calls queued, not started
        # Foreground calls on a thread now. Background ones don't count: a command waits at most for
        # those already running (it goes ahead of every queued one), so they don't make it "busy".
        self._running = 0

    def fit(self, *, sqlite: bool) -> None:
        """Size the lane for the database this process serves (see ENGINE_THREADS)."""
        with self._lock:
            self.threads = SQLITE_ENGINE_THREADS if sqlite else ENGINE_THREADS

    @property
    def busy(self) -> bool:
        """A new command would queue behind others rather than start at once."""
        with self._lock:
            return self._waiting > 0 or self._running >= self.threads

    def submit(self, fn: Callable[..., T], *args: Any, background: bool = False) -> asyncio.Future[T]:
        """`fn(*args)` on an engine thread; the result (or exception) on the calling event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        priority = self.BACKGROUND if background else self.FOREGROUND

        def settle(ok: bool, value: Any) -> None:
            if not future.done():
                (future.set_result if ok else future.set_exception)(value)

        def run() -> None:
            if not background:
                with self._lock:
                    self._waiting -= 1
                    self._running += 1
            try:
                result: Any = fn(*args)
                ok = True
            except BaseException as err:  # handed to the awaiting coroutine, as to_thread does
                result, ok = err, False
            finally:
                if not background:
                    with self._lock:
                        self._running -= 1
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown): nobody waits
                loop.call_soon_threadsafe(settle, ok, result)

        with self._lock:
            if not background:
                self._waiting += 1
            if self._started < self.threads:
                if not self._started and sys.getswitchinterval() > SWITCH_INTERVAL:
                    sys.setswitchinterval(SWITCH_INTERVAL)
                self._started += 1
                threading.Thread(target=self._work, name=f"darebot-engine-{self._started}", daemon=True).start()
        self._queue.put((priority, next(self._order), run))
        return future

    def _work(self) -> None:
        while True:
            _priority, _n, run = self._queue.get()
            run()


ENGINE = EngineLane()


async def answer_in_time(
    work: Callable[[], T], *, budget: float = BUDGET, when_busy: float | None = None, what: str = "engine call"
) -> tuple[T | Reply | None, asyncio.Future[T | Reply] | None]:
    """(answer, None) when `work` finished within `budget` seconds, else (None, pending answer).

    `when_busy` (Slack: BUSY_BUDGET) is the budget when commands already wait for the engine: this
    answer would come after theirs, so the caller acknowledges now instead of holding the request
    open meanwhile. Without it (Discord) the budget stays: its twin deliveries must not defer."""
    if when_busy is not None and ENGINE.busy:
        budget = min(budget, when_busy)
    task: asyncio.Future[T | Reply] = ENGINE.submit(guarded(work, what))
    if budget > 0:
        done, _ = await asyncio.wait({task}, timeout=budget)
        if done:
            return task.result(), None
    return None, task


def once(first_time: Callable[[str], bool], key: str, work: Callable[[], T]) -> Callable[[], T | None]:
    """`work` only the first time `key` is seen (a retried delivery of the same interaction)."""

    def call() -> T | None:
        return work() if first_time(key) else None

    return call
