"""What participants report: contacts, outreach attempts, replies, interviews, stories, recruiter calls."""

from __future__ import annotations

from sqlmodel import col, select

from bot import commands as c
from bot.coaching import (
    DECIDER_TIP,
    DECLINED_TIP,
    MOVE_ON_TIP,
    NO_IS_NOT_FOREVER,
    PERSISTENCE_ATTEMPTS,
    PERSISTENCE_TIP,
    RECRUITER_STEPS,
    recruiter_steps_done,
)
from bot.context import Context
from bot.dates import not_future, resolve_date
from bot.errors import UsageError
from bot.questions import check_ids, must_ask
from bot.registry import command, form_action
from bot.replies import Field, Reply, Section, text_reply
from bot.validate import name_key
from storage.models import Cohort, Contact, Interview, Outcome, Outreach, RecruiterCall, Story, pk

CONSENT_LABEL = {"cohort": "shared with the cohort, with your name", "anonymous": "shared with the cohort anonymously",
                 "instructor": "for your instructor only"}


@command("contact", summary="Add someone you want to reverse-interview.", form="contact",
         examples=('/dare contact "Ada Lovelace" --title "Head of Engineering" --org Analytical '
                   '--kind decision-maker --decides',
                   '/dare contact "Ada Lovelace" --forget'))
def add_contact(ctx: Context, cmd: c.AddContact) -> Reply:
    if cmd.forget:
        from bot.privacy import forget_contact
        return forget_contact(ctx, cmd.name)
    key = name_key(cmd.name)
    if ctx.session.exec(select(Contact).where(Contact.person_id == ctx.me.id, Contact.name_key == key)).first():
        raise UsageError(f"You already have a contact called '{cmd.name}'. Log an attempt with "
                         f'/dare outreach "{cmd.name}".', field="name")
    kind = cmd.kind or "future-self"
    decides = cmd.decides or kind == "decision-maker"
    ctx.session.add(Contact(workspace_id=pk(ctx.ws), person_id=pk(ctx.me), name=cmd.name, name_key=key,
                            title=cmd.title, org=cmd.org, kind=kind, can_decide=decides, created_at=ctx.now))
    where = ", ".join(x for x in (cmd.title, cmd.org) if x)
    text = f"Added {cmd.name}{' (' + where + ')' if where else ''}. Reach out, then record it with " \
           f'/dare outreach "{cmd.name}" --via email.'
    if not decides:
        text += "\n" + DECIDER_TIP
    return text_reply(text, title="Contact added")


@command("outreach", summary="Record one attempt to reach a contact.", form="outreach",
         details="Attempts are numbered; a follow-up counts from the day after the last one.",
         examples=('/dare outreach "Ada Lovelace" --via linkedin --on yesterday',))
def outreach(ctx: Context, cmd: c.RecordOutreach) -> Reply:
    contact = ctx.contact(cmd.contact)
    day = not_future(resolve_date(cmd.on, ctx.today, what="--on", field="on") if cmd.on else ctx.today, ctx.today,
                     what="An attempt", field="on")
    previous = list(ctx.session.exec(select(Outreach).where(Outreach.contact_id == contact.id)
                                     .order_by(col(Outreach.attempt_no))))
    if previous and day < previous[-1].sent_on:
        raise UsageError(f"Your last attempt to {contact.name} was on {previous[-1].sent_on}; "
                         "a new one can't be dated before it.", field="on")
    if previous and day == previous[-1].sent_on:
        # A follow-up gives them time to answer; two messages in a day is one attempt (or a double submit).
        raise UsageError(f"You already recorded an attempt to {contact.name} on {day}. "
                         "Give them a few days; a follow-up counts from the next day.", field="on")
    n = len(previous) + 1
    ctx.session.add(Outreach(contact_id=pk(contact), person_id=pk(ctx.me), attempt_no=n, channel=cmd.via or "email",
                             sent_on=day, created_at=ctx.now))
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
    ordinal = {1: "First", 2: "Second", 3: "Third"}.get(n, f"Attempt {n}:")
    head = f"{ordinal} attempt to {contact.name} ({cmd.via or 'email'}, {day})" if n <= 3 else \
        f"{ordinal} {contact.name} ({cmd.via or 'email'}, {day})"
    return text_reply(f"{head} recorded.\n{tip}", title="Outreach recorded")


@command("reply", summary="Record that a contact answered.",
         examples=('/dare reply "Ada Lovelace" --meeting tomorrow', '/dare reply "Ada Lovelace" --declined'))
def reply_received(ctx: Context, cmd: c.ReplyReceived) -> Reply:
    contact = ctx.contact(cmd.contact)
    last = ctx.session.exec(select(Outreach).where(Outreach.contact_id == contact.id)
                            .order_by(col(Outreach.attempt_no).desc())).first()
    if last is None:
        raise UsageError(f"You haven't recorded reaching out to {contact.name} yet: "
                         f'/dare outreach "{contact.name}" first.')
    meeting = resolve_date(cmd.meeting, ctx.today, what="--meeting", field="meeting") if cmd.meeting else None
    if meeting is not None and meeting < last.sent_on:
        raise UsageError(f"The meeting can't be before your attempt on {last.sent_on}.", field="meeting")
    last.status = "declined" if cmd.declined else ("meeting" if meeting else "replied")
    last.replied_on = ctx.today
    last.meeting_on = meeting
    if cmd.declined:
        return text_reply(f"{contact.name} said no. {DECLINED_TIP}", title="Reply recorded")
    if meeting:
        qs = "\n".join(f"- {q.text}" for q in must_ask())
        return Reply(title="Meeting booked", sections=(
            Section(text=f"Meeting with {contact.name} on {meeting}. Prepare three questions; these work:\n{qs}"),
            Section(text=f'Afterwards: /dare log "{contact.name}" --minutes N --learned "..."')))
    return text_reply(f"{contact.name} answered after {last.attempt_no} attempt{'s' if last.attempt_no > 1 else ''}. "
                      "Now ask for 15 minutes, and record the date with "
                      f'/dare reply "{contact.name}" --meeting DATE.', title="Reply recorded")


