"""Time zones and wall-clock times: parsing them, and whose clock a person lives by.

Two kinds of input, two kinds of function:
- what a person types (`zone`, `parse_hhmm`) is checked strictly and refused with a UsageError;
- what was stored earlier (`stored_zone`, `stored_hhmm`) is read leniently: a value that went bad
  (a zone removed from tzdata, a hand-edited row) falls back instead of stopping a sweep.

A person's effective zone is one rule everywhere (commands, nudges, rendering): their own, else the
zone of the first cohort they joined, else the deployment's default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select
from sqlmodel import Session

from bot.errors import UsageError
from storage.models import Cohort, Membership, Person

DEFAULT_ZONE = "UTC"
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str, *, field: str | None = None) -> ZoneInfo:
    """A zone a person typed: UTC or an IANA Area/City such as Europe/Berlin, else a UsageError."""
    cleaned = name.strip()
    if cleaned.upper() == "UTC":
        return ZoneInfo("UTC")
    if "/" not in cleaned or cleaned not in _known():
        raise UsageError(
            f"'{cleaned[:40]}' isn't a time zone I know: use Area/City, e.g. Europe/Berlin or America/Chicago.",
            field=field,
        )
    return ZoneInfo(cleaned)


@lru_cache(maxsize=512)
def stored_zone(name: str | None, fallback: str = DEFAULT_ZONE) -> ZoneInfo:
    """A zone read back from storage; never raises (a bad value falls back, then to UTC)."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def parse_hhmm(text: str, *, field: str | None = None) -> time:
    """A 24-hour HH:MM a person typed, else a UsageError."""
    m = _HHMM.match(text.strip())
    if not m:
        raise UsageError(f"'{text[:20]}' isn't a time: use HH:MM, 24-hour, e.g. 21:30.", field=field)
    return time(int(m.group(1)), int(m.group(2)))


def stored_hhmm(text: str | None, default: str) -> time:
    """An HH:MM read back from storage; a missing or bad value gives `default`."""
    m = _HHMM.match((text or "").strip())
    if not m:
        m = _HHMM.match(default)
        assert m is not None, default
    return time(int(m.group(1)), int(m.group(2)))


# --- whose clock ------------------------------------------------------------------------------


def choose_zone(own: str | None, cohort_zones: Sequence[str], default: str) -> tuple[str, str]:
    """(zone, where it came from): the person's own, else their first cohort's, else the default."""
    if own:
        return own, "yours"
    first = next((z for z in cohort_zones if z), None)
    if first:
        return first, "your cohort's"
    return default, "the default"


def first_cohort_zones(session: Session, person_ids: Sequence[int]) -> dict[int, str]:
    """Each person's first-joined cohort's zone, for those in any cohort (one query for many people)."""
    if not person_ids:
        return {}
    out: dict[int, str] = {}
    query = (
        select(Membership.person_id, Cohort.tz)  # type: ignore[call-overload]
        .join(Cohort, Cohort.id == Membership.cohort_id)
        .where(Membership.person_id.in_(list(person_ids)))  # type: ignore[attr-defined]
        .order_by(Membership.joined_at, Membership.id)
    )
    rows = session.execute(query).all()
    for pid, tz in rows:
        out.setdefault(pid, tz)
    return out


def effective_zone(session: Session, person: Person, default: str = DEFAULT_ZONE) -> tuple[str, str]:
    """(zone, where it came from) for one person: dates they type, nudges and digests all use it."""
    if person.tz:
        return person.tz, "yours"
    first = first_cohort_zones(session, [person.id]).get(person.id) if person.id is not None else None
    return choose_zone(None, [first] if first else [], default)


# --- local arithmetic -------------------------------------------------------------------------


# Pure and called for every rule of every person in a sweep, mostly with the same arguments.
@lru_cache(maxsize=65536)
def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(stored_zone(tz)).date()


def local_today(now: datetime, tz: str | None, fallback: str = DEFAULT_ZONE) -> date:
    return now.astimezone(stored_zone(tz, fallback)).date()


@lru_cache(maxsize=65536)
def local_at(day: date, at: time, tz: str) -> datetime:
    """The UTC moment of wall-clock `at` on local `day` (zoneinfo resolves DST gaps and folds)."""
    return datetime.combine(day, at, tzinfo=stored_zone(tz)).astimezone(UTC)


def next_local_midnight(moment: datetime, tz: str) -> datetime:
    return local_at(local_date(moment, tz) + timedelta(days=1), time(0, 0), tz)
