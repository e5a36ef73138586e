"""What people read: progress, the board, the instructor's report, the CSV export, questions and help."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from bot import commands as c
from bot.coaching import BASELINE, Situation, assess, days_left_text, next_step, open_follow_ups
from bot.context import Context
from bot.dates import resolve_date
from bot.errors import UsageError
from bot.privacy import totals_for, totals_outcomes, visible_stories
from bot.questions import BANK
from bot.registry import action, command
from bot.replies import Attachment, Button, Field, Reply, Section, Table
from bot.scoring import POINTS
from bot.stats import (
    STALL_DAYS,
    Member,
    attempts_before_reply,
    current_dare,
    dare_window_start,
    latest_dare_id,
    participant_stats,
    ranked,
)
from bot.validate import name_key, typed
from bot.zones import stored_zone as safe_zone
from storage.models import Acceptance, Cohort, Contact, Dare, Interview, Membership, Outreach, Person, Story, pk

BOARD_ROWS = 25


def _bar(done: int, goal: int, width: int = 10) -> str:
    filled = min(width, round(width * done / goal)) if goal else 0
    return "#" * filled + "." * (width - filled)


def _pct(n: int, d: int) -> str:
    return f"{round(100 * n / d)}%" if d else "0%"


def display(person: Member, *, viewer: Person | None = None) -> str:
    if viewer is not None and viewer.id == person.id:
        return f"{person.display_name} (you)"
    return person.alias if person.board_mode == "alias" else person.display_name


@dataclass(frozen=True)
class _MyContact:
    id: int | None
    name: str
    can_decide: bool
    created_at: datetime


@dataclass(frozen=True)
class _MyAttempt:
    contact_id: int
    attempt_no: int
    status: str
    sent_on: date
    channel: str
    meeting_on: date | None


@command(
    "progress",
    summary="Your progress and your next step; instructors may name a participant.",
    writes=False,
    details="Shows where you stand in each dare (not accepted, waiting on a reply, meeting booked, goal met...) "
    "and the one step that helps most now, with a message you can copy when the step is to write one.",
    examples=("/dare progress", '/dare progress @ada "Spring 2027"'),
)
def progress(ctx: Context, cmd: c.Progress) -> Reply:
    if cmd.user is not None and cmd.user.user_id != ctx.me.external_id:
        from bot.instructor import other_progress

        return other_progress(ctx, cmd)
    sections: list[Section] = []
    query = (
        select(Cohort, Membership, Dare, Acceptance)
        .join(Membership, col(Membership.cohort_id) == col(Cohort.id))
        .outerjoin(Dare, col(Dare.id) == latest_dare_id(col(Cohort.id)))
        .outerjoin(Acceptance, and_(col(Acceptance.dare_id) == col(Dare.id), col(Acceptance.person_id) == ctx.me.id))
        .where(
            col(Membership.person_id) == ctx.me.id,
            col(Cohort.workspace_id) == ctx.ws.id,
            col(Cohort.closed_at).is_(None),
            col(Membership.is_participant).is_(True),
            col(Membership.removed_at).is_(None),
        )
        .order_by(col(Membership.joined_at))
    )
    if cmd.name:
        query = query.where(col(Cohort.id) == ctx.cohort_by_name(cmd.name).id)
    rows = ctx.session.exec(query).all()
    # My contacts with their attempts, and the last day I interviewed each: one statement.
    last_held = (
        sa_select(func.max(col(Interview.held_on)))
        .where(col(Interview.contact_id) == col(Contact.id), col(Interview.person_id) == ctx.me.id)
        .scalar_subquery()
    )
    contacts: dict[int, _MyContact] = {}
    attempts: list[_MyAttempt] = []
    held: dict[int, date] = {}
    for cid, name, decides, created, attempt_no, status, sent_on, channel, meeting_on, met in ctx.session.execute(
        sa_select(
            col(Contact.id),
            col(Contact.name),
            col(Contact.can_decide),
            col(Contact.created_at),
            col(Outreach.attempt_no),
            col(Outreach.status),
            col(Outreach.sent_on),
            col(Outreach.channel),
            col(Outreach.meeting_on),
            last_held,
        )
        .outerjoin(Outreach, col(Outreach.contact_id) == col(Contact.id))
        .where(col(Contact.person_id) == ctx.me.id)
        .order_by(col(Contact.id), col(Outreach.attempt_no))
    ):
        if cid not in contacts:
            contacts[cid] = _MyContact(cid, name, bool(decides), created)
        if attempt_no is not None:
            attempts.append(_MyAttempt(cid, attempt_no, status, sent_on, channel, meeting_on))
        if met is not None:
            held[cid] = met
    interviewed = set(held)
    steps: list[str] = []
    templates: list[str] = []
    for cohort, _m, dare, acc in rows:
        stats = participant_stats(
            ctx.session, cohort, since=dare_window_start(dare, cohort), only=ctx.me.id, dare=dare, detail=False
        )[0]
        goal = max(dare.goal, (acc.goal if acc else None) or 0) if dare else cohort.goal
        fields = [
            Field("Contacts", f"{stats.contacts} ({stats.deciders} can hire)"),
            Field("Attempts", f"{stats.attempts} ({stats.follow_ups} follow-ups)"),
            Field("Replies", f"{stats.replied} of {stats.reached} reached" if stats.reached else "nobody reached yet"),
            Field("Score", str(stats.score)),
        ]
        if dare is None:
            state = "not issued yet"
        else:
            a = assess(
                Situation(
                    today=ctx.today,
                    accepted=acc is not None,
                    goal=goal,
                    done=stats.interviews,
                    contacts=list(contacts.values()),
                    attempts=attempts,
                    interviews=list(held.items()),
                    deadline=dare.deadline,
                    closed=cohort.closed_at is not None,
                    followup_days=dare.followup_days,
                    cohort_name=cohort.name,
                    stories=stats.stories,
                    reward=dare.reward,
                    open_goal=acc is not None,
                )
            )
            state = a.stage.value
            if dare.deadline:
                fields.append(Field("Deadline", days_left_text(dare.deadline, ctx.today)))
            steps.append(a.step if len(rows) == 1 else f"{cohort.name}: {a.step}")
            if a.template:
                templates.append(a.template)
        sections.append(
            Section(
                title=f"{cohort.name}: {state}",
                text=f"[{_bar(stats.interviews, goal)}] {stats.interviews}/{goal} reverse interviews",
                fields=tuple(fields),
            )
        )
    names = {ct.id: ct.name for ct in contacts.values()}
    waiting = open_follow_ups(attempts, interviewed)
    if waiting:
        lines = [
            f"- {names.get(a.contact_id, '?')}: attempt {a.attempt_no} on {a.sent_on}, no answer yet"
            for a in waiting[:10]
        ]
        sections.append(Section(title="Open follow-ups", text="\n".join(lines)))
    if not steps:
        steps.append(next_step(list(contacts.values()), attempts, interviewed, today=ctx.today, followup_days=4))
    sections.append(Section(title="Next step", text="\n".join(dict.fromkeys(steps))))
    if templates:
        sections.append(Section(title="A message you could send", text="> " + templates[0]))
    if not rows:
        sections.insert(0, Section(text="You're not a participant in any cohort yet: /dare cohort join NAME."))
    return Reply(title="Your progress", sections=tuple(sections))


def _cohort_view(
    ctx: Context,
    name: str | None,
    *,
    instructor: bool,
    example: str,
) -> tuple[Cohort, Membership | None, Dare | None]:
    """The cohort a read command names (or the only one), with its current dare, in one statement.

    Membership (or teaching) is checked on the same row; refusals come from ctx.cohort and the
    handlers' own checks, so every message stays the same."""
    q = (
        select(Cohort, Membership, Dare)
        .outerjoin(
            Membership,
            and_(
                col(Membership.cohort_id) == col(Cohort.id),
                col(Membership.person_id) == ctx.me.id,
                col(Membership.removed_at).is_(None),
            ),
        )  # noqa: E711
        .outerjoin(Dare, col(Dare.id) == latest_dare_id(col(Cohort.id)))
        .where(Cohort.workspace_id == ctx.ws.id)
    )
    if name:
        found = ctx.session.exec(q.where(Cohort.name_key == name_key(name))).first()
        if found is not None and (not instructor or (found[1] is not None and found[1].is_instructor)):
            return found[0], found[1], found[2]
    else:
        mine = [
            (co, m, d)
            for co, m, d in ctx.session.exec(
                q.where(col(Membership.id).is_not(None), col(Cohort.closed_at).is_(None))
                .order_by(col(Membership.joined_at))
            ).all()
            if m is not None and (m.is_instructor if instructor else True)
        ]
        if len(mine) == 1:
            return mine[0]
    # Closed cohorts stay readable: named, or when no open one fits.
    cohort = ctx.cohort(name, instructor=instructor, example=example, include_closed=True)  # or the usual refusal
    return cohort, ctx.membership(cohort), current_dare(ctx.session, pk(cohort))


