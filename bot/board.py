"""/dare board: the cohort's leaderboard, its pages and posting it; and the cohort a read command names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from sqlalchemy import Integer, String, and_, bindparam
from sqlmodel import col, select
from sqlmodel.sql.expression import Select

from bot import commands as c
from bot.collector import collector_paused
from bot.context import Context
from bot.errors import UsageError
from bot.privacy import visible_stories
from bot.registry import action, command
from bot.replies import Button, Reply, Section, Table
from bot.scoring import POINTS
from bot.stats import (
    Member,
    Standing,
    board_stats,
    current_dare,
    dare_window_start,
    latest_dare_id,
    ranked,
)
from bot.validate import name_key, typed
from bot.zones import stored_zone as safe_zone
from storage.models import Cohort, Dare, Membership, Person, pk

BOARD_ROWS = 25


def display(person: Member, *, viewer: Person | None = None) -> str:
    if viewer is not None and viewer.id == person.id:
        return f"{person.display_name} (you)"
    return person.alias if person.board_mode == "alias" else person.display_name


@lru_cache(maxsize=2)
def _in_view_query(named: bool) -> Select[Cohort, Membership | None, Dare | None]:
    """cohort_in_view's statement, built once per shape with bound parameters (me, ws, name_key)."""
    q = (
        select(Cohort, Membership, Dare)
        .outerjoin(
            Membership,
            and_(
                col(Membership.cohort_id) == col(Cohort.id),
                col(Membership.person_id) == bindparam("me", type_=Integer()),
                col(Membership.removed_at).is_(None),
            ),
        )
        .outerjoin(Dare, col(Dare.id) == latest_dare_id(col(Cohort.id)))
        .where(Cohort.workspace_id == bindparam("ws", type_=Integer()))
    )
    if named:
        return q.where(Cohort.name_key == bindparam("name_key", type_=String()))
    return q.where(col(Membership.id).is_not(None), col(Cohort.closed_at).is_(None)).order_by(col(Membership.joined_at))