@command("log", summary="Record a reverse interview that happened.", form="log",
         examples=('/dare log "Ada Lovelace" --minutes 20 --outcome advice --outcome referral --asked v1,m2 '
                   '--learned "Start with the team\'s problems"',))
def log_interview(ctx: Context, cmd: c.LogInterview) -> Reply:
    contact = ctx.contact(cmd.contact)
    day = not_future(resolve_date(cmd.on, ctx.today, what="--on", field="on") if cmd.on else ctx.today, ctx.today,
                     what="An interview", field="on")
    check_ids(cmd.asked)
    if ctx.session.exec(select(Interview).where(Interview.contact_id == contact.id, Interview.held_on == day)).first():
        raise UsageError(f"You already logged an interview with {contact.name} on {day}.", field="on")
    interview = Interview(person_id=pk(ctx.me), contact_id=pk(contact), held_on=day, minutes=cmd.minutes,
                          asked=",".join(cmd.asked), learned=cmd.learned, created_at=ctx.now)
    ctx.session.add(interview)
    ctx.session.flush()
    for tag in cmd.outcomes:
        ctx.session.add(Outcome(interview_id=pk(interview), tag=tag))
    # An interview means they answered: close the loop on an attempt still marked unanswered.
    last = ctx.session.exec(select(Outreach).where(Outreach.contact_id == contact.id)
                            .order_by(col(Outreach.attempt_no).desc())).first()
    if last is not None and last.status == "no-reply":
        last.status, last.replied_on = "meeting", min(day, ctx.today)
        last.meeting_on = day
    done = ctx.session.exec(select(Interview.id).where(Interview.person_id == ctx.me.id)).all()
    fields = [Field("With", contact.name + (" (can hire)" if contact.can_decide else "")), Field("On", str(day))]
    if cmd.minutes:
        fields.append(Field("Minutes", str(cmd.minutes)))
    if cmd.outcomes:
        fields.append(Field("Came of it", ", ".join(cmd.outcomes)))
    follow = ("Send a short thank-you today, and tell them later what you did with their advice. "
              "Then share how it went with /dare story TEXT --to cohort|anonymous|instructor.")
    return Reply(title=f"Reverse interview #{len(done)} logged", sections=(Section(fields=tuple(fields)),
                                                                          Section(text=follow)))


@command("story", summary="Share how it went (default: instructor only).", form="story", free_text=True,
         examples=("/dare story She said my question was the best she'd heard all year --to anonymous",))
def story(ctx: Context, cmd: c.ShareStory) -> Reply:
    cohorts = [cohort for cohort, m in ctx.memberships() if m.is_participant]
    cohort: Cohort | None = cohorts[-1] if cohorts else None
    consent = cmd.to or "instructor"
    ctx.session.add(Story(person_id=pk(ctx.me), cohort_id=pk(cohort) if cohort else None, text=cmd.text,
                          consent=consent, created_at=ctx.now))
    reward = ""
    if cohort is not None:
        from bot.stats import current_dare
        dare = current_dare(ctx.session, pk(cohort))
        if dare and dare.reward:
            reward = f" Your instructor will see it and can grant the reward ({dare.reward})."
    return text_reply(f"Thanks for sharing: your story is {CONSENT_LABEL[consent]}.{reward}", title="Story saved")


@command("recruiter", summary="Record a recruiter's call and how you handled it.",
         examples=('/dare recruiter "Acme" --role "Backend engineer" --asked why-open,why-me '
                   '--answer later --connected',))
def recruiter(ctx: Context, cmd: c.RecruiterCall) -> Reply:
    ctx.session.add(RecruiterCall(person_id=pk(ctx.me), company=cmd.company, role=cmd.role, asked=",".join(cmd.asked),
                                  answer=cmd.answer, connected=cmd.connected, referred=cmd.referred,
                                  occurred_on=ctx.today, created_at=ctx.now))
    done = recruiter_steps_done(cmd.asked, cmd.answer, cmd.connected, cmd.referred)
    lines = [f"{'[x]' if done[key] else '[ ]'} {text}" for key, text in RECRUITER_STEPS]
    text = "\n".join(lines)
    if cmd.answer == "no":
        text += "\n" + NO_IS_NOT_FOREVER
    missing = [key for key, _ in RECRUITER_STEPS if not done[key]]
    head = "All four steps: textbook." if not missing else "The playbook, and where you are:"
    return Reply(title=f"Recruiter call from {cmd.company} recorded", sections=(Section(text=head), Section(text=text)))




form_action("nudge.log", "log")
