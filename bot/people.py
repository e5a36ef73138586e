"""A person's own settings, and the instructor's reward grant."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot import commands as c
from bot.context import Context, effective_zone
from bot.dates import parse_hhmm, safe_zone, zone
from bot.errors import NotAllowed, UsageError
from bot.registry import action, command
from bot.replies import Field, Reply, Section, text_reply
from storage.models import Cohort, Membership, Story

SETTINGS_USAGE = ("/dare settings [tz AREA/CITY | quiet HH:MM-HH:MM | nudges on|off | snooze DAYS | "
                  "board named|alias|hidden]")


def _zone_label(ctx: Context) -> str:
    zone_name, source = effective_zone(ctx.session, ctx.me, ctx.default_tz)
    return zone_name if source == "yours" else f"{zone_name} ({source}; set yours with /dare settings tz)"


def show_settings(ctx: Context) -> Reply:
    p = ctx.me
    snooze = "no"
    if p.snoozed_until and p.snoozed_until > ctx.now:
        snooze = f"until {p.snoozed_until.astimezone(safe_zone(ctx.zone)):%Y-%m-%d %H:%M}"
    board = {"named": "by name", "alias": f"as {p.alias}", "hidden": "hidden"}[p.board_mode]
    return Reply(title="Your settings", sections=(Section(fields=(
        Field("Time zone", _zone_label(ctx)), Field("Quiet hours", f"{p.quiet_start}-{p.quiet_end}"),
        Field("Nudges", "on" if p.nudges_enabled else "off"), Field("Snoozed", snooze), Field("On the board", board))),
        Section(text=f"Change one with {SETTINGS_USAGE}")))


@command("settings", summary="Show or change your settings.",
         usage=("/dare settings [tz AREA/CITY | quiet HH:MM-HH:MM | nudges on|off | snooze DAYS | "
                "board named|alias|hidden]"),
         examples=("/dare settings tz America/New_York", "/dare settings quiet 21:00-08:00",
                   "/dare settings board alias"))
def settings(ctx: Context, cmd: c.ChangeSettings) -> Reply:
    if cmd.key is None:
        return show_settings(ctx)
    key, value = cmd.key.lower(), (cmd.value or "").strip()
    if not value:
        raise UsageError(f"'{key[:20]}' needs a value.", usage=SETTINGS_USAGE)
    p = ctx.me
    if key in ("tz", "timezone"):
        p.tz = zone(value).key
        return text_reply(f"Time zone set to {p.tz}. Nudges follow your local clock.")
    if key == "quiet":
        start, sep, end = value.partition("-")
        if not sep:
            raise UsageError("Quiet hours look like 21:00-08:00.", usage=SETTINGS_USAGE)
        s, e = parse_hhmm(start), parse_hhmm(end)
        if s == e:
            raise UsageError("Quiet hours need a start and an end that differ.")
        p.quiet_start, p.quiet_end = s.strftime("%H:%M"), e.strftime("%H:%M")
        return text_reply(f"No nudges between {p.quiet_start} and {p.quiet_end}, your time.")
    if key == "nudges":
        if value.lower() not in ("on", "off"):
            raise UsageError("nudges takes on or off.", usage=SETTINGS_USAGE)
        p.nudges_enabled = value.lower() == "on"
        if p.nudges_enabled:
            p.snoozed_until = None
        return text_reply("Nudges are on." if p.nudges_enabled else
                          "Nudges are off. Turn them back on any time with /dare settings nudges on.")
    if key == "snooze":
        return snooze(ctx, value)
    if key == "board":
        if value.lower() not in c.BOARD_MODES:
            raise UsageError("board takes named, alias or hidden.", usage=SETTINGS_USAGE)
        p.board_mode = value.lower()
        shown = {"named": "by your name", "alias": f"as {p.alias}", "hidden": "not at all (only you see your place)"}
        return text_reply(f"On the board you now appear {shown[p.board_mode]}.")
    raise UsageError(f"There's no setting called '{key[:20]}'.", usage=SETTINGS_USAGE)


@action("nudge.snooze")
def snooze(ctx: Context, days_text: str) -> Reply:
    try:
        days = int(days_text)
    except ValueError:
        raise UsageError(f"snooze takes a number of days, not '{days_text[:20]}'.") from None
    if not 1 <= days <= 60:
        raise UsageError("Snooze for 1 to 60 days.")
    ctx.me.snoozed_until = ctx.now + timedelta(days=days)
    resume = ctx.me.snoozed_until.astimezone(safe_zone(ctx.zone)).strftime("%Y-%m-%d %H:%M")
    return text_reply(f"Snoozed for {days} day{'s' if days != 1 else ''}: nudges resume after {resume} "
                      f"({ctx.zone}).")


@action("nudge.stop")
def stop_nudges(ctx: Context, _value: str = "") -> Reply:
    ctx.me.nudges_enabled = False
    return text_reply("Done: no more nudges. /dare settings nudges on brings them back.")


@command("reward", summary="Mark a participant's story reward as granted.", instructor=True,
         examples=("/dare reward @ada",))
def reward(ctx: Context, cmd: c.GrantReward) -> Reply:
    other = ctx.person_for(cmd.user.user_id, cmd.user.name_hint)
    taught = set(ctx.session.exec(select(Membership.cohort_id).join(Cohort, col(Cohort.id) == Membership.cohort_id)
                  .where(
        Membership.person_id == ctx.me.id, Membership.is_instructor == True, Cohort.workspace_id == ctx.ws.id)))  # noqa: E712
    if not taught:
        raise NotAllowed("Only instructors grant rewards.")
    story = ctx.session.exec(select(Story).where(Story.person_id == other.id, Story.reward_granted_at == None,  # noqa: E711
                                                 col(Story.cohort_id).in_(taught))
                             .order_by(col(Story.created_at))).first()
    if story is None:
        raise UsageError(f"{other.display_name} has no story waiting for a reward in your cohorts.")
    story.reward_granted_at, story.granted_by = ctx.now, ctx.me.id
    return text_reply(f"Reward granted to {other.display_name} for their story. Thank you for backing the dare!")
