"""One time-zone module: strict for what people type, lenient for what was stored, one effective-zone rule."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.errors import UsageError
from bot.zones import choose_zone, parse_hhmm, stored_hhmm, stored_zone, zone
from storage.db import open_database
from storage.models import Person
from tests.fakes.room import Room


def test_typed_zones_are_strict_and_stored_ones_fall_back() -> None:
    assert zone("Europe/Berlin").key == "Europe/Berlin"
    assert zone(" utc ").key == "UTC"
    for bad in ("Mars/Olympus", "CET5", "berlin", ""):
        with pytest.raises(UsageError):
            zone(bad)
    assert stored_zone("Mars/Olympus").key == "UTC"
    assert stored_zone(None, "Asia/Tokyo").key == "Asia/Tokyo"
    assert stored_zone("Europe/Paris", "Asia/Tokyo").key == "Europe/Paris"


@given(st.integers(0, 23), st.integers(0, 59))
def test_hhmm_round_trips(h: int, m: int) -> None:
    assert parse_hhmm(f"{h:02d}:{m:02d}") == time(h, m) == stored_hhmm(f"{h}:{m:02d}", "08:00")


@given(st.text(max_size=8))
def test_bad_hhmm_is_refused_when_typed_and_defaulted_when_stored(text: str) -> None:
    try:
        parsed = parse_hhmm(text)
    except UsageError:
        assert stored_hhmm(text, "08:00") == time(8, 0)
    else:
        assert stored_hhmm(text, "08:00") == parsed


def test_one_rule_for_the_effective_zone() -> None:
    assert choose_zone("Asia/Tokyo", ["Europe/Berlin"], "UTC") == ("Asia/Tokyo", "yours")
    assert choose_zone(None, ["Europe/Berlin", "Asia/Tokyo"], "UTC") == ("Europe/Berlin", "your cohort's")
    assert choose_zone(None, [], "America/Chicago") == ("America/Chicago", "the default")


def test_commands_and_nudges_read_the_same_clock(tmp_path) -> None:
    """Someone without a zone in two cohorts: dates they type and their nudges both follow the first cohort."""
    from bot.nudges.planner import load_states

    r = Room(open_database(f"sqlite:///{tmp_path}/z.db"), datetime(2026, 10, 19, 14, 0, tzinfo=UTC))
    r.say("teach", "cohort create first --tz Asia/Tokyo")
    r.say("teach", "cohort create second --tz America/Chicago")
    r.say("ann", "cohort join first")
    r.say("ann", "cohort join second")
    r.say("teach", "start second")
    assert "Asia/Tokyo" in r.say("ann", "settings")
    with r.db.session() as s:
        ann = s.execute(select(Person.id).where(Person.external_id == "ann")).scalar_one()
        states = [x for chunk, _ in load_states(s, r.clock.now()) for x in chunk if x.person_id == ann]
    assert [x.tz for x in states] == ["Asia/Tokyo"]
