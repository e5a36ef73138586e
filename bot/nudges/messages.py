"""What each nudge says. Plain text; one next step; the same three buttons on every coaching nudge.

Rendered at send time from fresh state, so numbers in a DM are the numbers of the moment it goes out.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session

from bot.coaching import DARE_PITCH, NO_IS_NOT_FOREVER, next_step, next_target_text
from bot.nudges.policy import local_date
from bot.nudges.rules import ContactInfo, InstructorState, ParticipantState
from bot.questions import must_ask
from bot.replies import Button, Field, Reply, Section
from storage.models import Cohort


def must_ask_lines() -> list[str]:
    return [f"{q.text} ({q.id})" for q in must_ask()]


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


def _nudge(title: str, *texts: str, fields: tuple[Field, ...] = (),
           buttons: tuple[Button, ...] = NUDGE_BUTTONS) -> Reply:
    sections = [Section(text=t) for t in texts if t]
    if fields:
        sections.append(Section(fields=fields))
    return Reply(title=title, sections=tuple(sections), buttons=buttons, ephemeral=False)


def _goal_fields(s: ParticipantState, today: date) -> tuple[Field, ...]:
    done = len(s.interviews_in_dare())
    fields = [Field("Interviews", f"{done} of {s.dare.goal}")]
    if s.dare.deadline:
        left = (s.dare.deadline - today).days
        fields.append(Field("Deadline", f"{s.dare.deadline.isoformat()} ({_plural(max(left, 0), 'day')} left)"))
    return tuple(fields)


def _fresh_target(s: ParticipantState, exclude: int | None = None) -> str:
    return next_target_text(s.contacts.values(), s.outreaches, exclude=exclude)


def render(rule: str, subject: str, period: str, state: ParticipantState | InstructorState, *,
           session: Session, now: datetime) -> Reply:
    if isinstance(state, InstructorState):
        return instructor_digest(state, session=session, now=now)
    fn = _RENDER.get(rule)
    if fn is None:
        return _nudge("A note from your coach",
                      "Time for your next step on the dare. /dare progress shows where you are.")
    return fn(state, subject, period, now)


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
            Section(text=f"Say yes with /dare accept {d.cohort_name} or the button below. "
                         "Most people who hear about this never try it; you can be the exception."),
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
        f"to start: /dare accept {s.dare.cohort_name}.",
        fields=_goal_fields(s, local_date(now, s.tz)),
        buttons=(accept_button(s.dare.cohort_name), SNOOZE, STOP),
    )


def no_outreach(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    first = next(iter(sorted(s.contacts.values(), key=lambda c: (not c.can_decide, c.id))), None)
    step = (f"You already have {first.name} on your list: send them one short message today and log it with "
            f"/dare outreach \"{first.name}\"." if first else
            "Pick one person who has the job you'd like in a few years, add them with /dare contact \"FULL NAME\", "
            "and send a short message today.")
    return _nudge("One message today", "You took the dare, and nobody has heard from you yet. " + step,
                  fields=_goal_fields(s, local_date(now, s.tz)))


def follow_up(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    name = _name(s, subject)
    attempt = period.removeprefix("a")
    return _nudge(
        f"Time to follow up with {name}",
        f"No answer from {name} yet. That is normal: busy people often reply to the second or third message, not "
        f"the first. Send attempt {attempt} today: two lines, friendly, one concrete question. Then log it with "
        f"/dare outreach \"{name}\".",
    )


def try_another(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    name = _name(s, subject)
    return _nudge(
        f"Three tries with {name}: move on",
        f"You gave {name} three chances; that is real persistence. Leave the door open and put your energy into "
        "someone new, preferably a person who can decide.",
        _fresh_target(s, exclude=int(subject) if subject.isdigit() else None),
    )


def meeting_prep(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    name = _name(s, subject)
    try:
        when = date.fromisoformat(period)
        day = "tomorrow" if when == local_date(now, s.tz) + timedelta(days=1) else f"on {when.isoformat()}"
    except ValueError:
        day = "soon"
    questions = "\n".join(f"- {q}" for q in must_ask_lines())
    return _nudge(
        f"Your talk with {name} is {day}",
        "Prepare ten minutes tonight. The questions you must ask:\n" + questions,
        "Let them talk, take notes, and ask who else you should meet. Afterwards: /dare log \"" + name + "\".",
    )


def thank_you(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    iv = next((i for i in s.interviews if str(i.id) == subject), None)
    name = s.contacts[iv.contact_id].name if iv and iv.contact_id in s.contacts else "your contact"
    return _nudge(
        f"Say thank you to {name}",
        f"Well done on talking with {name}. Send a short thank-you within a day: one thing you learned and what "
        "you'll do with it. People remember the ones who write back.",
    )


def close_loop(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    iv = next((i for i in s.interviews if str(i.id) == subject), None)
    name = s.contacts[iv.contact_id].name if iv and iv.contact_id in s.contacts else "your contact"
    return _nudge(
        f"Close the loop with {name}",
        f"A couple of weeks have passed since your talk with {name}. Tell them what you did with their advice, "
        "even if it's small. That message turns a conversation into a connection.",
    )


def encourage(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    return _nudge(
        "Silence is not a verdict",
        "Several messages, no answers yet. This is exactly where most people give up, and exactly where the ones "
        "who keep going start getting replies. Nothing is wrong with you or your message; people are busy.",
        _fresh_target(s),
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
    left = s.dare.goal - done
    return _nudge(
        "The deadline is close",
        f"You're at {done} of {s.dare.goal}: {_plural(left, 'interview')} to go. Plenty of people book a "
        "fifteen-minute call within a week; ask today.",
        _fresh_target(s),
        fields=_goal_fields(s, today),
    )


def gone_quiet(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    days = (local_date(now, s.tz) - s.last_activity_day()).days
    return _nudge(
        "Still with us?",
        f"It's been {_plural(days, 'day')} since your last step on the dare. One small move restarts it: "
        "a follow-up, a new name, or logging what already happened.",
        fields=_goal_fields(s, local_date(now, s.tz)),
    )


def recruiter_revisit(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    call = next((c for c in s.recruiter_calls if str(c.id) == subject), None)
    company = call.company if call else "that company"
    return _nudge(
        f"Worth another look: {company}",
        f"A few months ago you told a recruiter from {company} no. {NO_IS_NOT_FOREVER} A friendly check-in costs "
        "two lines: what you're up to now, and whether anything new has opened.",
    )


def a_word(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    """Sent when an instructor presses "Word to ..." in the report or digest."""
    today = local_date(now, s.tz)
    interviewed = {i.contact_id for i in s.interviews}
    advice = next_step(list(s.contacts.values()), list(s.outreaches), interviewed, today=today,
                       followup_days=s.dare.followup_days)
    return _nudge(
        f"A word from your instructor ({s.dare.cohort_name})",
        "Your instructor was thinking of you: the dare is still yours to take on, and one small step today is "
        "enough to get going again. Stuck or unsure? Message them or catch them after class; "
        "that's what they're there for.",
        "Your next step: " + advice,
        fields=_goal_fields(s, today),
    )


def participant_digest(s: ParticipantState, subject: str, period: str, now: datetime) -> Reply:
    today = local_date(now, s.tz)
    fields = list(_goal_fields(s, today))
    fields += [Field("Contacts", str(len(s.contacts))), Field("Messages sent", str(len(s.outreaches)))]
    interviewed = {i.contact_id for i in s.interviews}
    advice = next_step(list(s.contacts.values()), list(s.outreaches), interviewed, today=today,
                       followup_days=s.dare.followup_days)
    return _nudge(f"Your week on the dare ({s.dare.cohort_name}, week of {today:%b %-d})", advice,
                  fields=tuple(fields))


def instructor_digest(s: InstructorState, *, session: Session, now: datetime) -> Reply:
    from bot.charts import weekly_alt, weekly_chart
    from bot.insight import cohort_view, weekly, who_needs_a_word
    from bot.instructor import stall_section
    from bot.replies import Attachment
    from bot.stats import STALL_DAYS
    from bot.views import file_stem

    cohort = session.get(Cohort, s.dare.cohort_id)
    if cohort is None:
        return _nudge(f"{s.dare.cohort_name}: your weekly digest", "This cohort is gone.", buttons=())
    view = cohort_view(session, cohort, now)
    stats, f = view.stats, view.funnel
    week_ago = now - timedelta(days=7)
    moved = [st.person.display_name for st in stats if st.last_activity and st.last_activity >= week_ago]

    def names(xs: list[str]) -> str:
        return ", ".join(sorted(xs)[:25]) + (f" and {len(xs) - 25} more" if len(xs) > 25 else "") if xs else "nobody"

    word, buttons = stall_section(who_needs_a_word(session, view, now), cohort=cohort, stall_days=STALL_DAYS)
    image = None
    series = weekly(session, view)
    if series is not None and f.size:
        image = Attachment(f"{file_stem(cohort.name)}-weekly.png", weekly_chart(cohort.name, series, day=view.day),
                           "image/png", alt=weekly_alt(cohort.name, series))
    return Reply(
        title=f"{cohort.name}: your weekly digest",
        sections=(
            Section(text=f.headline(), fields=(
                Field("Participants", str(f.size)), Field("Accepted", str(f.accepted)),
                Field("Reached out", str(f.reached_out)), Field("Goal met", str(f.goal_met)))),
            Section(title="Moved this week", text=names(moved)),
            word,
        ),
        buttons=buttons,
        image=image,
        ephemeral=False,
    )


_RENDER = {
    "dare-issued": dare_issued,
    "not-accepted": not_accepted,
    "no-outreach": no_outreach,
    "follow-up": follow_up,
    "try-another": try_another,
    "meeting-prep": meeting_prep,
    "thank-you": thank_you,
    "close-loop": close_loop,
    "encourage": encourage,
    "story-invite": story_invite,
    "deadline-near": deadline_near,
    "gone-quiet": gone_quiet,
    "recruiter-revisit": recruiter_revisit,
    "digest": participant_digest,
    "a-word": a_word,
}
