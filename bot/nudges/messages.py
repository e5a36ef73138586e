"""What each nudge says. Plain text; one next step; the same three buttons on every coaching nudge.

Rendered at send time from fresh state, so numbers in a DM are the numbers of the moment it goes out.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session

from bot.coaching import (
    DARE_PITCH,
    NO_IS_NOT_FOREVER,
    RECRUITER_SELLS,
    Stage,
    assess,
    day_word,
    days_left_text,
    fresh_target,
    ladder,
    next_target_text,
    other_channel,
)
from bot.nudges.policy import local_date
from bot.nudges.rules import FRESH_START, ContactInfo, InstructorState, ParticipantState, situation
from bot.questions import suggest
from bot.replies import Button, Field, Reply, Section
from bot.validate import typed
from bot.zones import stored_zone
from storage.models import Cohort

LOG = Button("Log it", "nudge.log")
SNOOZE = Button("Snooze 3 days", "nudge.snooze", "3")
STOP = Button("Stop these", "nudge.stop", style="danger")
NUDGE_BUTTONS = (LOG, SNOOZE, STOP)


def accept_button(cohort_name: str) -> Button:
    return Button("I'm in", "dare.accept", value=cohort_name, style="primary")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _contact(s: ParticipantState, subject: str) -> ContactInfo | None:
    try:
        return s.contacts.get(int(subject))
    except ValueError:
        return None


def _name(s: ParticipantState, subject: str) -> str:
    c = _contact(s, subject)
    return c.name if c else "your contact"


def _nudge(
    title: str, *texts: str, fields: tuple[Field, ...] = (), buttons: tuple[Button, ...] = NUDGE_BUTTONS
) -> Reply:
    sections = [Section(text=t) for t in texts if t]
    if fields:
        sections.append(Section(fields=fields))
    return Reply(title=title, sections=tuple(sections), buttons=buttons, ephemeral=False)


def _goal_fields(s: ParticipantState, today: date) -> tuple[Field, ...]:
    done = len(s.interviews_in_dare())
    fields = [Field("Interviews", f"{done} of {s.goal}")]
    if s.dare.deadline:
        fields.append(Field("Deadline", days_left_text(s.dare.deadline, today)))
    return tuple(fields)


def _fresh_target(s: ParticipantState, exclude: int | None = None) -> str:
    """Someone to reach next, never once the goal is met (then the coach switches to closing loops)."""
    if s.goal_met():
        return ""
    return next_target_text(s.contacts.values(), s.outreaches, exclude=exclude)


def _template(text: str | None) -> str:
    return f"A message you could send (make it yours):\n> {text}" if text else ""


def fallback() -> Reply:
    return _nudge("A note from your coach", "Time for your next step on the dare. /dare progress shows where you are.")


def dare_issued(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    d = s.dare
    fields = [Field("Goal", _plural(d.goal, "reverse interview"))]
    if d.deadline:
        fields.append(Field("Deadline", d.deadline.isoformat()))
    if d.reward:
        fields.append(Field("Reward for sharing your story", d.reward))
    return Reply(
        title=f"You're dared: {_plural(d.goal, 'reverse interview')} with {d.cohort_name}",
        sections=(
            Section(text=DARE_PITCH, fields=tuple(fields)),
            Section(
                text=f"Say yes with /dare accept {typed(d.cohort_name)} or the button below. "
                "Most people who hear about this never try it; you can be the exception."
            ),
        ),
        buttons=(accept_button(d.cohort_name),),
        ephemeral=False,
    )


def not_accepted(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    days = (local_date(now, s.tz) - s.start_day).days
    return _nudge(
        "The dare is still waiting for you",
        f"{s.dare.cohort_name}'s dare went out {_plural(days, 'day')} ago and you haven't taken it yet. "
        "Only about one person in twenty ever tries a reverse interview. One short conversation is all it takes "
        f"to start: /dare accept {typed(s.dare.cohort_name)}.",
        fields=_goal_fields(s, local_date(now, s.tz)),
        buttons=(accept_button(s.dare.cohort_name), SNOOZE, STOP),
    )


def no_outreach(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    first = next(iter(sorted(s.contacts.values(), key=lambda c: (not c.can_decide, c.id))), None)
    step = (
        f"You already have {first.name} on your list: send them one short message today and log it with "
        f'/dare outreach "{first.name}".'
        if first
        else 'Pick one person who has the job you\'d like in a few years, add them with /dare contact "FULL NAME", '
        "and send a short message today."
    )
    head = (
        "You took the dare, and nobody has heard from you yet. "
        if period == "1"
        else "Still no first message: the hardest one is the first. Two lines are enough. "
    )
    return _nudge("One message today", head + step, fields=_goal_fields(s, local_date(now, s.tz)))


def _rung(s: ParticipantState, subject: str) -> tuple[str, str, str]:
    """(name, advice, template) for the ladder's rung on this contact."""
    name = _name(s, subject)
    cid = int(subject) if subject.isdigit() else -1
    mine = [o for o in s.outreaches if o.contact_id == cid]
    last = max(mine, key=lambda o: o.attempt_no) if mine else None
    target = None
    if not s.goal_met():
        target = fresh_target(s.contacts.values(), s.outreaches, exclude=cid)
    rung = ladder(
        name,
        last.attempt_no if last else 1,
        channels_used=[o.channel for o in mine],
        last_on=last.sent_on if last else s.start_day,
        next_name=target.name if target else None,
        next_decides=bool(target and target.can_decide),
    )
    return name, rung.advice, rung.template


