"""The coach's defaults, and the local-time arithmetic every rule and limit relies on.

Dates in rules are the person's *local* calendar dates; a local wall-clock moment is turned into
UTC with zoneinfo, so a daylight-saving change never moves a nudge to the wrong local hour or day.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from bot.zones import local_at, local_date, next_local_midnight, stored_zone

__all__ = [
    "DEFAULT_POLICY",
    "Policy",
    "after_quiet_hours",
    "in_quiet_hours",
    "local_at",
    "local_date",
    "next_local_midnight",
]


@dataclass(frozen=True)
class Policy:
    """Defaults a coach would choose. The per-dare knobs are overridden from the Dare row."""

    # per dare (Dare.followup_days, stall_days, daily_cap, weekly_cap)
    followup_days: int = 4  # wait this long for an answer before the next attempt
    stall_days: int = 5  # accepted but no outreach for this long
    daily_cap: int = 1  # nudges per person per local day
    weekly_cap: int = 3  # nudges per person in any 7 days
    # rule timing
    send_time: time = time(10, 0)  # local time at which a day's nudges fall due
    accept_reminder_days: tuple[int, ...] = (2, 6)
    thank_you_time: time = time(18, 0)
    close_loop_days: int = 14
    story_after_days: int = 2
    deadline_near_days: int = 5
    gone_quiet_days: int = 10
    recruiter_revisit_days: int = 90
    digest_weekday: int = 0  # Monday
    digest_time: time = time(9, 0)
    digest_grace_days: int = 7  # digests continue this long after the deadline
    digest_first_after_days: int = 3  # no digest in the dare's first days: nothing to report yet
    after_deadline_days: int = 14  # coaching on contacts and interviews continues this long after it
    # planning and delivery
    plan_ahead: timedelta = timedelta(hours=24)
    quiet_start: str = "21:00"
    quiet_end: str = "08:00"
    claim_seconds: int = 120  # a claimed row is re-claimable after this (crashed worker)
    max_attempts: int = 6  # transient failures before a row is marked failed
    backoff_base: float = 30.0  # seconds; doubled at each attempt
    backoff_max: float = 3600.0
    ws_rate: float = 5.0  # DMs per second per workspace (token bucket)
    ws_burst: int = 20

    def for_dare(self, dare: object | None) -> Policy:
        if dare is None:
            return self
        return replace(
            self,
            followup_days=getattr(dare, "followup_days", self.followup_days),
            stall_days=getattr(dare, "stall_days", self.stall_days),
            daily_cap=getattr(dare, "daily_cap", self.daily_cap),
            weekly_cap=getattr(dare, "weekly_cap", self.weekly_cap),
        )

    def backoff(self, attempts: int) -> float:
        return min(self.backoff_max, self.backoff_base * 2.0 ** max(0, attempts - 1))


DEFAULT_POLICY = Policy()


def in_quiet_hours(moment: datetime, tz: str, start: time, end: time) -> bool:
    t = moment.astimezone(stored_zone(tz)).time().replace(second=0, microsecond=0)
    if start == end:
        return False
    if start < end:  # e.g. 13:00-14:00
        return start <= t < end
    return t >= start or t < end  # wraps midnight, e.g. 21:00-08:00


def after_quiet_hours(moment: datetime, tz: str, start: time, end: time) -> datetime:
    """`moment` if allowed, else the next allowed minute (the local `end` of the quiet span)."""
    if not in_quiet_hours(moment, tz, start, end):
        return moment
    local = moment.astimezone(stored_zone(tz))
    day = local.date()
    if start > end and local.time() >= start:
        day += timedelta(days=1)
    candidate = local_at(day, end, tz)
    # `end` may fall in a DST gap: zoneinfo maps it just past the gap, which is allowed.
    if candidate <= moment:  # defensive: never go backwards
        candidate = moment + timedelta(minutes=1)
    return candidate