BOARD_TOP = 10
SHOWN_AS = {"named": "by name", "alias": "alias", "hidden": "hidden"}


def board_window(ctx: Context, cohort: Cohort, dare: Dare | None, period: str | None) -> tuple[date | None, str]:
    """From which day the board counts, and how to say it: the last 7 or 30 days, or the whole dare."""
    since = dare_window_start(dare, cohort)
    if period in ("week", "month"):
        days = 7 if period == "week" else 30
        day = (cohort.closed_at or ctx.now).astimezone(safe_zone(cohort.tz)).date()
        start = day - timedelta(days=days - 1)
        if since is not None and start < since:
            start = since
        return start, f"the last {days} days"
    return since, "the whole dare"


@command(
    "board",
    summary="The cohort's leaderboard (--post shares it in the channel).",
    writes=False,
    details="--period counts the last week, month or the whole dare. With --post, --show chooses what the "
    "channel sees: everyone, the top 10, or ranks only. Each person's board setting is always honoured.",
    examples=('/dare board "Spring 2027" --period week', "/dare board --post --show top"),
)
def board(ctx: Context, cmd: c.Board) -> Reply:
    cohort, mine, dare = _cohort_view(ctx, cmd.name, instructor=False, example="/dare board NAME")
    if mine is None:
        raise UsageError(f"The board of {cohort.name} is for its members: /dare cohort join {typed(cohort.name)}.")
    since, span = board_window(ctx, cohort, dare, cmd.period)
    stats = participant_stats(ctx.session, cohort, since=since, dare=dare, detail=False, as_of=cohort.closed_at)
    goal = dare.goal if dare else cohort.goal
    # A public board shows no "(you)" marker: it is read by everyone.
    viewer = None if cmd.post else ctx.me
    # The instructor's private board lists everyone by name, marked with their setting: the report names them anyway.
    teacher = not cmd.post and mine.is_instructor
    show = cmd.show or "all"
    rows: list[tuple[str, ...]] = []
    hidden = 0
    for rank, st in ranked(stats):
        p = st.person
        if teacher:
            rows.append(
                (
                    str(rank),
                    p.display_name,
                    SHOWN_AS.get(p.board_mode, p.board_mode),
                    str(st.score),
                    f"{st.interviews}/{goal}",
                    str(st.attempts),
                    str(st.follow_ups),
                    str(st.stories),
                )
            )
            continue
        if p.board_mode == "hidden" and (viewer is None or p.id != viewer.id):
            hidden += 1
            continue
        name = display(p, viewer=viewer)
        if cmd.post and show == "ranks":
            rows.append((str(rank), name))
        else:
            rows.append(
                (
                    str(rank),
                    name,
                    str(st.score),
                    f"{st.interviews}/{goal}",
                    str(st.attempts),
                    str(st.follow_ups),
                    str(st.stories),
                )
            )
    if cmd.post and show == "top":
        rows = [r for r in rows if int(r[0]) <= BOARD_TOP]
    headers: tuple[str, ...] = ("#", "Name", "Points", "Interviews", "Attempts", "Follow-ups", "Stories")
    if teacher:
        headers = ("#", "Name", "Shown as", *headers[2:])
    elif cmd.post and show == "ranks":
        headers = ("#", "Name")
    pages = max(1, -(-len(rows) // BOARD_ROWS))
    page = 1 if cmd.post else min(cmd.page, pages)
    shown = rows if cmd.post and show != "all" else rows[(page - 1) * BOARD_ROWS : page * BOARD_ROWS]
    sections = [Section(table=Table(headers, tuple(shown)))]
    notes = [] if stats else [f"Nobody has joined yet: /dare cohort join {typed(cohort.name)}."]
    notes.append(
        f"Counting {span}"
        + (f", as it stood when the cohort closed on {cohort.closed_at:%Y-%m-%d}." if cohort.closed_at else ".")
    )
    if pages > 1 and not (cmd.post and show != "all"):
        notes.append(
            f"Page {page} of {pages} ({len(rows)} people)." if not cmd.post else f"Top {len(shown)} of {len(rows)}."
        )
        me_row = next((r for r in rows if r[1].endswith("(you)")), None)
        if me_row is not None and me_row not in shown:
            notes.append(f"You are #{me_row[0]} with {me_row[2]} points.")
    if cmd.post and show == "top" and len(stats) > len(rows):
        notes.append(f"The top {BOARD_TOP} of {len(stats)}.")
    if hidden:
        notes.append(f"{hidden} {'person keeps' if hidden == 1 else 'people keep'} their place private.")
    if teacher:
        notes.append("Only you see names this way; participants see each person as their setting says.")
    if not (cmd.post and show == "ranks"):
        notes.append(points_summary())
    sections.append(Section(text=" ".join(notes)))
    # Stories were shared with classmates, not with whatever channel a posted board lands in.
    shared = [st for st in visible_stories(ctx.session, cohort, viewer, membership=mine) if st.consent != "instructor"][
        :3
    ]
    if shared:
        # The board is the cohort's view, even for an instructor: anonymous stays anonymous.
        lines = [f'"{_clip(st.text, 180)}" - {st.author if st.consent == "cohort" else "a classmate"}' for st in shared]
        sections.append(Section(title="From the cohort", text="\n".join(lines)))
    buttons: tuple[Button, ...] = ()
    if not cmd.post:
        period = cmd.period or "dare"
        if page > 1:
            buttons += (Button("Previous page", "board.page", f"{page - 1}:{period}:{cohort.name}"),)
        if page < pages:
            buttons += (Button("Next page", "board.page", f"{page + 1}:{period}:{cohort.name}"),)
        buttons += (Button("Post to channel", "board.post", cohort.name),)
    when = {"week": " (last 7 days)", "month": " (last 30 days)"}.get(cmd.period or "", "")
    return Reply(
        title=f"{cohort.name} leaderboard{when}", sections=tuple(sections), buttons=buttons, ephemeral=not cmd.post
    )


def points_summary() -> str:
    p = POINTS
    return (
        f"Points reward effort: interviews {p['interview']} (+{p['decider_bonus']} when the person can hire), "
        f"follow-ups {p['follow_up']}, first attempts {p['first_attempt']}, stories {p['story']}; "
        "outcomes earn nothing."
    )


def file_stem(name: str) -> str:
    """A cohort name made safe as a file name on every platform (no slashes, dots first, spaces)."""
    stem = re.sub(r"[^a-z0-9_-]+", "-", name.casefold()).strip("-")
    return stem[:60] or "cohort"


def _clip(text: str, n: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


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

    cohort, _m, dare = _cohort_view(ctx, cmd.name, instructor=True, example="/dare report NAME")
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
        stall_section(stalls_for(ctx, view), cohort=cohort, stall_days=STALL_DAYS) if not brief else (Section(), ())
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

        image = Attachment(
            f"{file_stem(cohort.name)}-take-up.png",
            funnel_chart(cohort.name, f, goal=goal, day=view.day),
            "image/png",
            alt=funnel_alt(cohort.name, f, goal, view.day),
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
    cohort, _m, dare = _cohort_view(ctx, cmd.name, instructor=True, example="/dare export NAME")
    since = resolve_date(cmd.since, ctx.today, what="--since", field="since") if cmd.since else None
    until = resolve_date(cmd.until, ctx.today, what="--until", field="until") if cmd.until else None
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


@command(
    "questions",
    summary="The must-ask reverse-interview questions.",
    writes=False,
    details="Each question has a short id (v1, p2, m3...) to record with /dare log --asked.",
    examples=("/dare questions",),
)
def questions(_ctx: Context | None, _cmd: c.Questions) -> Reply:
    sections = [
        Section(title=f"{g.title}: {g.why}", text="\n".join(f"{q.id}  {q.text}" for q in g.questions)) for g in BANK
    ]
    sections.append(
        Section(
            text="Ask three, listen more than you talk, and keep it to 15 minutes. Record which "
            'you asked: /dare log "NAME" --asked v1,m1'
        )
    )
    return Reply(title="Must-ask reverse-interview questions", sections=tuple(sections))


@action("questions.show", transaction=False)
def questions_button(ctx: Context | None, _value: str) -> Reply:
    return questions(ctx, c.Questions())


@action("board.page", replaces_message=True)
def board_page(ctx: Context, value: str) -> Reply:
    page, _, rest = value.partition(":")
    if not page.isdigit():
        raise UsageError("That button has expired. Try the command instead: /dare board.")
    period, sep, name = rest.partition(":")
    if not sep or period not in c.PERIODS:  # a button from before periods: "page:name"
        period, name = "dare", rest
    return board(ctx, c.Board(name or None, page=int(page), period=period))


@action("board.post", posts_publicly=True)
def board_post(ctx: Context, value: str) -> Reply:
    return board(ctx, c.Board(value or None, post=True))