def cohort_in_view(
    ctx: Context,
    name: str | None,
    *,
    instructor: bool,
    example: str,
) -> tuple[Cohort, Membership | None, Dare | None]:
    """The cohort a read command names (or the only one), with its current dare, in one statement.

    Membership (or teaching) is checked on the same row; refusals come from ctx.cohort and the
    handlers' own checks, so every message stays the same."""
    params = {"me": ctx.me.id, "ws": ctx.ws.id, "name_key": name_key(name) if name else None}
    if name:
        found = ctx.session.exec(_in_view_query(True), params=params).first()
        if found is not None and (not instructor or (found[1] is not None and found[1].is_instructor)):
            return found[0], found[1], found[2]
    else:
        mine = [
            (co, m, d)
            for co, m, d in ctx.session.exec(_in_view_query(False), params=params).all()
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
    cohort, mine, dare = cohort_in_view(ctx, cmd.name, instructor=False, example="/dare board NAME")
    if mine is None:
        raise UsageError(f"The board of {cohort.name} is for its members: /dare cohort join {typed(cohort.name)}.")
    since, span = board_window(ctx, cohort, dare, cmd.period)
    goal = dare.goal if dare else cohort.goal
    # A public board shows no "(you)" marker: it is read by everyone.
    viewer = None if cmd.post else ctx.me
    # The instructor's private board lists everyone by name, marked with their setting: the report names them anyway.
    teacher = not cmd.post and mine.is_instructor
    show = cmd.show or "all"
    with collector_paused():
        places = _places(ctx, cohort, cmd, since=since, goal=goal, viewer=viewer, teacher=teacher)
    headers: tuple[str, ...] = ("#", "Name", "Points", "Interviews", "Attempts", "Follow-ups", "Stories")
    if teacher:
        headers = ("#", "Name", "Shown as", *headers[2:])
    elif cmd.post and show == "ranks":
        headers = ("#", "Name")
    pages, page, shown = places.pages, places.page, places.rows
    sections = [Section(table=Table(headers, shown))]
    notes = [] if places.everyone else [f"Nobody has joined yet: /dare cohort join {typed(cohort.name)}."]
    notes.append(
        f"Counting {span}"
        + (f", as it stood when the cohort closed on {cohort.closed_at:%Y-%m-%d}." if cohort.closed_at else ".")
    )
    if pages > 1 and not (cmd.post and show != "all"):
        notes.append(
            f"Page {page} of {pages} ({places.listed} people)."
            if not cmd.post
            else f"Top {len(shown)} of {places.listed}."
        )
        if places.me is not None:
            notes.append(f"You are #{places.me[0]} with {places.me[1]} points.")
    if cmd.post and show == "top" and places.everyone > places.listed:
        notes.append(f"The top {BOARD_TOP} of {places.everyone}.")
    if places.hidden:
        hidden = places.hidden
        notes.append(f"{hidden} {'person keeps' if hidden == 1 else 'people keep'} their place private.")
    if teacher:
        notes.append("Only you see names this way; participants see each person as their setting says.")
    if not (cmd.post and show == "ranks"):
        notes.append(points_summary())
    sections.append(Section(text=" ".join(notes)))
    # Stories were shared with classmates, not with whatever channel a posted board lands in.
    shared = visible_stories(ctx.session, cohort, viewer, membership=mine, shared_only=True, limit=3)
    if shared:
        # The board is the cohort's view, even for an instructor: anonymous stays anonymous.
        lines = [f'"{clip(st.text, 180)}" - {st.author if st.consent == "cohort" else "a classmate"}' for st in shared]
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


@dataclass(frozen=True)
class _Places:
    """What the board shows of the ranking: the rows of its page, and the counts its notes quote."""

    rows: tuple[tuple[str, ...], ...]
    everyone: int  # participants, hidden ones too
    listed: int  # of them, those the reader sees listed, on every page
    hidden: int
    pages: int
    page: int
    me: tuple[int, int] | None  # the viewer's rank and points, when their row is on another page


def _places(
    ctx: Context, cohort: Cohort, cmd: c.Board, *, since: date | None, goal: int, viewer: Person | None, teacher: bool
) -> _Places:
    """Rank every participant; format only the rows shown (a 5,000-person board shows 25)."""
    stats = board_stats(ctx.session, cohort, since=since, as_of=cohort.closed_at)
    show = cmd.show or "all"
    listed: list[tuple[int, Standing]] = []
    hidden = 0
    for rank, st in ranked(stats):
        if not teacher and st.person.board_mode == "hidden" and (viewer is None or st.person.id != viewer.id):
            hidden += 1
        else:
            listed.append((rank, st))
    if cmd.post and show == "top":
        listed = [(rank, st) for rank, st in listed if rank <= BOARD_TOP]
    pages = max(1, -(-len(listed) // BOARD_ROWS))
    page = 1 if cmd.post else min(cmd.page, pages)
    on_page = listed if cmd.post and show != "all" else listed[(page - 1) * BOARD_ROWS : page * BOARD_ROWS]
    # The viewer's own place, for a note when it is on another page (the instructor's view marks nobody "you").
    mine = None if viewer is None or teacher else next((e for e in listed if e[1].person.id == viewer.id), None)
    return _Places(
        rows=tuple(
            _row(rank, st, goal, viewer=viewer, teacher=teacher, ranks_only=cmd.post and show == "ranks")
            for rank, st in on_page
        ),
        everyone=len(stats),
        listed=len(listed),
        hidden=hidden,
        pages=pages,
        page=page,
        me=(mine[0], mine[1].score) if mine is not None and mine not in on_page else None,
    )


def _row(
    rank: int, st: Standing, goal: int, *, viewer: Person | None, teacher: bool, ranks_only: bool
) -> tuple[str, ...]:
    """One line of the board, as the reader may see it."""
    p = st.person
    counts = (str(st.score), f"{st.interviews}/{goal}", str(st.attempts), str(st.follow_ups), str(st.stories))
    if teacher:
        return (str(rank), p.display_name, SHOWN_AS.get(p.board_mode, p.board_mode), *counts)
    name = display(p, viewer=viewer)
    return (str(rank), name) if ranks_only else (str(rank), name, *counts)


def points_summary() -> str:
    p = POINTS
    return (
        f"Points reward effort: interviews {p['interview']} (+{p['decider_bonus']} when the person can hire), "
        f"follow-ups {p['follow_up']}, first attempts {p['first_attempt']}, stories {p['story']}; "
        "outcomes earn nothing."
    )


def clip(text: str, n: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


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
