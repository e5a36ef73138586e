"""Dates as people type them (zones and HH:MM times: bot.zones)."""

from __future__ import annotations

from datetime import date, timedelta

from bot.errors import UsageError

_RELATIVE = {"today": 0, "yesterday": -1, "tomorrow": 1}


def resolve_date(text: str, today: date, *, what: str = "The date", field: str | None = None) -> date:
    """`today`, `yesterday`, `tomorrow` or an ISO date (YYYY-MM-DD)."""
    t = text.strip().lower()
    if t in _RELATIVE:
        return today + timedelta(days=_RELATIVE[t])
    try:
        return date.fromisoformat(t)
    except ValueError:
        raise UsageError(
            f"{what} '{text[:30]}' isn't a date: use YYYY-MM-DD, today, yesterday or tomorrow.", field=field
        ) from None


def not_future(day: date, today: date, *, what: str, field: str | None = None) -> date:
    if day > today:
        raise UsageError(
            f"{what} can't be in the future ({day.isoformat()} is after today, {today.isoformat()}).", field=field
        )
    return day
