"""Cohorts and the dare: creating, joining, instructors, pausing, quiet weeks, issuing and accepting."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from bot import commands as c
from bot.coaching import DARE_PITCH
from bot.context import Context
from bot.dates import resolve_date
from bot.errors import UsageError
from bot.registry import action, command
from bot.replies import Button, Field, Reply, Section, text_reply
from bot.stats import current_dare
from bot.validate import name_key, typed
from bot.zones import stored_zone, zone
from storage.models import Acceptance, Cohort, Dare, Membership, Nudge, QuietWeek, pk

DEADLINE_HORIZON_DAYS = 366  # a dare is a term's work; further out is a typo


def resolve_deadline(ctx: Context, text: str) -> date:
    deadline = resolve_date(text, ctx.local_today(), what="The deadline", field="deadline")
    if deadline < ctx.local_today():
        raise UsageError("The deadline is in the past: give a date from today on.", field="deadline")
    if deadline > ctx.local_today() + timedelta(days=DEADLINE_HORIZON_DAYS):
        raise UsageError(
            "The deadline is more than a year away: give a date within the next 12 months.", field="deadline"
        )
    return deadline


@command(
    "cohort create",
    summary="Create a cohort; you become its instructor.",
    details="Put names with spaces in quotes. --tz sets the clock for members who set none.",
    examples=('/dare cohort create "Spring 2027" --goal 3 --deadline 2027-04-30 --tz Europe/Berlin',),
)
def create(ctx: Context, cmd: c.CohortCreate) -> Reply:
    key = name_key(cmd.name)
    if ctx.session.exec(select(Cohort).where(Cohort.workspace_id == ctx.ws.id, Cohort.name_key == key)).first():
        raise UsageError(
            f"A cohort called '{cmd.name}' already exists here: pick another name, "
            f"or join it with /dare cohort join {typed(cmd.name)}.",
            field="name",
        )
    tz = zone(cmd.tz, field="tz").key if cmd.tz else (ctx.me.tz or ctx.default_tz)
    deadline = resolve_deadline(ctx, cmd.deadline) if cmd.deadline else None
    cohort = Cohort(
        workspace_id=pk(ctx.ws),
        name=cmd.name,
        name_key=key,
        tz=tz,
        goal=cmd.goal or 3,
        deadline=deadline,
        created_by=pk(ctx.me),
        created_at=ctx.now,
    )
    ctx.session.add(cohort)
    ctx.session.flush()
    ctx.session.add(Membership(cohort_id=pk(cohort), person_id=pk(ctx.me), is_instructor=True, joined_at=ctx.now))
    when = f", deadline {deadline.isoformat()}" if deadline else ""
    return text_reply(
        f"Cohort {cohort.name} is ready (goal {cohort.goal} reverse interviews{when}, time zone {tz}). "
        f"You're its instructor.\nNext: students join with /dare cohort join {typed(cohort.name)}; "
        f"then issue the dare with /dare start {typed(cohort.name)}.",
        title="Cohort created",
    )


@command(
    "cohort join",
    summary="Join a cohort as a participant.",
    examples=('/dare cohort join "Spring 2027"',),
    details="Put names with spaces in quotes. If the dare is already out, you see it at once.",
)
def join(ctx: Context, cmd: c.CohortJoin) -> Reply:
    if not cmd.name:
        raise UsageError("Which cohort? Ask your instructor for its name.", usage="/dare cohort join NAME")
    cohort = ctx.cohort_by_name(cmd.name)
    if cohort.closed_at is not None:
        raise UsageError(f"{cohort.name} is closed: its term has ended.")
    m = ctx.membership(cohort, removed=True)
    if m and m.removed_how == "removed":
        raise UsageError(f"An instructor removed you from {cohort.name}. Ask them if you'd like to come back.")
    if m and m.removed_at is None and m.is_participant:
        return text_reply(f"You're already in {cohort.name}. See /dare progress.")
    if m:
        m.is_participant, m.removed_at, m.removed_how = True, None, None
    else:
        ctx.session.add(Membership(cohort_id=pk(cohort), person_id=pk(ctx.me), is_participant=True, joined_at=ctx.now))
    dare = current_dare(ctx.session, pk(cohort))
    # Discord tells no time zone: without one, nudges follow the cohort's clock.
    tz_tip = (
        ()
        if ctx.me.tz
        else (
            Section(
                text=f"Nudges follow {cohort.tz} time. Elsewhere? /dare settings tz Area/City, e.g. Europe/Berlin."
            ),
        )
    )
    if dare is None:
        return Reply(
            title="Joined",
            sections=(
                Section(
                    text=f"Welcome to {cohort.name}! Your instructor will issue "
                    "the dare soon; meanwhile, /dare questions shows what "
                    "to ask."
                ),
                *tz_tip,
            ),
        )
    return Reply(
        title="Joined",
        sections=(
            Section(text=f"Welcome to {cohort.name}! The dare is already on:"),
            *dare_sections(dare, cohort),
            *tz_tip,
        ),
        buttons=(Button("I'm in", "dare.accept", cohort.name, "primary"),),
    )


@command(
    "cohort instructor",
    summary="Make someone an instructor of a cohort.",
    instructor=True,
    details="Instructors get the weekly digest and can start, pause and report.",
    examples=('/dare cohort instructor "Spring 2027" @sam',),
)
def add_instructor(ctx: Context, cmd: c.CohortInstructor) -> Reply:
    cohort = ctx.cohort(cmd.name, instructor=True)
    other = ctx.person_for(cmd.user.user_id, cmd.user.name_hint)
    m = ctx.membership(cohort, other, removed=True)
    if m and m.removed_at is None and m.is_instructor:
        return text_reply(f"{other.display_name} already teaches {cohort.name}.")
    if m:
        # Made an instructor after leaving as a participant: back as a teacher only.
        if m.removed_at is not None:
            m.is_participant, m.removed_at, m.removed_how = False, None, None
        m.is_instructor = True
    else:
        ctx.session.add(Membership(cohort_id=pk(cohort), person_id=pk(other), is_instructor=True, joined_at=ctx.now))
    return text_reply(f"{other.display_name} is now an instructor of {cohort.name}.")


@command(
    "cohort pause",
    summary="Pause every nudge for a cohort.",
    instructor=True,
    details=("Without --until it lasts until /dare cohort resume; afterwards only the most relevant nudge goes out."),
    examples=('/dare cohort pause "Spring 2027" --until 2027-03-01',),
)
def pause(ctx: Context, cmd: c.CohortPause) -> Reply:
    cohort = ctx.cohort(cmd.name, instructor=True)
    until = None
    if cmd.until:
        day = resolve_date(cmd.until, ctx.local_today(), what="--until", field="until")
        if day <= ctx.local_today():
            raise UsageError("--until must be after today.", field="until")
        until = datetime.combine(day, time(0), stored_zone(cohort.tz))
    cohort.paused, cohort.paused_until = until is None, until
    tail = (
        f" until {cmd.until and until.date().isoformat()}"
        if until
        else f" until /dare cohort resume {typed(cohort.name)}"
    )
    return text_reply(f"Nudges for {cohort.name} are paused{tail}. Commands keep working.")


@command(
    "cohort resume",
    summary="Resume nudges for a paused cohort.",
    instructor=True,
    details="Nudges held back during the pause are re-planned: at most one goes out.",
    examples=('/dare cohort resume "Spring 2027"',),
)
def resume(ctx: Context, cmd: c.CohortResume) -> Reply:
    cohort = ctx.cohort(cmd.name, instructor=True)
    cohort.paused, cohort.paused_until = False, None
    return text_reply(f"Nudges for {cohort.name} are back on.")


@command(
    "cohort quiet",
    summary="Mark a quiet stretch (exams, a break): no nudges to participants then.",
    details="Up to 9 weeks; dates are read on each person's own calendar.",
    instructor=True,
    usage="/dare cohort quiet NAME --from DATE --to DATE [--note TEXT]",
    examples=('/dare cohort quiet "Spring 2027" --from 2027-03-10 --to 2027-03-17 --note exams',),
)
def quiet(ctx: Context, cmd: c.CohortQuiet) -> Reply:
    usage = "/dare cohort quiet NAME --from DATE --to DATE [--note TEXT]"
    cohort = ctx.cohort(cmd.name, instructor=True)
    if not cmd.start or not cmd.end:
        raise UsageError("A quiet stretch needs --from and --to.", usage=usage)
    start = resolve_date(cmd.start, ctx.local_today(), what="--from", field="start")
    end = resolve_date(cmd.end, ctx.local_today(), what="--to", field="end")
    if end < start:
        raise UsageError("--to comes before --from.", usage=usage)
    if (end - start).days > 62:
        raise UsageError("A quiet stretch can last at most 9 weeks; pause the cohort for longer breaks.")
    ctx.session.add(QuietWeek(cohort_id=pk(cohort), starts_on=start, ends_on=end, note=cmd.note))
    return text_reply(
        f"No nudges to {cohort.name}'s participants from {start} to {end}{' (' + cmd.note + ')' if cmd.note else ''}."
    )


def dare_sections(dare: Dare, cohort: Cohort) -> tuple[Section, ...]:
    fields = [Field("Goal", f"{dare.goal} reverse interview{'s' if dare.goal != 1 else ''}")]
    if dare.deadline:
        fields.append(Field("Deadline", dare.deadline.isoformat()))
    if dare.reward:
        fields.append(Field("For sharing your story", dare.reward))
    return (
        Section(text=DARE_PITCH, fields=tuple(fields)),
        Section(text=f'Take it with /dare accept {typed(cohort.name)}, then add someone with /dare contact "NAME".'),
    )


@command(
    "start",
    summary="Issue the dare to a cohort and DM every participant; the last four set the nudges' pace.",
    instructor=True,
    details="Running it again updates the dare in place; nothing logged is lost.",
    examples=('/dare start "Spring 2027" --goal 3 --deadline 2027-04-30 --reward "a coffee with the dean"',),
)
def start(ctx: Context, cmd: c.Start) -> Reply:
    """Issue the dare and plan one announcement DM per participant; run again, it updates the dare."""
    cohort = ctx.cohort(cmd.name, instructor=True, example="/dare start NAME")
    deadline = resolve_deadline(ctx, cmd.deadline) if cmd.deadline else None
    dare = current_dare(ctx.session, pk(cohort))
    if dare is not None:
        # One dare per cohort: a second /dare start adjusts it and keeps everything already logged.
        changed = _apply(dare, cmd, deadline)
        if not changed:
            return text_reply(
                f"The dare for {cohort.name} is already on. To change it, give what changes, e.g. "
                f"/dare start {typed(cohort.name)} --deadline DATE --reward TEXT."
            )
        told = "no new announcement is sent."
        if "goal" in changed or "deadline" in changed:
            from bot.nudges.catalog import plan_now

            participants = list(
                ctx.session.exec(
                    select(Membership.person_id).where(
                        Membership.cohort_id == cohort.id,
                        Membership.is_participant == True,  # noqa: E712
                    )
                )
            )
            ctx.planned_dms += plan_now(
                ctx.session,
                "dare-changed",
                workspace_id=ctx.ws.id,  # type: ignore[arg-type]
                person_ids=participants,
                dare_id=dare.id,  # type: ignore[arg-type]
                event=f"c{ctx.now:%Y%m%d%H%M%S}",
                now=ctx.now,
                supersede=True,
            )
            told = "each participant gets one DM about the change." if participants else told
        if "deadline" in changed:
            from bot.nudges.catalog import reopen

            reopen(ctx.session, "final-summary", dare_id=pk(dare), now=ctx.now)  # the new end gets its summary
        return Reply(
            title=f"Dare updated for {cohort.name}",
            sections=(
                Section(text=f"Changed: {', '.join(changed)}. Everything logged so far still counts; {told}"),
                *dare_sections(dare, cohort),
            ),
            ephemeral=False,
        )
    if deadline is None and cohort.deadline is not None and cohort.deadline >= ctx.local_today():
        deadline = cohort.deadline
    dare = Dare(
        cohort_id=pk(cohort),
        goal=cohort.goal,
        starts_at=ctx.now,
        deadline=deadline,
        issued_by=pk(ctx.me),
        created_at=ctx.now,
    )
    _apply(dare, cmd, deadline)
    ctx.session.add(dare)
    ctx.session.flush()
    participants = list(
        ctx.session.exec(
            select(Membership.person_id).where(Membership.cohort_id == cohort.id, Membership.is_participant == True)  # noqa: E712
        )
    )
    ctx.planned_dms += plan_announcements(ctx, dare, participants)
    summary = (
        f"The dare is out to {len(participants)} participant{'s' if len(participants) != 1 else ''} of "
        f"{cohort.name}: {'each gets' if len(participants) != 1 else 'they get'} a DM."
        if participants
        else f"The dare is set for {cohort.name}. Nobody has joined yet: people who join see it at once."
    )
    return Reply(
        title=f"Dare issued to {cohort.name}",
        sections=(Section(text=summary), *dare_sections(dare, cohort)),
        ephemeral=False,
    )


_KNOBS = ("goal", "reward", "followup_days", "stall_days", "daily_cap", "weekly_cap")


def _apply(dare: Dare, cmd: c.Start, deadline: date | None) -> list[str]:
    """Copy what the command sets onto the dare; returns the names of what changed."""
    changed = []
    if deadline is not None and dare.deadline != deadline:
        dare.deadline = deadline
        changed.append("deadline")
    for knob in _KNOBS:
        value = getattr(cmd, knob)
        if value is not None and getattr(dare, knob) != value:
            setattr(dare, knob, value)
            changed.append(knob.replace("_", " "))
    return changed


def plan_announcements(ctx: Context, dare: Dare, person_ids: list[int]) -> int:
    if not person_ids:
        return 0
    rows = [
        dict(
            key=f"{pid}:dare-issued:{dare.id}:-",
            workspace_id=ctx.ws.id,
            person_id=pid,
            rule="dare-issued",
            subject=str(dare.id),
            due_at=ctx.now,
            planned_at=ctx.now,
            status="pending",
            attempts=0,
        )
        for pid in person_ids
    ]
    dialect = ctx.session.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Nudge)
    ctx.session.execute(ins.values(rows).on_conflict_do_nothing(index_elements=["key"]))
    return len(rows)


@command(
    "accept",
    summary="Take the dare.",
    examples=("/dare accept", '/dare accept "Spring 2027"'),
    details="The cohort can be left out when you're in one.",
)
def accept(ctx: Context, cmd: c.Accept) -> Reply:
    cohort = ctx.cohort(cmd.name, example="/dare accept NAME")
    m = ctx.membership(cohort)
    if m is None or not m.is_participant:
        raise UsageError(f"Join {cohort.name} first: /dare cohort join {typed(cohort.name)}.")
    dare = current_dare(ctx.session, pk(cohort))
    if dare is None:
        raise UsageError(f"{cohort.name} has no dare yet: your instructor issues it with /dare start.")
    if ctx.session.exec(
        select(Acceptance).where(Acceptance.dare_id == dare.id, Acceptance.person_id == ctx.me.id)
    ).first():
        return text_reply("You've already taken the dare. /dare progress shows where you are.")
    ctx.session.add(Acceptance(dare_id=pk(dare), person_id=pk(ctx.me), accepted_at=ctx.now))
    by = f" by {dare.deadline.isoformat()}" if dare.deadline else ""
    return Reply(
        title="Dare accepted",
        sections=(
            Section(
                text=f"You're in: {dare.goal} reverse interview{'s' if dare.goal != 1 else ''}{by}.\n"
                "Step one: write down someone who is where you'd love to be in a few years, and add them with "
                '/dare contact "FULL NAME" --title T --org O (add --decides if they can hire).'
            ),
        ),
        buttons=(Button("Show me the questions", "questions.show"),),
    )


@action("dare.accept")
def accept_button(ctx: Context, value: str) -> Reply:
    return accept(ctx, c.Accept(value or None))
