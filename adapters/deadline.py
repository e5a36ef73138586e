"""Answer within a platform's deadline: one helper for Slack's 3-second ack and Discord's 3-second
first response.

The engine is synchronous, so its call runs in a worker thread. If it answers within the budget the
caller puts the answer in the first response; otherwise the caller acknowledges or defers at once and
awaits the pending answer to deliver it later. A failure becomes the engine's own "something went
wrong" reply (bot.replies.OOPS), so every platform says the same thing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from bot.errors import DareError
from bot.replies import OOPS, Reply, error_reply

log = logging.getLogger(__name__)

BUDGET = 2.0  # seconds of engine time that still leave room to answer inside a 3-second deadline

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


async def answer_in_time(work: Callable[[], T], *, budget: float = BUDGET,
                         what: str = "engine call") -> tuple[T | Reply | None, asyncio.Future[T | Reply] | None]:
    """(answer, None) when `work` finished within `budget` seconds, else (None, pending answer)."""
    task: asyncio.Future[T | Reply] = asyncio.ensure_future(asyncio.to_thread(guarded(work, what)))
    done, _ = await asyncio.wait({task}, timeout=budget)
    if done:
        return task.result(), None
    return None, task


def once(first_time: Callable[[str], bool], key: str, work: Callable[[], T]) -> Callable[[], T | None]:
    """`work` only the first time `key` is seen (a retried delivery of the same interaction)."""

    def call() -> T | None:
        return work() if first_time(key) else None

    return call
