"""A term's life cycle: closing and reopening a cohort, renaming it, removing a participant, leaving."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import select

from bot import commands as c
from bot.context import Context
from bot.errors import NotAllowed, UsageError
from bot.registry import command
from bot.replies import Reply, Section, text_reply
from bot.validate import name_key
from storage.models import Cohort, Membership


@command(
    "cohort close",
    summary="End the term: nudges and digests stop, the board and report freeze.",
    instructor=True,
    details="Closed cohorts stay listed for reports and comparisons; /dare cohort reopen undoes it.",
    examples=('/dare cohort close "Spring 2027"',),
)
def close(ctx: Context, cmd: c.CohortClose) -> Reply:
    from bot.report import report

    cohort = ctx.cohort(cmd.name, instructor=True)
    if cohort.closed_at is not None:
        raise UsageError(
            f"{cohort.name} was closed on {cohort.closed_at:%Y-%m-%d}. "
            f"Reopen it with /dare cohort reopen {cohort.name}."
        )
    cohort.closed_at = ctx.now
    ctx.session.flush()
    summary = report(ctx, c.Report(cohort.name))
    head = Section(
        text=f"{cohort.name} is closed. Nudges and digests have stopped; the board and this report "
        f"stay as they are now. Reopen with /dare cohort reopen {cohort.name}."
    )
    return replace(summary, title=f"{cohort.name}: the term in summary", sections=(head, *summary.sections))


@command(
    "cohort reopen",
    summary="Reopen a closed cohort: nudges resume and the board moves again.",
    instructor=True,
    details="Nudges and digests pick up from today; nothing that was held back while closed is sent late.",
    examples=('/dare cohort reopen "Spring 2027"',),
)
def reopen(ctx: Context, cmd: c.CohortReopen) -> Reply:
    cohort = ctx.cohort(cmd.name, instructor=True)
    if cohort.closed_at is None:
        return text_reply(f"{cohort.name} is open already.")
    cohort.closed_at = None
    return text_reply(f"{cohort.name} is open again: nudges resume and the board counts from today's numbers.")


@command(
    "cohort remove",
    summary="Remove a participant: they leave the board and totals; their data stays theirs.",
    instructor=True,
    details="Name the person with an @mention. Instructors cannot be removed; they leave with /dare cohort leave.",
    examples=('/dare cohort remove "Spring 2027" @sam',),
)
def remove(ctx: Context, cmd: c.CohortRemove) -> Reply:
    cohort = ctx.cohort(cmd.name, instructor=True)
    other = ctx.person_for(cmd.user.user_id, cmd.user.name_hint)
    m = ctx.membership(cohort, other, removed=True)
    if m is None:
        raise UsageError(f"{other.display_name} isn't in {cohort.name}.")
    if m.removed_at is not None:
        return text_reply(f"{other.display_name} already left {cohort.name} on {m.removed_at:%Y-%m-%d}.")
    if m.is_instructor:
        raise UsageError(f"{other.display_name} teaches {cohort.name}; only participants can be removed.")
    # Their pending nudges from this cohort are dropped at send time: delivery re-checks membership.
    m.removed_at, m.removed_how = ctx.now, "removed"
    return text_reply(
        f"{other.display_name} is no longer in {cohort.name}. They leave the board and the totals "
        "from now on (the report notes it); everything they logged stays theirs."
    )


@command(
    "cohort rename",
    summary="Give a cohort a new name.",
    instructor=True,
    details="Put a name with spaces in quotes. The new name must not be taken in this workspace.",
    examples=('/dare cohort rename "Spring 2027" "Spring 2027 (evening)"',),
)
def rename(ctx: Context, cmd: c.CohortRename) -> Reply:
    cohort = ctx.cohort(cmd.name, instructor=True)
    key = name_key(cmd.new_name)
    taken = ctx.session.exec(
        select(Cohort).where(Cohort.workspace_id == ctx.ws.id, Cohort.name_key == key, Cohort.id != cohort.id)
    ).first()
    if taken is not None:
        raise UsageError(f"A cohort called '{taken.name}' already exists here: pick another name.", field="new_name")
    old = cohort.name
    if old == cmd.new_name:
        return text_reply(f"{old} already has that name.")
    cohort.name, cohort.name_key = cmd.new_name, key
    return text_reply(f"{old} is now called {cohort.name}. Everything in it stays as it was.")


@command(
    "cohort leave",
    summary="Leave a cohort; what you logged stays yours.",
    details="You come off the board and stop getting its nudges. A cohort's last instructor must add another first.",
    examples=('/dare cohort leave "Spring 2027"',),
)
def leave(ctx: Context, cmd: c.CohortLeave) -> Reply:
    cohort = ctx.cohort(cmd.name, example="/dare cohort leave NAME", include_closed=True)
    m = ctx.membership(cohort)
    if m is None:
        raise UsageError(f"You're not in {cohort.name}.")
    if m.is_instructor:
        others = ctx.session.exec(
            select(Membership).where(
                Membership.cohort_id == cohort.id,
                Membership.is_instructor == True,  # noqa: E712
                Membership.removed_at == None,  # noqa: E711
                Membership.person_id != ctx.me.id,
            )
        ).first()
        if others is None:
            raise NotAllowed(
                f"You're the only instructor of {cohort.name}. Add another with "
                f"/dare cohort instructor {cohort.name} @user first, or close it with "
                f"/dare cohort close {cohort.name}."
            )
    m.removed_at, m.removed_how = ctx.now, "left"
    return text_reply(
        f"You've left {cohort.name}: no more nudges from it, and you're off its board. "
        "Everything you logged stays yours (/dare progress)."
    )
