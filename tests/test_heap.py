"""A server freezes what start-up built out of the collector's reach, and gives it back when it stops."""

from __future__ import annotations

import gc

from adapters.heap import YOUNG_THRESHOLD, release_heap, settle_heap


def test_settling_freezes_start_up_and_stopping_gives_it_back() -> None:
    before = gc.get_threshold()
    settle_heap()
    try:
        assert gc.get_freeze_count() > 1000  # the modules and objects start-up made
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD and gc.get_threshold()[1:] == before[1:]
        garbage: list[object] = []
        garbage.append(garbage)  # a cycle made while serving is still collected
        del garbage
        assert gc.collect() >= 1
    finally:
        release_heap()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
