"""What people read: progress, the board, the instructor's report, the CSV export, questions and help."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, exists
from sqlalchemy import select as sa_select
from sqlmodel import select

from bot import commands as c
from bot.coaching import BASELINE, next_step, open_follow_ups
from bot.context import Context
from bot.dates import resolve_date
from bot.registry import action, command
from bot.errors import UsageError
from bot.questions import BANK
from bot.replies import Attachment, Button, Field, Reply, Section, Table
from bot.scoring import POINTS
from bot.stats import (STALL_DAYS, ParticipantStats, attempts_before_reply, current_dare, dare_window_start, funnel,
                       is_stalled, latest_dare_id, participant_stats, ranked, Member)
from bot.privacy import totals_for, totals_outcomes, visible_stories, with_totals
from bot.validate import name_key
from storage.models import Cohort, Contact, Dare, Interview, Membership, Outreach, Person, Story

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


@command("progress", summary="Your progress and your next step.", writes=False)
def progress(ctx: Context, _cmd: c.Progress) -> Reply:
    sections: list[Section] = []
    rows = ctx.session.exec(
        select(Cohort, Membership, Dare).join(Membership, Membership.cohort_id == Cohort.id)
        .outerjoin(Dare, Dare.id == latest_dare_id(Cohort.id))  # type: ignore[arg-type]
        .where(Membership.person_id == ctx.me.id, Cohort.workspace_id == ctx.ws.id, Cohort.closed_at == None,  # noqa: E711
               Membership.is_participant == True)  # noqa: E712
        .order_by(Membership.joined_at)).all()
    followup_days = 4
    for cohort, _m, dare in rows:
        stats = participant_stats(ctx.session, cohort, since=dare_window_start(dare, cohort), only=ctx.me.id,
                                  dare=dare, detail=False)[0]
        goal = dare.goal if dare else cohort.goal
        followup_days = dare.followup_days if dare else followup_days
        state = "not issued yet" if dare is None else ("accepted" if stats.accepted_at else "not accepted yet")
        sections.append(Section(title=f"{cohort.name}: dare {state}", text=f"[{_bar(stats.interviews, goal)}] "
                                f"{stats.interviews}/{goal} reverse interviews", fields=(
            Field("Contacts", f"{stats.contacts} ({stats.deciders} can hire)"),
            Field("Attempts", f"{stats.attempts} ({stats.follow_ups} follow-ups)"),
            Field("Replies", f"{stats.replied} of {stats.reached} reached"),
            Field("Score", str(stats.score)))))
    # My contacts with their attempts, and whether I interviewed each: one statement.
    interviewed_q = exists().where(Interview.contact_id == Contact.id, Interview.person_id == ctx.me.id)
    contacts: dict[int, _MyContact] = {}
    attempts: list[_MyAttempt] = []
    interviewed: set[int] = set()
    for cid, name, decides, created, attempt_no, status, sent_on, met in ctx.session.execute(
            sa_select(Contact.id, Contact.name, Contact.can_decide, Contact.created_at, Outreach.attempt_no,
                      Outreach.status, Outreach.sent_on, interviewed_q)
            .outerjoin(Outreach, Outreach.contact_id == Contact.id)
            .where(Contact.person_id == ctx.me.id).order_by(Contact.id, Outreach.attempt_no)):
        if cid not in contacts:
            contacts[cid] = _MyContact(cid, name, bool(decides), created)
        if attempt_no is not None:
            attempts.append(_MyAttempt(cid, attempt_no, status, sent_on))
        if met:
            interviewed.add(cid)
    names = {ct.id: ct.name for ct in contacts.values()}
    waiting = open_follow_ups(attempts, interviewed)
    if waiting:
        lines = [f"- {names.get(a.contact_id, '?')}: attempt {a.attempt_no} on {a.sent_on}, no answer yet"
                 for a in waiting[:10]]
        sections.append(Section(title="Open follow-ups", text="\n".join(lines)))
    sections.append(Section(title="Next step", text=next_step(list(contacts.values()), attempts, interviewed,
                                                              today=ctx.today, followup_days=followup_days)))
    if not rows:
        sections.insert(0, Section(text="You're not a participant in any cohort yet: /dare cohort join NAME."))
    return Reply(title="Your progress", sections=tuple(sections))


def _cohort_view(ctx: Context, name: str | None, *, instructor: bool, example: str,
                 ) -> tuple[Cohort, Membership | None, Dare | None]:
    """The cohort a read command names (or the only one), with its current dare, in one statement.

    Membership (or teaching) is checked on the same row; refusals come from ctx.cohort and the
    handlers' own checks, so every message stays the same."""
    q = (select(Cohort, Membership, Dare)
         .outerjoin(Membership, and_(Membership.cohort_id == Cohort.id, Membership.person_id == ctx.me.id))
         .outerjoin(Dare, Dare.id == latest_dare_id(Cohort.id))  # type: ignore[arg-type]
         .where(Cohort.workspace_id == ctx.ws.id))
    if name:
        found = ctx.session.exec(q.where(Cohort.name_key == name_key(name))).first()
        if found is not None and (not instructor or (found[1] is not None and found[1].is_instructor)):
            return found[0], found[1], found[2]
    else:
        mine = [(co, m, d) for co, m, d in ctx.session.exec(
            q.where(Membership.id != None, Cohort.closed_at == None).order_by(Membership.joined_at)).all()  # noqa: E711
            if m is not None and (m.is_instructor if instructor else True)]
        if len(mine) == 1:
            return mine[0]
    cohort = ctx.cohort(name, instructor=instructor, example=example)  # raises the usual refusal
    return cohort, ctx.membership(cohort), current_dare(ctx.session, cohort.id)  # type: ignore[arg-type]


