"""The garbage collector of a long-running server.

A full (generation 2) collection walks every tracked object in the process, and everything a
server imports and builds at start (modules, SQLAlchemy's mappers and compiled statements, bolt,
aiohttp, discord.py: about 150,000 objects) is such an object. Under a class-wide burst those
collections held the GIL for 60-90 ms of CPU each, which is where the slowest acknowledgements
went (docs/benchmarks.md). Freezing what start-up built moves it out of the collector's reach.
Requests' own garbage is still collected, in fewer, larger young collections: one per 700
allocations (CPython's default) ran about 1,100 times in four bursts of 500 commands.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

YOUNG_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)
_DEFAULT_THRESHOLD = gc.get_threshold()


def settle_heap() -> None:
    """Once start-up is done: collect its garbage, freeze the survivors for good, and collect the
    young generation less often."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    log.debug("heap settled: %d objects frozen", gc.get_freeze_count())


def release_heap() -> None:
    """When the server stops: frozen objects become collectable again and the thresholds are as they
    were (a process that serves again, like the test suite, does not keep every earlier server's)."""
    gc.unfreeze()
    gc.set_threshold(*_DEFAULT_THRESHOLD)
