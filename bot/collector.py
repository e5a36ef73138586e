"""Pausing Python's cyclic garbage collector around work that builds many short-lived objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Work that builds tens of thousands of small acyclic objects (a sweep's batch of rows and
    snapshots, a 5,000-person board's standings) has them freed by reference counting when it ends;
    the cyclic collector, run while they live, would move them to its oldest generation and soon walk
    every object of the process for nothing (a third of a first sweep's time; a 70 ms pause every
    other 5,000-person board). Left as it was found: a caller may have disabled it."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
