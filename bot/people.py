"""A person's own settings, and the instructor's reward grant."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot import commands as c
from bot.context import Context
from bot.errors import NotAllowed, UsageError
from bot.questions import AIMS
from bot.registry import action, command
from bot.replies import Field, Reply, Section, text_reply
from bot.zones import effective_zone, parse_hhmm, stored_zone, zone
from storage.models import Acceptance, Cohort, Interview, Membership, Story

SETTINGS_USAGE = (
    "/dare settings [tz AREA/CITY | quiet HH:MM-HH:MM | nudges on|off | snooze DAYS | "
    "board named|alias|hidden | aim job|growth|business | goal N]"
)


def _zone_label(ctx: Context) -> str:
    zone_name, source = effective_zone(ctx.session, ctx.me, ctx.default_tz)
    return zone_name if source == "yours" else f"{zone_name} ({source}; set yours with /dare settings tz)"


def show_settings(ctx: Context) -> Reply:
    p = ctx.me
    snooze = "no"
    if p.snoozed_until and p.snoozed_until > ctx.now:
        snooze = f"until {p.snoozed_until.astimezone(stored_zone(ctx.effective_zone())):%Y-%m-%d %H:%M}"
    board = {"named": "by name", "alias": f"as {p.alias}", "hidden": "hidden"}[p.board_mode]
    return Reply(
        title="Your settings",
        sections=(
            Section(
                fields=(
                    Field("Time zone", _zone_label(ctx)),
                    Field("Quiet hours", f"{p.quiet_start}-{p.quiet_end}"),
                    Field("Nudges", "on" if p.nudges_enabled else "off"),
                    Field("Snoozed", snooze),
                    Field("On the board", board),
                    Field("Aim", AIM_LABEL.get(p.aim or "", "not set")),
                )
            ),
            Section(text=f"Change one with {SETTINGS_USAGE}"),
        ),
    )


AIM_LABEL = {"job": "finding a job", "growth": "growing where you are", "business": "building a business"}


@command(
    "settings",
    summary="Show or change your settings.",
    usage=SETTINGS_USAGE,
    details=(
        "tz: your time zone (nudges and the dates you type follow it). quiet: hours with no DMs. "
        "nudges: on or off. snooze: pause nudges for 1-60 days. board: how you appear on the board. "
        "aim: what you're after (job, growth or business); it shapes the questions suggested before a "
        "talk. goal: raise your own goal above the dare's once you've met it."
    ),
    examples=(
        "/dare settings tz America/New_York",
        "/dare settings quiet 21:00-08:00",
        "/dare settings board alias",
        "/dare settings aim growth",
        "/dare settings goal 5",
    ),
)
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
        return text_reply(
            "Nudges are on."
            if p.nudges_enabled
            else "Nudges are off. Turn them back on any time with /dare settings nudges on."
        )
    if key == "snooze":
        return snooze(ctx, value)
    if key == "aim":
        if value.lower() not in AIMS:
            raise UsageError("aim takes job, growth or business.", usage=SETTINGS_USAGE)
        p.aim = value.lower()
        return text_reply(f"Your aim: {AIM_LABEL[p.aim]}. The questions I suggest before a talk will fit it.")
    if key == "goal":
        return raise_goal(ctx, value)
    if key == "board":
        if value.lower() not in c.BOARD_MODES:
            raise UsageError("board takes named, alias or hidden.", usage=SETTINGS_USAGE)
        p.board_mode = value.lower()
        shown = {"named": "by your name", "alias": f"as {p.alias}", "hidden": "not at all (only you see your place)"}
        return text_reply(f"On the board you now appear {shown[p.board_mode]}.")
    raise UsageError(f"There's no setting called '{key[:20]}'.", usage=SETTINGS_USAGE)


def raise_goal(ctx: Context, value: str) -> Reply:
    """A participant's own goal, above the dare's, in each running dare they took."""
    from bot.commands import GOAL_MAX
    from bot.stats import current_dare

    if not value.isdigit() or not 1 <= int(value) <= GOAL_MAX:
        raise UsageError(f"goal takes a number of interviews, 1 to {GOAL_MAX}.", usage=SETTINGS_USAGE)
    n = int(value)
    changed = []
    for cohort, m in ctx.memberships():
        dare = current_dare(ctx.session, cohort.id) if m.is_participant else None  # type: ignore[arg-type]
        acc = (
            ctx.session.exec(
                select(Acceptance).where(Acceptance.dare_id == dare.id, Acceptance.person_id == ctx.me.id)
            ).first()
            if dare
            else None
        )
        if dare is None or acc is None:
            continue
        if n < dare.goal:
            raise UsageError(f"{cohort.name}'s dare asks for {dare.goal}: your own goal can only be higher.")
        acc.goal = None if n == dare.goal else n
        changed.append(cohort.name)
    if not changed:
        raise UsageError("Take a dare first (/dare accept); then you can raise your own goal.")
    return text_reply(
        f"Your goal is now {n} reverse interviews ({', '.join(changed)}). The coach will help you find the next person."
    )


@action("meeting.reschedule")
def reschedule(ctx: Context, contact_name: str) -> Reply:
    """From the "did it happen?" DM: how to set the new day (the form can't know it)."""
    name = contact_name or "NAME"
    return text_reply(
        f'Set the new day with /dare reply "{name}" --meeting DATE (a date from today on), and I\'ll '
        "send your prep the day before.",
        title="Reschedule",
    )


@action("nudge.snooze")
def snooze(ctx: Context, days_text: str) -> Reply:
    try:
        days = int(days_text)
    except ValueError:
        raise UsageError(f"snooze takes a number of days, not '{days_text[:20]}'.") from None
    if not 1 <= days <= 60:
        raise UsageError("Snooze for 1 to 60 days.")
    ctx.me.snoozed_until = ctx.now + timedelta(days=days)
    resume = ctx.me.snoozed_until.astimezone(stored_zone(ctx.effective_zone())).strftime("%Y-%m-%d %H:%M")
    return text_reply(
        f"Snoozed for {days} day{'s' if days != 1 else ''}: nudges resume after {resume} ({ctx.effective_zone()})."
    )


@action("nudge.stop")
def stop_nudges(ctx: Context, _value: str = "") -> Reply:
    ctx.me.nudges_enabled = False
    return text_reply("Done: no more nudges. /dare settings nudges on brings them back.")


@command(
    "reward",
    summary="Mark a participant's story reward as granted.",
    instructor=True,
    details=(
        "Rewards are for stories about a logged reverse interview; --anyway grants one for another story. "
        "The participant gets a DM."
    ),
    examples=("/dare reward @ada", "/dare reward @ada --anyway"),
)
def reward(ctx: Context, cmd: c.GrantReward) -> Reply:
    other = ctx.person_for(cmd.user.user_id, cmd.user.name_hint)
    taught = set(
        ctx.session.exec(
            select(Membership.cohort_id)
            .join(Cohort, col(Cohort.id) == Membership.cohort_id)
            .where(
                Membership.person_id == ctx.me.id,
                Membership.is_instructor == True,  # noqa: E712
                Cohort.workspace_id == ctx.ws.id,
            )
        )
    )
    if not taught:
        raise NotAllowed("Only instructors grant rewards.")
    story = ctx.session.exec(
        select(Story)
        .where(
            Story.person_id == other.id,
            Story.reward_granted_at == None,  # noqa: E711
            col(Story.cohort_id).in_(taught),
        )
        .order_by(col(Story.created_at))
    ).first()
    if story is None:
        raise UsageError(f"{other.display_name} has no story waiting for a reward in your cohorts.")
    tied = ctx.session.exec(
        select(Interview.id).where(Interview.person_id == other.id, Interview.created_at <= story.created_at)
    ).first()
    if tied is None and not cmd.anyway:
        raise UsageError(
            f"{other.display_name}'s story isn't tied to a logged interview: they haven't logged one. "
            f"Grant it all the same with /dare reward @user --anyway."
        )
    story.reward_granted_at, story.granted_by = ctx.now, ctx.me.id
    ctx.session.flush()
    from bot.nudges.catalog import plan_now
    from bot.stats import current_dare

    dare = current_dare(ctx.session, story.cohort_id) if story.cohort_id else None
    told = ""
    if dare is not None and dare.id is not None and ctx.ws.id is not None and other.id is not None:
        ctx.planned_dms += plan_now(
            ctx.session,
            "reward-granted",
            workspace_id=ctx.ws.id,
            person_ids=[other.id],
            dare_id=dare.id,
            event=f"s{story.id}",
            now=ctx.now,
        )
        told = " They'll get a DM saying so."
    return text_reply(f"Reward granted to {other.display_name} for their story.{told} Thank you for backing the dare!")
