"""/dare progress: where you stand in each dare and the one step that helps most now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, and_, bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.sql.expression import Select

from bot import commands as c
from bot.coaching import Situation, assess, days_left_text, next_step, open_follow_ups
from bot.context import Context
from bot.registry import command
from bot.replies import Field, Reply, Section
from bot.stats import (
    dare_window_start,
    latest_dare_id,
    participant_stats,
)
from storage.models import Acceptance, Cohort, Contact, Dare, Interview, Membership, Outreach


def _bar(done: int, goal: int, width: int = 10) -> str:
    filled = min(width, round(width * done / goal)) if goal else 0
    return "#" * filled + "." * (width - filled)


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


# progress's two statements, built once per shape with bound parameters (me, ws, cohort): building
# them took about as long as running them on a cohort of 50.
_ME = bindparam("me", type_=Integer())


@lru_cache(maxsize=2)
def _dares_query(one_cohort: bool) -> Select[Cohort, Membership, Dare, Acceptance]:
    """My cohorts (as a participant), each with its current dare and my acceptance of it."""
    query = (
        select(Cohort, Membership, Dare, Acceptance)
        .join(Membership, col(Membership.cohort_id) == col(Cohort.id))
        .outerjoin(Dare, col(Dare.id) == latest_dare_id(col(Cohort.id)))
        .outerjoin(Acceptance, and_(col(Acceptance.dare_id) == col(Dare.id), col(Acceptance.person_id) == _ME))
        .where(
            col(Membership.person_id) == _ME,
            col(Cohort.workspace_id) == bindparam("ws", type_=Integer()),
            col(Cohort.closed_at).is_(None),
            col(Membership.is_participant).is_(True),
            col(Membership.removed_at).is_(None),
        )
        .order_by(col(Membership.joined_at))
    )
    if one_cohort:
        query = query.where(col(Cohort.id) == bindparam("cohort", type_=Integer()))
    return query


@lru_cache(maxsize=1)
def _contacts_query() -> Any:
    """My contacts with their attempts, and the last day I interviewed each: one statement."""
    last_held = (
        sa_select(func.max(col(Interview.held_on)))
        .where(col(Interview.contact_id) == col(Contact.id), col(Interview.person_id) == _ME)
        .scalar_subquery()
    )
    return (
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
        .where(col(Contact.person_id) == _ME)
        .order_by(col(Contact.id), col(Outreach.attempt_no))
    )


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
    params = {"me": ctx.me.id, "ws": ctx.ws.id, "cohort": ctx.cohort_by_name(cmd.name).id if cmd.name else None}
    rows = ctx.session.exec(_dares_query(cmd.name is not None), params=params).all()
    contacts: dict[int, _MyContact] = {}
    attempts: list[_MyAttempt] = []
    held: dict[int, date] = {}
    for cid, name, decides, created, attempt_no, status, sent_on, channel, meeting_on, met in ctx.session.execute(
        _contacts_query(), params
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
                    today=ctx.local_today(),
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
                fields.append(Field("Deadline", days_left_text(dare.deadline, ctx.local_today())))
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
        steps.append(
            next_step(list(contacts.values()), attempts, interviewed, today=ctx.local_today(), followup_days=4)
        )
    sections.append(Section(title="Next step", text="\n".join(dict.fromkeys(steps))))
    if templates:
        sections.append(Section(title="A message you could send", text="> " + templates[0]))
    if not rows:
        sections.insert(0, Section(text="You're not a participant in any cohort yet: /dare cohort join NAME."))
    return Reply(title="Your progress", sections=tuple(sections))