def follow_up(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    name, advice, template = _rung(s, subject)
    cid = int(subject) if subject.isdigit() else -1
    used = [o.channel for o in sorted(s.outreaches, key=lambda o: o.attempt_no) if o.contact_id == cid]
    via = other_channel(used) if period == "a3" else (used[-1] if used else "email")
    title = f"Time to follow up with {name}" if period == "a2" else f"Try {name} another way"
    return _nudge(title, advice, _template(template), f'Then log it: /dare outreach "{name}" --via {via}.')


def try_another(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    name, advice, template = _rung(s, subject)
    return _nudge(
        f"Three tries with {name}: move on",
        advice,
        _template(template),
        _fresh_target(s, exclude=int(subject) if subject.isdigit() else None),
    )


def _asked(s: ParticipantState) -> set[str]:
    return {q for i in s.interviews for q in i.asked.split(",") if q}


def meeting_prep(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    name = _name(s, subject)
    contact = _contact(s, subject)
    today = local_date(now, s.tz)
    local_hour = now.astimezone(stored_zone(s.tz)).hour
    try:
        when = date.fromisoformat(period)
    except ValueError:
        when = today
    day = day_word(when, today)
    if when == today:
        prep = "Take ten minutes before you meet to pick your questions."
    elif when == today + timedelta(days=1) and local_hour < 18:
        prep = "Take ten minutes this evening to pick your questions."
    else:
        prep = "Take ten minutes before then to pick your questions."
    questions = "\n".join(f"- {q.text} ({q.id})" for q in suggest(contact.kind if contact else None, s.aim, _asked(s)))
    return _nudge(
        f"Your talk with {name} is {day}",
        f"{prep} Ones you haven't asked yet:\n{questions}",
        'Let them talk, take notes, and ask who else you should meet. Afterwards: /dare log "' + name + '" '
        "--asked IDS.",
    )


def meeting_check(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    name = _name(s, subject)
    try:
        when = date.fromisoformat(period)
        on = "yesterday" if when == local_date(now, s.tz) - timedelta(days=1) else f"on {when:%b %-d}"
    except ValueError:
        on = "recently"
    return _nudge(
        f"Did your talk with {name} happen?",
        f"You had a talk with {name} planned {on}. If it happened, log it so it counts. If it moved, set the new "
        "day and I'll help you prepare.",
        buttons=(
            Button("Log it", "nudge.log", style="primary"),
            Button("Reschedule", "meeting.reschedule", name),
            STOP,
        ),
    )


def thank_you(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    """Everyone talked with on the day of talk `subject` (rules.thank_you: one reminder per day)."""
    iv = next((i for i in s.interviews if str(i.id) == subject), None)
    same_day = sorted((i for i in s.interviews if iv and i.held_on == iv.held_on), key=lambda i: i.id)
    names = list(dict.fromkeys(s.contacts[i.contact_id].name for i in same_day if i.contact_id in s.contacts))
    if len(names) > 1:
        who = ", ".join(names[:-1]) + f" and {names[-1]}"
        return _nudge(
            f"Say thank you to {who}",
            f"Well done on talking with {who}. Send each of them a short thank-you within a day: one thing you "
            "learned from that talk and what you'll do with it. People remember the ones who write back.",
            _template(
                "Thank you for your time today. What stayed with me was ... I'm going to ... "
                "and I'll let you know how it goes."
            ),
        )
    name = names[0] if names else "your contact"
    first = name.split()[0] if name.split() else name
    return _nudge(
        f"Say thank you to {name}",
        f"Well done on talking with {name}. Send a short thank-you within a day: one thing you learned and what "
        "you'll do with it. People remember the ones who write back.",
        _template(
            f"Thank you, {first}, for your time today. What stayed with me was ... I'm going to ... "
            "and I'll let you know how it goes."
        ),
    )


def close_loop(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    iv = next((i for i in s.interviews if str(i.id) == subject), None)
    name = s.contacts[iv.contact_id].name if iv and iv.contact_id in s.contacts else "your contact"
    return _nudge(
        f"Close the loop with {name}",
        f"A couple of weeks have passed since your talk with {name}. Tell them what you did with their advice, "
        "even if it's small. That message turns a conversation into a connection.",
    )


def story_invite(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    reward = f" The reward for sharing it: {s.dare.reward}." if s.dare.reward else ""
    return _nudge(
        "Tell your story",
        "You've done a reverse interview, which most people never do. Write down what happened and what you "
        f"learned, so the cohort can learn from it too: /dare story TEXT (only the instructor sees it unless you "
        f"say --to cohort).{reward}",
    )


def deadline_near(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    today = local_date(now, s.tz)
    done = len(s.interviews_in_dare())
    left = s.goal - done
    a = assess(situation(s, now))
    return _nudge(
        "The deadline is close",
        f"You're at {done} of {s.goal}: {_plural(left, 'interview')} to go. Plenty of people book a "
        "fifteen-minute call within a week; ask today.",
        a.step,
        fields=_goal_fields(s, today),
    )


def gone_quiet(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    days = (local_date(now, s.tz) - s.last_activity_day()).days
    a = assess(situation(s, now))
    if period.endswith(FRESH_START):
        return _nudge(
            "A fresh start?",
            f"{_plural(days, 'day')} without a step, and that's all right: nearly everyone stalls somewhere, and "
            f"the dare runs on. Pick the smallest move and do it today. {a.step}",
            _template(a.template),
            fields=_goal_fields(s, local_date(now, s.tz)),
        )
    return _nudge(
        "Still with us?",
        f"It's been {_plural(days, 'day')} since your last step on the dare. One small move restarts it. {a.step}",
        _template(a.template),
        fields=_goal_fields(s, local_date(now, s.tz)),
    )


def recruiter_revisit(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    call = next((c for c in s.recruiter_calls if str(c.id) == subject), None)
    company = call.company if call else "that company"
    return _nudge(
        f"Worth another look: {company}",
        f"A few months ago you told a recruiter from {company} no. {NO_IS_NOT_FOREVER} A friendly check-in costs "
        "two lines: what you're up to now, and whether anything new has opened. " + RECRUITER_SELLS,
    )


def a_word(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    """Sent when an instructor presses "Word to ..." in the report or digest."""
    today = local_date(now, s.tz)
    a = assess(situation(s, now))
    return _nudge(
        f"A word from your instructor ({s.dare.cohort_name})",
        "Your instructor was thinking of you: the dare is still yours to take on, and one small step today is "
        "enough to get going again. Stuck or unsure? Message them or catch them after class; "
        "that's what they're there for.",
        "Your next step: " + a.step,
        _template(a.template),
        fields=_goal_fields(s, today),
    )


def _this_week(s: ParticipantState, today: date) -> str:
    since = today - timedelta(days=7)
    sent = sum(1 for o in s.outreaches if o.sent_on >= since)
    replies = sum(1 for o in s.outreaches if o.replied_on is not None and o.replied_on >= since)
    talks = sum(1 for i in s.interviews if i.held_on >= since)
    parts = [
        p
        for p in (
            f"{_plural(sent, 'message')} sent" if sent else "",
            (f"{replies} {'reply' if replies == 1 else 'replies'} in") if replies else "",
            f"{_plural(talks, 'talk')} held" if talks else "",
        )
        if p
    ]
    return "This week: " + ", ".join(parts) + "." if parts else ""


def participant_digest(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    today = local_date(now, s.tz)
    fields = list(_goal_fields(s, today))
    fields += [Field("Contacts", str(len(s.contacts))), Field("Messages sent", str(len(s.outreaches)))]
    a = assess(situation(s, now))
    head = ""
    if a.stage is Stage.GOAL_MET:
        head = f"You've met your goal of {s.goal}."
    return _nudge(
        f"Your week on the dare ({s.dare.cohort_name}, week of {today:%b %-d})",
        " ".join(x for x in (head, _this_week(s, today)) if x),
        f"Next: {a.step}",
        _template(a.template),
        fields=tuple(fields),
    )


def reward_granted(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    reward = f": {s.dare.reward}" if s.dare.reward else ""
    return _nudge(
        "Your story earned the reward",
        f"Your instructor granted the reward for your story{reward}. Thank you for sharing it: the next "
        "person to try a reverse interview will be braver for it.",
        buttons=(),
    )


def dare_changed(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    today = local_date(now, s.tz)
    d = s.dare
    fields = [Field("Goal", _plural(d.goal, "reverse interview"))]
    if d.deadline:
        fields.append(Field("Deadline", days_left_text(d.deadline, today)))
    done = len(s.interviews_in_dare())
    return _nudge(
        f"The dare for {d.cohort_name} changed",
        f"Your instructor updated the dare. You're at {done} of {d.goal}; everything you logged still counts.",
        fields=tuple(fields),
        buttons=(),
    )


def instructor_digest(s: InstructorState, subject: str, period: str, now: datetime, *, session: Session) -> Reply:
    from bot.charts import weekly_alt, weekly_chart
    from bot.insight import cohort_view, weekly, who_needs_a_word
    from bot.instructor import stall_section
    from bot.replies import Attachment
    from bot.report import file_stem
    from bot.stats import STALL_DAYS

    cohort = session.get(Cohort, s.dare.cohort_id)
    if cohort is None:
        return _nudge(f"{s.dare.cohort_name}: your weekly digest", "This cohort is gone.", buttons=())
    view = cohort_view(session, cohort, now)
    stats, f = view.stats, view.funnel
    week_ago = now - timedelta(days=7)
    moved = [st.person.display_name for st in stats if st.last_activity and st.last_activity >= week_ago]

    def names(xs: list[str]) -> str:
        return ", ".join(sorted(xs)[:25]) + (f" and {len(xs) - 25} more" if len(xs) > 25 else "") if xs else "nobody"

    # someone who moved this week is not listed as stalled, whatever the longer window says
    stalls = [x for x in who_needs_a_word(session, view, now) if x.person.display_name not in moved]
    word, buttons = stall_section(stalls, cohort=cohort, stall_days=STALL_DAYS)
    image = None
    series = weekly(session, view)
    if series is not None and f.size:
        image = Attachment(
            f"{file_stem(cohort.name)}-weekly.png",
            weekly_chart(cohort.name, series, day=view.day),
            "image/png",
            alt=weekly_alt(cohort.name, series),
        )
    return Reply(
        title=f"{cohort.name}: your weekly digest",
        sections=(
            Section(
                text=f.headline(),
                fields=(
                    Field("Participants", str(f.size)),
                    Field("Accepted", str(f.accepted)),
                    Field("Reached out", str(f.reached_out)),
                    Field("Goal met", str(f.goal_met)),
                ),
            ),
            Section(title="Moved this week", text=names(moved)),
            word,
        ),
        buttons=buttons,
        image=image,
        ephemeral=False,
    )


def final_summary(s: InstructorState, subject: str, period: str, now: datetime, *, session: Session) -> Reply:
    from bot.stats import current_dare, dare_window_start, funnel, participant_stats

    cohort = session.get(Cohort, s.dare.cohort_id)
    stats = (
        participant_stats(session, cohort, since=dare_window_start(current_dare(session, cohort.id), cohort))  # type: ignore[arg-type]
        if cohort
        else []
    )
    f = funnel(stats, s.dare.goal)
    pending = sum(st.rewards_pending for st in stats) if s.dare.reward else 0
    stories = "1 story still waits" if pending == 1 else f"{pending} stories still wait"
    tail = f" {stories} for a reward: /dare reward @user." if pending else ""
    return Reply(
        title=f"{s.dare.cohort_name}: the dare is over",
        sections=(
            Section(
                text=f.headline(),
                fields=(
                    Field("Participants", str(f.size)),
                    Field("Accepted", str(f.accepted)),
                    Field("Reached out", str(f.reached_out)),
                    Field("Goal met", str(f.goal_met)),
                ),
            ),
            Section(
                text="This is the last digest for this dare; participants now hear only about thank-yous "
                f"and stories.{tail} /dare report has the details."
            ),
        ),
        ephemeral=False,
    )
