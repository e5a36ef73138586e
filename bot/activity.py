"""What participants report: contacts, outreach attempts, replies, interviews, stories, recruiter calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import Date, Integer, Update, and_, bindparam
from sqlalchemy import Select as SaSelect
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import col, select

from bot import commands as c
from bot.coaching import (
    DECIDER_TIP,
    DECLINED_TIP,
    MOVE_ON_TIP,
    NO_IS_NOT_FOREVER,
    PERSISTENCE_ATTEMPTS,
    PERSISTENCE_TIP,
    RECRUITER_BETTER_NO,
    RECRUITER_SELLS,
    RECRUITER_STEPS,
    RECRUITER_YES,
    day_word,
    recruiter_steps_done,
)
from bot.context import Context
from bot.dates import not_future, resolve_date
from bot.errors import UsageError
from bot.questions import check_ids, suggest
from bot.registry import command, form_action
from bot.replies import Field, Reply, Section, text_reply
from bot.stats import latest_dare_id, window_start
from bot.validate import name_key
from storage.models import (
    Acceptance,
    Cohort,
    Contact,
    Dare,
    Interview,
    Membership,
    Outcome,
    Outreach,
    Person,
    RecruiterCall,
    Story,
    pk,
)

CONSENT_LABEL = {
    "cohort": "shared with the cohort, with your name",
    "anonymous": "shared with the cohort anonymously",
    "instructor": "for your instructor only",
}


@command(
    "contact",
    summary="Add someone you want to reverse-interview.",
    form="contact",
    details=(
        "Kinds: future-self (where you want to be in a few years), decision-maker (can hire; implies "
        "--decides), business (someone ahead of you in business), recruiter. The kind shapes the "
        "questions suggested before your talk. --forget deletes the contact and its history."
    ),
    examples=(
        '/dare contact "Ada Lovelace" --title "Head of Engineering" --org Analytical --kind decision-maker --decides',
        '/dare contact "Ada Lovelace" --forget',
    ),
)
def add_contact(ctx: Context, cmd: c.AddContact) -> Reply:
    if cmd.forget:
        from bot.privacy import forget_contact

        return forget_contact(ctx, cmd.name)
    key = name_key(cmd.name)
    if ctx.session.exec(select(Contact).where(Contact.person_id == ctx.me.id, Contact.name_key == key)).first():
        raise UsageError(
            f"You already have a contact called '{cmd.name}'. Log an attempt with /dare outreach \"{cmd.name}\".",
            field="name",
        )
    kind = cmd.kind or "future-self"
    decides = cmd.decides or kind == "decision-maker"
    ctx.session.add(
        Contact(
            workspace_id=pk(ctx.ws),
            person_id=pk(ctx.me),
            name=cmd.name,
            name_key=key,
            title=cmd.title,
            org=cmd.org,
            kind=kind,
            can_decide=decides,
            created_at=ctx.now,
        )
    )
    where = ", ".join(x for x in (cmd.title, cmd.org) if x)
    text = (
        f"Added {cmd.name}{' (' + where + ')' if where else ''}. Reach out, then record it with "
        f'/dare outreach "{cmd.name}" --via email.'
    )
    if not decides:
        text += "\n" + DECIDER_TIP
    return text_reply(text, title="Contact added")


@command(
    "outreach",
    summary="Record one attempt to reach a contact.",
    form="outreach",
    details="Attempts are numbered; a follow-up counts from the day after the last one.",
    examples=('/dare outreach "Ada Lovelace" --via linkedin --on yesterday',),
)
def outreach(ctx: Context, cmd: c.RecordOutreach) -> Reply:
    contact = ctx.contact(cmd.contact)
    day = not_future(
        resolve_date(cmd.on, ctx.local_today(), what="--on", field="on") if cmd.on else ctx.local_today(),
        ctx.local_today(),
        what="An attempt",
        field="on",
    )
    previous = list(
        ctx.session.exec(select(Outreach).where(Outreach.contact_id == contact.id).order_by(col(Outreach.attempt_no)))
    )
    if previous and day < previous[-1].sent_on:
        raise UsageError(
            f"Your last attempt to {contact.name} was on {previous[-1].sent_on}; a new one can't be dated before it.",
            field="on",
        )
    if previous and day == previous[-1].sent_on:
        # A follow-up gives them time to answer; two messages in a day is one attempt (or a double submit).
        raise UsageError(
            f"You already recorded an attempt to {contact.name} on {day}. "
            "Give them a few days; a follow-up counts from the next day.",
            field="on",
        )
    n = len(previous) + 1
    ctx.session.add(
        Outreach(
            contact_id=pk(contact),
            person_id=pk(ctx.me),
            attempt_no=n,
            channel=cmd.via or "email",
            sent_on=day,
            created_at=ctx.now,
        )
    )
    answered = any(o.status != "no-reply" for o in previous)
    if answered:
        tip = "They answered before, so this one is about keeping in touch. Nice."
    elif n == 1:
        tip = PERSISTENCE_TIP
    elif n < PERSISTENCE_ATTEMPTS:
        tip = "Follow-up recorded: this is the step most people skip."
    elif n == PERSISTENCE_ATTEMPTS:
        tip = "Third try recorded. Many people only answer now. If this one stays silent, line up someone new."
    else:
        tip = MOVE_ON_TIP
    before = _before_dare(_running_dares(ctx), day)
    if before:
        tip += "\n" + before
    ordinal = {1: "First", 2: "Second", 3: "Third"}.get(n, f"Attempt {n}:")
    head = (
        f"{ordinal} attempt to {contact.name} ({cmd.via or 'email'}, {day})"
        if n <= 3
        else f"{ordinal} {contact.name} ({cmd.via or 'email'}, {day})"
    )
    return text_reply(f"{head} recorded.\n{tip}", title="Outreach recorded")


@dataclass(frozen=True)
class _Running:
    cohort: str  # its name
    start: date
    goal: int  # the dare's, or the participant's own when higher


@lru_cache(maxsize=1)
def _running_query() -> SaSelect[str, str, datetime, int, int | None]:
    """Columns, not objects: the ORM's loading of three objects a row was most of this statement's time."""
    person = bindparam("person", type_=Integer())
    return (
        sa_select(col(Cohort.name), col(Cohort.tz), col(Dare.starts_at), col(Dare.goal), col(Acceptance.goal))
        .join(Membership, col(Membership.cohort_id) == col(Cohort.id))
        .join(Dare, col(Dare.id) == latest_dare_id(col(Cohort.id)))
        .outerjoin(Acceptance, and_(col(Acceptance.dare_id) == col(Dare.id), col(Acceptance.person_id) == person))
        .where(
            col(Membership.person_id) == person,
            col(Cohort.workspace_id) == bindparam("workspace", type_=Integer()),
            col(Cohort.closed_at).is_(None),
            col(Membership.is_participant).is_(True),
        )
        .order_by(col(Membership.joined_at))
    )


def _running_dares(ctx: Context) -> list[_Running]:
    """The dares of the cohorts I take part in, with my own goal: one statement."""
    rows = ctx.sql(_running_query(), person=ctx.me_id, workspace=ctx.ws_id)
    return [_Running(name, window_start(starts_at, tz), max(goal, own or 0)) for name, tz, starts_at, goal, own in rows]


def _before_dare(running: list[_Running], day: date) -> str:
    """A note when a date falls before every running dare the person is in: it is kept, but doesn't count."""
    if running and all(day < r.start for r in running):
        first = min(running, key=lambda r: r.start)
        return (
            f"Note: that's before {first.cohort}'s dare started ({first.start}), so it's on your record but "
            "doesn't count toward the dare."
        )
    return ""