@command("board", summary="The cohort's leaderboard (--post shares it in the channel).", writes=False,
         examples=('/dare board "Spring 2027" --page 2', "/dare board --post"))
def board(ctx: Context, cmd: c.Board) -> Reply:
    cohort, member, dare = _cohort_view(ctx, cmd.name, instructor=False, example="/dare board NAME")
    if member is None:
        raise UsageError(f"The board of {cohort.name} is for its members: /dare cohort join {cohort.name}.")
    stats = participant_stats(ctx.session, cohort, since=dare_window_start(dare, cohort), dare=dare, detail=False)
    goal = dare.goal if dare else cohort.goal
    # A public board shows no "(you)" marker: it is read by everyone.
    viewer = None if cmd.post else ctx.me
    rows: list[tuple[str, ...]] = []
    hidden = 0
    for rank, s in ranked(stats):
        if s.person.board_mode == "hidden" and (viewer is None or s.person.id != viewer.id):
            hidden += 1
            continue
        rows.append((str(rank), display(s.person, viewer=viewer), str(s.score), f"{s.interviews}/{goal}",
                     str(s.attempts), str(s.follow_ups), str(s.stories)))
    pages = max(1, -(-len(rows) // BOARD_ROWS))
    page = 1 if cmd.post else min(cmd.page, pages)
    shown = rows[(page - 1) * BOARD_ROWS: page * BOARD_ROWS]
    sections = [Section(table=Table(("#", "Name", "Points", "Interviews", "Attempts", "Follow-ups", "Stories"),
                                    tuple(shown)))]
    notes = [] if stats else [f"Nobody has joined yet: /dare cohort join {cohort.name}."]
    if pages > 1:
        notes.append(f"Page {page} of {pages} ({len(rows)} people)." if not cmd.post else
                     f"Top {len(shown)} of {len(rows)}.")
        mine = next((r for r in rows if r[1].endswith("(you)")), None)
        if mine is not None and mine not in shown:
            notes.append(f"You are #{mine[0]} with {mine[2]} points.")
    if hidden:
        notes.append(f"{hidden} {'person keeps' if hidden == 1 else 'people keep'} their place private.")
    notes.append(points_summary())
    sections.append(Section(text=" ".join(notes)))
    # Stories were shared with classmates, not with whatever channel a posted board lands in.
    shared = [st for st in visible_stories(ctx.session, cohort, viewer, membership=member)
              if st.consent != "instructor"][:3]
    if shared:
        # The board is the cohort's view, even for an instructor: anonymous stays anonymous.
        lines = [f"\"{_clip(st.text, 180)}\" - {st.author if st.consent == 'cohort' else 'a classmate'}"
                 for st in shared]
        sections.append(Section(title="From the cohort", text="\n".join(lines)))
    buttons: tuple[Button, ...] = ()
    if not cmd.post:
        if page > 1:
            buttons += (Button("Previous page", "board.page", f"{page - 1}:{cohort.name}"),)
        if page < pages:
            buttons += (Button("Next page", "board.page", f"{page + 1}:{cohort.name}"),)
        buttons += (Button("Post to channel", "board.post", cohort.name),)
    return Reply(title=f"{cohort.name} leaderboard", sections=tuple(sections), buttons=buttons,
                 ephemeral=not cmd.post)


def points_summary() -> str:
    p = POINTS
    return (f"Points reward effort: interviews {p['interview']} (+{p['decider_bonus']} when the person can hire), "
            f"follow-ups {p['follow_up']}, first attempts {p['first_attempt']}, stories {p['story']}; "
            "outcomes earn nothing.")


def file_stem(name: str) -> str:
    """A cohort name made safe as a file name on every platform (no slashes, dots first, spaces)."""
    stem = re.sub(r"[^a-z0-9_-]+", "-", name.casefold()).strip("-")
    return stem[:60] or "cohort"


def _clip(text: str, n: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


@command("report", summary="The instructor's take-up report.", instructor=True, writes=False)
def report(ctx: Context, cmd: c.Report, *, chart: bool = True) -> Reply:
    """The instructor's report; `chart=False` skips drawing the picture (the App Home needs only the text)."""
    cohort, _m, dare = _cohort_view(ctx, cmd.name, instructor=True, example="/dare report NAME")
    goal = dare.goal if dare else cohort.goal
    stats = participant_stats(ctx.session, cohort, since=dare_window_start(dare, cohort), dare=dare)
    # People who asked to be forgotten still count, as anonymous numbers.
    gone = totals_for(ctx.session, cohort, dare)
    f = with_totals(funnel(stats, goal), gone)
    headline = f.headline() if f.size else f"No participants yet: share /dare cohort join {cohort.name}"
    base = f"baseline {round(BASELINE * 100)}%"
    funnel_fields = (
        Field("Participants", str(f.size)),
        Field("Accepted the dare", f"{_pct(f.accepted, f.size)} ({f.accepted}) · {base}"),
        Field("Reached out", f"{_pct(f.reached_out, f.size)} ({f.reached_out}) · {base}"),
        Field("At least one interview", f"{_pct(f.interviewed, f.size)} ({f.interviewed}) · {base}"),
        Field(f"Goal met ({goal})", f"{_pct(f.goal_met, f.size)} ({f.goal_met}) · {base}"),
    )
    reached = sum(s.reached for s in stats) + (gone.reached if gone else 0)
    replied = sum(s.replied for s in stats) + (gone.replied if gone else 0)
    abr = attempts_before_reply(stats)
    outcomes: Counter[str] = totals_outcomes(gone)
    for s in stats:
        outcomes.update(s.outcomes)
    effort = (
        Field("Reply rate", f"{_pct(replied, reached)} ({replied} of {reached} contacts)"),
        Field("Attempts before a reply", f"median {abr:g}" if abr is not None else "no replies yet"),
        Field("Follow-ups sent", str(sum(s.follow_ups for s in stats) + (gone.follow_ups if gone else 0))),
        Field("Interviews", str(sum(s.interviews for s in stats) + (gone.interviews if gone else 0))),
        Field("Outcomes", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none yet"),
    )
    stories = ctx.session.exec(select(Story, Person).join(Person, Person.id == Story.person_id)
                               .where(Story.cohort_id == cohort.id).order_by(Story.created_at)).all()
    pending = [p.display_name for st, p in stories if st.reward_granted_at is None] if dare and dare.reward else []
    shared_n = len(stories) + (gone.stories if gone else 0)
    story_text = (f"{shared_n} shared; rewards pending for: {', '.join(dict.fromkeys(pending))} "
                  f"(grant with /dare reward @user)." if pending else f"{shared_n} shared; no rewards pending.")
    stalled = stalled_people(ctx, stats, goal)
    unreachable = [s.person.display_name for s in stats if s.person.unreachable_at is not None]
    sections = [Section(text=headline), Section(title="The funnel", fields=funnel_fields),
                Section(title="Effort and results", fields=effort), Section(title="Stories", text=story_text),
                *((Section(text=f"Includes {gone.participants} {'person' if gone.participants == 1 else 'people'} "
                                "whose data was deleted, counted anonymously."),) if gone and gone.participants else ()),
                Section(title=f"Stalled ({len(stalled)})", text=", ".join(stalled) or "Nobody: everyone short of "
                        f"the goal moved in the last {STALL_DAYS} days.")]
    if unreachable:
        sections.append(Section(title="Can't be reached by DM", text=", ".join(unreachable)))
    image = None
    if f.size and chart:
        from bot.charts import funnel_chart
        image = Attachment(f"{file_stem(cohort.name)}-take-up.png", funnel_chart(cohort.name, f), "image/png")
    return Reply(title=f"{cohort.name}: take-up report", sections=tuple(sections), image=image)


def stalled_people(ctx: Context, stats: list[ParticipantStats], goal: int) -> list[str]:
    out = []
    for s in stats:
        if not is_stalled(s, ctx.now, goal):
            continue
        if s.accepted_at is None:
            out.append(f"{s.person.display_name} (hasn't accepted)")
        else:
            quiet = (ctx.now - (s.last_activity or s.joined_at)).days
            out.append(f"{s.person.display_name} (quiet {quiet} days)")
    return out


EXPORT_COLUMNS = ("name", "user_id", "joined", "accepted", "contacts", "can_hire", "attempts", "follow_ups",
                  "contacts_reached", "contacts_replied", "interviews", "decider_interviews", "stories",
                  "rewards_pending", "recruiter_calls", "outcomes", "points", "last_activity", "unreachable")


@command("export", summary="The cohort as CSV, one row a participant.", instructor=True, writes=False,
         examples=('/dare export "Spring 2027" --since 2027-02-01',))
def export(ctx: Context, cmd: c.Export) -> Reply:
    cohort, _m, dare = _cohort_view(ctx, cmd.name, instructor=True, example="/dare export NAME")
    since = resolve_date(cmd.since, ctx.today, what="--since", field="since") if cmd.since else None
    until = resolve_date(cmd.until, ctx.today, what="--until", field="until") if cmd.until else None
    if since and until and until < since:
        raise UsageError("--until comes before --since.")
    stats = participant_stats(ctx.session, cohort, since=since or dare_window_start(dare, cohort), until=until,
                              dare=dare)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(EXPORT_COLUMNS)
    for s in stats:
        w.writerow([_csv_safe(s.person.display_name), s.person.external_id, s.joined_at.date().isoformat(),
                    s.accepted_at.date().isoformat() if s.accepted_at else "", s.contacts, s.deciders, s.attempts,
                    s.follow_ups, s.reached, s.replied, s.interviews, s.decider_interviews, s.stories,
                    s.rewards_pending, s.recruiter_calls,
                    ";".join(f"{k}={v}" for k, v in sorted(s.outcomes.items())), s.score,
                    s.last_activity.isoformat(timespec="minutes") if s.last_activity else "",
                    "yes" if s.person.unreachable_at else ""])
    span = f"{since or 'start'}_to_{until or 'today'}"
    gone = (totals_for(ctx.session, cohort, current_dare(ctx.session, cohort.id))  # type: ignore[arg-type]
            if cohort.has_anonymous_totals else None)
    note = (f" {gone.participants} more whose data was deleted count only in /dare report's anonymous totals."
            if gone and gone.participants else "")
    name = f"{file_stem(cohort.name)}-{span}.csv"
    return Reply(title=f"{cohort.name}: export", sections=(Section(text=f"{len(stats)} participants, one row each.{note}"),),
                 file=Attachment(name, buf.getvalue().encode("utf-8"), "text/csv"))


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; a leading quote keeps them text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


@command("questions", summary="The must-ask reverse-interview questions.", writes=False)
def questions(_ctx: Context | None, _cmd: c.Questions) -> Reply:
    sections = [Section(title=f"{g.title}: {g.why}", text="\n".join(f"{q.id}  {q.text}" for q in g.questions))
                for g in BANK]
    sections.append(Section(text="Ask three, listen more than you talk, and keep it to 15 minutes. Record which "
                                 "you asked: /dare log \"NAME\" --asked v1,m1"))
    return Reply(title="Must-ask reverse-interview questions", sections=tuple(sections))


@action("questions.show", transaction=False)
def questions_button(ctx: Context | None, _value: str) -> Reply:
    return questions(ctx, c.Questions())


@action("board.page", replaces_message=True)
def board_page(ctx: Context, value: str) -> Reply:
    page, _, name = value.partition(":")
    if not page.isdigit():
        raise UsageError("That button has expired. Try the command instead: /dare board.")
    return board(ctx, c.Board(name or None, page=int(page)))


@action("board.post", posts_publicly=True)
def board_post(ctx: Context, value: str) -> Reply:
    return board(ctx, c.Board(value or None, post=True))
