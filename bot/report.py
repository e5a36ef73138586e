"""The instructor's report (the take-up headline against the 5% baseline) and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter

from sqlmodel import col, select

from bot import commands as c
from bot.board import cohort_in_view
from bot.coaching import BASELINE, dare_over
from bot.context import Context
from bot.dates import resolve_date
from bot.errors import UsageError
from bot.privacy import totals_for, totals_outcomes
from bot.registry import command
from bot.replies import Attachment, Field, Reply, Section
from bot.stats import (
    STALL_DAYS,
    attempts_before_reply,
    current_dare,
    dare_window_start,
    participant_stats,
)
from bot.validate import typed
from bot.zones import stored_zone
from storage.models import Person, Story, pk


def _pct(n: int, d: int) -> str:
    return f"{round(100 * n / d)}%" if d else "0%"


def file_stem(name: str) -> str:
    """A cohort name made safe as a file name on every platform (no slashes, dots first, spaces)."""
    stem = re.sub(r"[^a-z0-9_-]+", "-", name.casefold()).strip("-")
    return stem[:60] or "cohort"


@command(
    "report",
    summary="The instructor's take-up report (--compare sets other cohorts you teach beside it).",
    instructor=True,
    writes=False,
    details="The funnel against the 5% baseline, effort and results, stories and rewards, and who needs a word.",
    examples=('/dare report "Spring 2027" --compare "Fall 2026"',),
)
def report(ctx: Context, cmd: c.Report, *, chart: bool = True, brief: bool = False) -> Reply:
    """The instructor's report; `chart=False` skips drawing the picture, `brief` the reads behind who needs
    a word and who left (the App Home shows only the headline)."""
    from bot.insight import cohort_view, removed_members
    from bot.instructor import compare_section, stall_section, stalls_for

    cohort, _m, dare = cohort_in_view(ctx, cmd.name, instructor=True, example="/dare report NAME")
    view = cohort_view(ctx.session, cohort, ctx.now, dare=dare)
    dare, goal, stats, f = view.dare, view.goal, view.stats, view.funnel
    erased = view.erased  # people who asked to be forgotten still count, as anonymous numbers
    headline = f.headline() if f.size else f"No participants yet: share /dare cohort join {typed(cohort.name)}"
    if view.frozen:
        headline = f"Closed on {view.day}: the numbers as they stood then. " + headline
    base = f"baseline {round(BASELINE * 100)}%"
    funnel_fields = (
        Field("Participants", str(f.size)),
        Field("Accepted the dare", f"{_pct(f.accepted, f.size)} ({f.accepted})"),
        Field("Reached out", f"{_pct(f.reached_out, f.size)} ({f.reached_out})"),
        Field("Tried an interview", f"{_pct(f.interviewed, f.size)} ({f.interviewed}) · {base}"),
        Field(f"Goal met ({goal})", f"{_pct(f.goal_met, f.size)} ({f.goal_met})"),
    )
    reached = sum(s.reached for s in stats) + (erased.reached if erased else 0)
    replied = sum(s.replied for s in stats) + (erased.replied if erased else 0)
    abr = attempts_before_reply(stats)
    outcomes: Counter[str] = totals_outcomes(erased)
    for s in stats:
        outcomes.update(s.outcomes)
    effort = (
        Field(
            "Reply rate",
            f"{_pct(replied, reached)} ({replied} of {reached} contacts)" if reached else "nobody reached yet",
        ),
        Field("Attempts before a reply", f"median {abr:g}" if abr is not None else "no replies yet"),
        Field("Follow-ups sent", str(sum(s.follow_ups for s in stats) + (erased.follow_ups if erased else 0))),
        Field("Interviews", str(sum(s.interviews for s in stats) + (erased.interviews if erased else 0))),
        Field("Outcomes", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none yet"),
    )
    stories = ctx.session.exec(
        select(Story, Person)
        .join(Person, col(Person.id) == Story.person_id)
        .where(Story.cohort_id == cohort.id)
        .order_by(col(Story.created_at))
    ).all()
    pending = [p.display_name for st, p in stories if st.reward_granted_at is None] if dare and dare.reward else []
    shared_n = len(stories) + (erased.stories if erased else 0)
    story_text = (
        f"{shared_n} shared; rewards pending for: {', '.join(dict.fromkeys(pending))} (grant with /dare reward @user)."
        if pending
        else f"{shared_n} shared; no rewards pending."
    )
    word, buttons = (
        stall_section(
            stalls_for(ctx, view),
            cohort=cohort,
            stall_days=STALL_DAYS,
            over=dare_over(
                dare.deadline if dare else None,
                cohort.closed_at is not None,
                ctx.now.astimezone(stored_zone(cohort.tz)).date(),
            ),
        )
        if not brief
        else (Section(), ())
    )
    sections = [
        Section(text=headline),
        Section(title="The funnel", fields=funnel_fields),
        Section(title="Effort and results", fields=effort),
        Section(title="Stories", text=story_text),
        *(
            (
                Section(
                    text=f"Includes {erased.participants} {'person' if erased.participants == 1 else 'people'} "
                    "whose data was deleted, counted anonymously."
                ),
            )
            if erased and erased.participants
            else ()
        ),
        word,
    ]
    gone = removed_members(ctx.session, cohort) if not brief else []
    if gone:
        sections.append(
            Section(
                title="No longer counted",
                text="; ".join(
                    f"{p.display_name} ({'removed' if m.removed_how == 'removed' else 'left'} {m.removed_at:%Y-%m-%d})"
                    for p, m in gone
                )
                + ". Their earlier activity stays theirs but leaves the totals above.",
            )
        )
    if cmd.compare:
        sections.append(compare_section(ctx, view, cmd.compare))
    image = None
    if f.size and chart:
        from bot.charts import funnel_alt, funnel_chart

        name, day = cohort.name, view.day  # plain values: the chart is drawn after the transaction

        image = Attachment(
            f"{file_stem(name)}-take-up.png",
            lambda: funnel_chart(name, f, goal=goal, day=day),
            "image/png",
            alt=funnel_alt(name, f, goal, day),
        )
    return Reply(title=f"{cohort.name}: take-up report", sections=tuple(sections), image=image, buttons=buttons)


EXPORT_COLUMNS = (
    "name",
    "user_id",
    "joined",
    "accepted",
    "contacts",
    "can_hire",
    "attempts",
    "follow_ups",
    "contacts_reached",
    "contacts_replied",
    "interviews",
    "decider_interviews",
    "stories",
    "rewards_pending",
    "recruiter_calls",
    "outcomes",
    "points",
    "last_activity",
    "unreachable",
)


@command(
    "export",
    summary="The cohort as CSV, one row a participant.",
    instructor=True,
    writes=False,
    details="Counts are limited to --since/--until when given, else to the current dare.",
    examples=('/dare export "Spring 2027" --since 2027-02-01',),
)
def export(ctx: Context, cmd: c.Export) -> Reply:
    cohort, _m, dare = cohort_in_view(ctx, cmd.name, instructor=True, example="/dare export NAME")
    since = resolve_date(cmd.since, ctx.local_today(), what="--since", field="since") if cmd.since else None
    until = resolve_date(cmd.until, ctx.local_today(), what="--until", field="until") if cmd.until else None
    if since and until and until < since:
        raise UsageError("--until comes before --since.")
    stats = participant_stats(
        ctx.session,
        cohort,
        since=since or dare_window_start(dare, cohort),
        until=until,
        dare=dare,
        as_of=cohort.closed_at,
    )
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(EXPORT_COLUMNS)
    for s in stats:
        w.writerow(
            [
                _csv_safe(s.person.display_name),
                s.person.external_id,
                s.joined_at.date().isoformat(),
                s.accepted_at.date().isoformat() if s.accepted_at else "",
                s.contacts,
                s.deciders,
                s.attempts,
                s.follow_ups,
                s.reached,
                s.replied,
                s.interviews,
                s.decider_interviews,
                s.stories,
                s.rewards_pending,
                s.recruiter_calls,
                ";".join(f"{k}={v}" for k, v in sorted(s.outcomes.items())),
                s.score,
                s.last_activity.isoformat(timespec="minutes") if s.last_activity else "",
                "yes" if s.person.unreachable_at else "",
            ]
        )
    span = f"{since or 'start'}_to_{until or 'today'}"
    gone = (
        totals_for(ctx.session, cohort, current_dare(ctx.session, pk(cohort))) if cohort.has_anonymous_totals else None
    )
    note = (
        f" {gone.participants} more whose data was deleted count only in /dare report's anonymous totals."
        if gone and gone.participants
        else ""
    )
    name = f"{file_stem(cohort.name)}-{span}.csv"
    return Reply(
        title=f"{cohort.name}: export",
        sections=(Section(text=f"{len(stats)} participants, one row each.{note}"),),
        file=Attachment(name, buf.getvalue().encode("utf-8"), "text/csv"),
    )


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; a leading quote keeps them text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