def _goal_reached(running: list[_Running], held: list[date], day: date) -> _Running | None:
    """The running dare whose goal this interview meets, if any."""
    for r in running:
        if day >= r.start and sum(1 for d in held if d >= r.start) == r.goal:
            return r
    return None


def _cheer(r: _Running) -> str:
    return (
        f"That's {r.goal} of {r.goal}: you met your goal for {r.cohort}. Congratulations! Most "
        "people never try one reverse interview, and you did all of them. What's left is the good part: "
        "thank them, tell them later what you did with their advice, and share your story."
    )


def _public_cheer(me: Person, r: _Running) -> Reply | None:
    """The cohort's cheer, under the name the person shows on the board; none when they keep off it."""
    if me.board_mode == "hidden":
        return None
    name = me.alias if me.board_mode == "alias" else me.display_name
    return text_reply(
        f"{name} just met the goal of {r.goal} reverse interview{'s' if r.goal != 1 else ''} in {r.cohort}. "
        "Most people never try one. Who's next?",
        title="Goal met",
        ephemeral=False,
    )


@command(
    "reply",
    summary="Record that a contact answered.",
    details=(
        "Without options: they answered, no date yet. --meeting takes a day from today on (a talk that "
        "already happened is logged with /dare log); you get a prep DM the day before."
    ),
    examples=('/dare reply "Ada Lovelace" --meeting tomorrow', '/dare reply "Ada Lovelace" --declined'),
)
def reply_received(ctx: Context, cmd: c.ReplyReceived) -> Reply:
    contact = ctx.contact(cmd.contact)
    last = ctx.session.exec(
        select(Outreach).where(Outreach.contact_id == contact.id).order_by(col(Outreach.attempt_no).desc())
    ).first()
    if last is None:
        raise UsageError(
            f'You haven\'t recorded reaching out to {contact.name} yet: /dare outreach "{contact.name}" first.'
        )
    meeting = resolve_date(cmd.meeting, ctx.local_today(), what="--meeting", field="meeting") if cmd.meeting else None
    if meeting is not None and meeting < ctx.local_today():
        raise UsageError(
            f"{meeting} has passed: --meeting is for a talk still ahead. If it happened, log it: "
            f'/dare log "{contact.name}" --on {meeting}.',
            field="meeting",
        )
    if meeting is not None and meeting < last.sent_on:
        raise UsageError(f"The meeting can't be before your attempt on {last.sent_on}.", field="meeting")
    last.status = "declined" if cmd.declined else ("meeting" if meeting else "replied")
    last.replied_on = ctx.local_today()
    last.meeting_on = meeting
    if cmd.declined:
        return text_reply(f"{contact.name} said no. {DECLINED_TIP}", title="Reply recorded")
    if meeting:
        asked = {
            q
            for a in ctx.session.exec(select(Interview.asked).where(Interview.person_id == ctx.me.id))
            for q in a.split(",")
            if q
        }
        qs = "\n".join(f"- {q.text} ({q.id})" for q in suggest(contact.kind, ctx.me.aim, asked))
        return Reply(
            title="Meeting booked",
            sections=(
                Section(
                    text=f"Meeting with {contact.name} {day_word(meeting, ctx.local_today())} ({meeting}). "
                    "Prepare three "
                    f"questions; these fit:\n{qs}"
                ),
                Section(text=f'Afterwards: /dare log "{contact.name}" --minutes N --learned "..."'),
            ),
        )
    return text_reply(
        f"{contact.name} answered after {last.attempt_no} attempt{'s' if last.attempt_no > 1 else ''}. "
        "Now ask for 15 minutes, and record the date with "
        f'/dare reply "{contact.name}" --meeting DATE.',
        title="Reply recorded",
    )


