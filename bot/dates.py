"""Dates, times and zones as people type them."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.errors import UsageError

_RELATIVE = {"today": 0, "yesterday": -1, "tomorrow": 1}
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def resolve_date(text: str, today: date, *, what: str = "The date", field: str | None = None) -> date:
    """`today`, `yesterday`, `tomorrow` or an ISO date (YYYY-MM-DD)."""
    t = text.strip().lower()
    if t in _RELATIVE:
        return today + timedelta(days=_RELATIVE[t])
    try:
        return date.fromisoformat(t)
    except ValueError:
        raise UsageError(f"{what} '{text[:30]}' isn't a date: use YYYY-MM-DD, today, yesterday or tomorrow.",
                         field=field) from None


def not_future(day: date, today: date, *, what: str, field: str | None = None) -> date:
    if day > today:
        raise UsageError(f"{what} can't be in the future ({day.isoformat()} is after today, {today.isoformat()}).",
                         field=field)
    return day


def zone(name: str, *, field: str | None = None) -> ZoneInfo:
    """A validated IANA zone such as Europe/Berlin."""
    cleaned = name.strip()
    if cleaned.upper() == "UTC":
        return ZoneInfo("UTC")
    if "/" not in cleaned or cleaned not in _zones():
        raise UsageError(f"'{cleaned[:40]}' isn't a time zone I know: "
                         "use Area/City, e.g. Europe/Berlin or America/Chicago.", field=field)
    return ZoneInfo(cleaned)


_ZONES: set[str] | None = None


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


def safe_zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """A zone for display and scheduling; never raises (bad stored values fall back)."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def parse_hhmm(text: str, *, field: str | None = None) -> time:
    m = _HHMM.match(text.strip())
    if not m:
        raise UsageError(f"'{text[:20]}' isn't a time: use HH:MM, 24-hour, e.g. 21:30.", field=field)
    return time(int(m.group(1)), int(m.group(2)))


def local_today(now: datetime, tz: str | None, fallback: str = "UTC") -> date:
    return now.astimezone(safe_zone(tz, fallback)).date()