# The log's statements, built once with bound parameters (building one cost about as much as running it).
@lru_cache(maxsize=1)
def _my_interviews() -> SaSelect[int, date]:
    return sa_select(col(Interview.contact_id), col(Interview.held_on)).where(
        col(Interview.person_id) == bindparam("person", type_=Integer())
    )


@lru_cache(maxsize=1)
def _insert_interview() -> ReturningInsert[int]:
    """Every column given (none left to a Python-side default), and the new id returned."""
    given = ("person_id", "contact_id", "held_on", "minutes", "asked", "learned", "created_at")
    return sa_insert(Interview).values({k: bindparam(k) for k in given}).returning(col(Interview.id))


@lru_cache(maxsize=1)
def _close_last_attempt() -> Update:
    """The contact's latest attempt, when still unanswered, becomes a meeting."""
    latest = (
        sa_select(col(Outreach.id))
        .where(col(Outreach.contact_id) == bindparam("contact", type_=Integer()))
        .order_by(col(Outreach.attempt_no).desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        sa_update(Outreach)
        .where(col(Outreach.id) == latest, col(Outreach.status) == "no-reply")
        .values(
            status="meeting",
            replied_on=bindparam("replied", type_=Date()),
            meeting_on=bindparam("meeting", type_=Date()),
        )
    )


@command(
    "log",
    summary="Record a reverse interview that happened.",
    form="log",
    details=(
        "Outcome tags (repeat --outcome): advice, connection, referral, job-lead, job-offer, "
        "business-proposal; they are shown but earn no points. --asked takes the ids of the questions you "
        "asked, comma-separated (listed below and in /dare questions), so the next prep suggests new ones."
    ),
    examples=(
        '/dare log "Ada Lovelace" --minutes 20 --outcome advice --outcome referral --asked v1,m2 '
        '--learned "Start with the team\'s problems"',
    ),
)
def log_interview(ctx: Context, cmd: c.LogInterview) -> Reply:
    contact = ctx.contact_row(cmd.contact)
    today = ctx.local_today()
    day = not_future(
        resolve_date(cmd.on, today, what="--on", field="on") if cmd.on else today,
        today,
        what="An interview",
        field="on",
    )
    check_ids(cmd.asked)
    # All my interviews at once: the duplicate check here, the goal count below.
    mine = ctx.sql(_my_interviews(), person=ctx.me_id)
    if any(cid == contact.id and held == day for cid, held in mine):
        raise UsageError(f"You already logged an interview with {contact.name} on {day}.", field="on")
    # Core writes, as no object is needed afterwards: the ORM's flush was most of this command's time.
    ((interview_id,),) = ctx.sql(
        _insert_interview(),
        person_id=ctx.me_id,
        contact_id=pk(contact),
        held_on=day,
        minutes=cmd.minutes,
        asked=",".join(cmd.asked),
        learned=cmd.learned,
        created_at=ctx.now,
    )
    for tag in cmd.outcomes:
        ctx.session.add(Outcome(interview_id=interview_id, tag=tag))
    # An interview means they answered: close the loop on an attempt still marked unanswered.
    ctx.sql(_close_last_attempt(), contact=contact.id, replied=min(day, today), meeting=day)
    ctx.replan = True  # the Core writes above skip the ORM's change marks: the planner looks again
    done = [held for _, held in mine] + [day]
    fields = [Field("With", contact.name + (" (can hire)" if contact.can_decide else "")), Field("On", str(day))]
    if cmd.minutes:
        fields.append(Field("Minutes", str(cmd.minutes)))
    if cmd.outcomes:
        fields.append(Field("Came of it", ", ".join(cmd.outcomes)))
    follow = (
        "Send a short thank-you today, and tell them later what you did with their advice. "
        "Then share how it went with /dare story TEXT --to cohort|anonymous|instructor."
    )
    sections = [Section(fields=tuple(fields)), Section(text=follow)]
    running = _running_dares(ctx)
    met = _goal_reached(running, done, day)
    if met is not None:
        sections.insert(0, Section(text=_cheer(met)))
    before = _before_dare(running, day)
    if before:
        sections.append(Section(text=before))
    return Reply(
        title=f"Reverse interview #{len(done)} logged",
        sections=tuple(sections),
        public=_public_cheer(ctx.me, met) if met is not None else None,
    )


@command(
    "story",
    summary="Share how it went (default: instructor only).",
    form="story",
    free_text=True,
    details=(
        "--to cohort shares it with your name, anonymous without it, instructor keeps it private. "
        "A story about a logged interview can earn the dare's reward."
    ),
    examples=("/dare story She said my question was the best she'd heard all year --to anonymous",),
)
def story(ctx: Context, cmd: c.ShareStory) -> Reply:
    cohorts = [cohort for cohort, m in ctx.memberships() if m.is_participant]
    cohort: Cohort | None = cohorts[-1] if cohorts else None
    consent = cmd.to or "instructor"
    ctx.session.add(
        Story(
            person_id=pk(ctx.me),
            cohort_id=pk(cohort) if cohort else None,
            text=cmd.text,
            consent=consent,
            created_at=ctx.now,
        )
    )
    reward = ""
    if cohort is not None:
        from bot.stats import current_dare

        dare = current_dare(ctx.session, pk(cohort))
        if dare and dare.reward:
            reward = f" Your instructor will see it and can grant the reward ({dare.reward})."
    return text_reply(f"Thanks for sharing: your story is {CONSENT_LABEL[consent]}.{reward}", title="Story saved")


@command(
    "recruiter",
    summary="Record a recruiter's call and how you handled it.",
    details=(
        "One call per company: run it again to tick more steps. --asked ids: why-open (why is the role "
        "open?), why-me (why do they think you fit?), role-type (what kind of role is it really?). "
        "--answer yes|no|later."
    ),
    examples=('/dare recruiter "Acme" --role "Backend engineer" --asked why-open,why-me --answer later --connected',),
)
def recruiter(ctx: Context, cmd: c.RecordRecruiterCall) -> Reply:
    # One call per company: a later command about the same company ticks more steps on the same call.
    call = next(
        (
            rc
            for rc in ctx.session.exec(select(RecruiterCall).where(RecruiterCall.person_id == ctx.me.id))
            if name_key(rc.company) == name_key(cmd.company)
        ),
        None,
    )
    if call is None:
        call = RecruiterCall(
            person_id=pk(ctx.me),
            company=cmd.company,
            role=cmd.role,
            asked=",".join(cmd.asked),
            answer=cmd.answer,
            connected=cmd.connected,
            referred=cmd.referred,
            occurred_on=ctx.local_today(),
            created_at=ctx.now,
        )
        ctx.session.add(call)
        verb = "recorded"
    else:
        call.asked = ",".join(dict.fromkeys([a for a in call.asked.split(",") if a] + list(cmd.asked)))
        call.role = cmd.role or call.role
        if cmd.answer is not None and cmd.answer != call.answer:
            call.answer = cmd.answer
            if cmd.answer == "no":
                call.occurred_on = ctx.local_today()  # the revisit counts from the no
        call.connected = call.connected or cmd.connected
        call.referred = call.referred or cmd.referred
        verb = "updated"
    asked = tuple(a for a in call.asked.split(",") if a)
    done = recruiter_steps_done(asked, call.answer, call.connected, call.referred)
    lines = [f"{'[x]' if done[key] else '[ ]'} {text}" for key, text in RECRUITER_STEPS]
    advice = {"yes": RECRUITER_YES, "no": RECRUITER_BETTER_NO + " " + NO_IS_NOT_FOREVER}.get(
        call.answer or "", RECRUITER_SELLS
    )
    missing = [key for key, _ in RECRUITER_STEPS if not done[key]]
    head = "All four steps: textbook." if not missing else "The playbook, and where you are:"
    sections = [Section(text=head), Section(text="\n".join(lines)), Section(text=advice)]
    if call.answer in ("yes", "no"):
        sections.append(Section(text=RECRUITER_SELLS))
    return Reply(title=f"Recruiter call from {call.company} {verb}", sections=tuple(sections))


form_action("nudge.log", "log")
