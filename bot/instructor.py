"""What only an instructor sees: one participant's record, who needs a word (and sending it), comparisons."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlmodel import col, select

from bot import commands as c
from bot.coaching import dare_over, day_word
from bot.context import Context
from bot.errors import NotAllowed, UsageError
from bot.insight import CohortView, Stall, cohort_view, comparison_rows, numbers, record, who_needs_a_word
from bot.nudges import catalog
from bot.nudges.delivery import cap_release_at
from bot.nudges.policy import DEFAULT_POLICY, after_quiet_hours
from bot.nudges.rules import nudge_key
from bot.registry import action
from bot.replies import Button, Field, Reply, Section, Table, text_reply
from bot.validate import typed
from bot.zones import effective_zone, local_at, local_date, stored_hhmm
from bot.zones import stored_zone as safe_zone
from storage.models import Cohort, Dare, Membership, Nudge, Person, pk

WORD_BUTTONS = 10  # buttons a chat message can carry comfortably; the rest are listed
KIND_LABEL = {
    "future-self": "future self",
    "decision-maker": "decision-maker",
    "business": "business owner",
    "recruiter": "recruiter",
}


def _when(moment: datetime | None, tz: str) -> str:
    return moment.astimezone(safe_zone(tz)).strftime("%Y-%m-%d %H:%M") if moment else "never"


def shared_cohorts_taught(ctx: Context, other: Person) -> list[Cohort]:
    """Cohorts (open or closed) the acting person teaches and `other` takes part in."""
    mine = {cohort.id for cohort, m in ctx.memberships(include_closed=True) if m.is_instructor}
    rows = ctx.session.exec(
        select(Cohort)
        .join(Membership, col(Membership.cohort_id) == col(Cohort.id))
        .where(
            Membership.person_id == other.id,
            Membership.is_participant == True,  # noqa: E712
            Membership.removed_at == None,  # noqa: E711
        )
        .order_by(col(Membership.joined_at))
    ).all()
    return [cohort for cohort in rows if cohort.id in mine]


def other_progress(ctx: Context, cmd: c.Progress) -> Reply:
    """`/dare progress @user [NAME]`: a participant's record for their instructor, counts only."""
    assert cmd.user is not None
    other = ctx.person_for(cmd.user.user_id, cmd.user.name_hint)
    if cmd.name:
        cohort = ctx.cohort_by_name(cmd.name)
        if not ctx.is_instructor(cohort):
            raise NotAllowed("Only instructors see someone else's progress, and only in cohorts they teach.")
        if ctx.membership(cohort, other) is None:
            raise UsageError(f"{other.display_name} isn't a participant of {cohort.name}.")
        cohorts = [cohort]
    else:
        cohorts = shared_cohorts_taught(ctx, other)
        if not cohorts:
            if not any(m.is_instructor for _, m in ctx.memberships(include_closed=True)):
                raise NotAllowed("Only instructors see someone else's progress, and only in cohorts they teach.")
            raise UsageError(f"{other.display_name} isn't a participant of a cohort you teach.")
    sections: list[Section] = []
    for cohort in cohorts:
        view = cohort_view(ctx.session, cohort, ctx.now)
        rec = record(ctx.session, view, other)
        if rec is None:
            continue
        s = rec.stats
        stage = _stage(view, s.accepted_at is not None, s.contacts, s.attempts, s.replied, s.interviews)
        kinds = ", ".join(f"{KIND_LABEL.get(k, k)} {n} ({d} can hire)" for k, (n, d) in sorted(rec.kinds.items()))
        weeks = "; ".join(f"wk of {w:%b %d}: {a} sent, {r} replies" for w, a, r in rec.weeks[-8:]) or "none yet"
        nudges = sum(rec.nudges.values())
        by_rule = ", ".join(f"{k} {v}" for k, v in sorted(rec.nudges.items()))
        words = rec.nudges.get(catalog.A_WORD, 0)
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s.outcomes.items())) or "none yet"
        frozen = f" (closed {view.day})" if view.frozen else ""
        sections.append(
            Section(
                title=f"{cohort.name}{frozen}: {stage}",
                fields=(
                    Field(
                        "Interviews",
                        f"{s.interviews} of {view.goal}"
                        + (f" (on {', '.join(str(d) for d in rec.interview_days[-5:])})" if rec.interview_days else ""),
                    ),
                    Field("Contacts", f"{s.contacts} ({s.deciders} can hire)" + (f": {kinds}" if kinds else "")),
                    Field("Attempts", f"{s.attempts} ({s.first_attempts} first, {s.follow_ups} follow-ups)"),
                    Field("Replies", f"{s.replied} of {s.reached} contacts reached"),
                    Field("Week by week", weeks),
                    Field("Outcomes", outcomes),
                    Field(
                        "Stories",
                        str(s.stories) + (f" ({s.rewards_pending} reward pending)" if s.rewards_pending else ""),
                    ),
                    Field(
                        "Nudges sent",
                        f"{nudges}"
                        + (f" ({by_rule}); last {_when(rec.last_nudge, ctx.effective_zone())}" if nudges else "")
                        + (f"; {words} from you" if words else ""),
                    ),
                    Field("Last acted", _when(rec.last_active or s.last_activity, ctx.effective_zone())),
                ),
            )
        )
    if not sections:
        raise UsageError(f"{other.display_name} has no record in those cohorts yet.")
    sections.append(Section(text="Contacts' names stay with the student: only counts are shown."))
    return Reply(title=f"{other.display_name}: progress", sections=tuple(sections))


def _stage(view: CohortView, accepted: bool, contacts: int, attempts: int, replied: int, interviews: int) -> str:
    if view.dare is None:
        return "waiting for the dare"
    if interviews >= view.goal:
        return "goal met"
    if interviews:
        return f"interviewing ({interviews} done)"
    if replied:
        return "has replies, no interview yet"
    if attempts:
        return "reaching out"
    if contacts:
        return "has contacts, no outreach yet"
    return "accepted, no contact yet" if accepted else "hasn't accepted"


def stall_section(
    stalls: list[Stall], *, cohort: Cohort, stall_days: int, over: bool = False
) -> tuple[Section, tuple[Button, ...]]:
    """The 'who needs a word' section, and one button per reachable person to send them a word now; once the
    dare is over, who was still short of the goal, without buttons (nudges then cover thank-yous and stories)."""
    if over:
        if not stalls:
            return Section(title="When the dare ended", text="Everyone had met the goal or moved recently."), ()
        lines = [f"- {st.person.display_name}: {st.text}" for st in stalls]
        return Section(
            title=f"Still short of the goal when the dare ended ({len(stalls)})",
            text="\n".join(lines) + "\nA word in person still helps; darebot now sends only thank-you "
            "and story reminders.",
        ), ()
    if not stalls:
        return Section(
            title="Who needs a word (0)",
            text=f"Nobody: everyone short of the goal moved in the last {stall_days} days.",
        ), ()
    lines = [f"- {st.person.display_name}: {st.text}" for st in stalls]
    buttons: list[Button] = []
    if cohort.closed_at is None:
        for st in stalls:
            if st.can_dm and len(buttons) < WORD_BUTTONS:
                buttons.append(
                    Button(f"Word to {st.person.display_name}"[:40], "word.send", f"{cohort.id}:{st.person.id}")
                )
    tail = "\nA button sends that person an encouraging DM now (it counts against their daily cap)." if buttons else ""
    return Section(title=f"Who needs a word ({len(stalls)})", text="\n".join(lines) + tail), tuple(buttons)


def stalls_for(ctx: Context, view: CohortView) -> list[Stall]:
    return who_needs_a_word(ctx.session, view, ctx.now)


@action("word.send")
def send_word(ctx: Context, value: str) -> Reply:
    """Plan an encouraging DM from the instructor to one participant, due now, through the outbox."""
    cohort_id, _, person_id = value.partition(":")
    if not (cohort_id.isdigit() and person_id.isdigit()):
        raise UsageError("That button has expired. Open the report again: /dare report.")
    cohort = ctx.session.get(Cohort, int(cohort_id))
    person = ctx.session.get(Person, int(person_id))
    if cohort is None or person is None or cohort.workspace_id != ctx.ws.id or person.workspace_id != ctx.ws.id:
        raise UsageError("That button has expired. Open the report again: /dare report.")
    ctx.require_instructor(cohort)
    if cohort.closed_at is not None:
        raise UsageError(f"{cohort.name} is closed: no more nudges go out from it.")
    if ctx.membership(cohort, person) is None:
        raise UsageError(f"{person.display_name} is no longer in {cohort.name}.")
    from bot.stats import current_dare

    dare = current_dare(ctx.session, pk(cohort))
    if dare is not None and dare_over(dare.deadline, False, ctx.now.astimezone(safe_zone(cohort.tz)).date()):
        raise UsageError(
            f"{cohort.name}'s dare ended on {dare.deadline}: darebot now sends only thank-you and "
            "story reminders. Move the deadline with /dare start to nudge again."
        )
    if person.unreachable_at is not None:
        raise UsageError(f"{person.display_name} can't be reached by DM; a word in person works best.")
    if not person.nudges_enabled:
        raise UsageError(f"{person.display_name} turned nudges off; talk to them directly.")
    if cohort.paused:
        raise UsageError(
            f"{cohort.name}'s nudges are paused, so the word would wait until "
            f"/dare cohort resume {typed(cohort.name)}. A word in person works now."
        )
    return plan_word(ctx, cohort, person)


def plan_word(ctx: Context, cohort: Cohort, person: Person) -> Reply:
    from bot.stats import current_dare

    dare = current_dare(ctx.session, pk(cohort))
    if dare is None:
        raise UsageError(f"{cohort.name} has no dare yet: issue it with /dare start first.")
    tz = effective_zone(ctx.session, person, ctx.default_tz)[0]
    today = local_date(ctx.now, tz)
    key = nudge_key(pk(person), catalog.A_WORD, pk(dare), today.isoformat())
    if ctx.session.exec(select(Nudge).where(Nudge.key == key)).first() is not None:
        return text_reply(f"{person.display_name} already has a word from you today.")
    ctx.session.add(
        Nudge(
            key=key,
            workspace_id=pk(ctx.ws),
            person_id=pk(person),
            rule=catalog.A_WORD,
            subject=str(pk(dare)),
            due_at=ctx.now,
            planned_at=ctx.now,
            status="pending",
        )
    )
    ctx.planned_dms += 1
    when = _word_goes(ctx, cohort, person, dare, tz)
    return text_reply(
        f"A word of encouragement goes to {person.display_name} {when}. It shows in /dare progress @user."
    )


def _word_goes(ctx: Context, cohort: Cohort, person: Person, dare: Dare, tz: str) -> str:
    """When delivery will let the word out, by the same pause, snooze, quiet hours and caps it applies."""
    policy = DEFAULT_POLICY.for_dare(dare)
    quiet = (stored_hhmm(person.quiet_start, policy.quiet_start), stored_hhmm(person.quiet_end, policy.quiet_end))
    reasons: list[str] = []
    at = ctx.now
    if cohort.paused_until is not None and cohort.paused_until > at:
        at = cohort.paused_until
        reasons.append(f"{cohort.name}'s nudges are paused until then")
    if person.snoozed_until is not None and person.snoozed_until > at:
        at = person.snoozed_until
        reasons.append("they snoozed nudges")
    for _ in range(3):  # quiet hours, then the caps, then quiet hours again (a freed slot starts at midnight)
        later = after_quiet_hours(at, tz, *quiet)
        if later > at and not reasons:
            reasons.append("it's their quiet hours")
        capped = cap_release_at(ctx.session, pk(person), catalog.A_WORD, policy, tz, later)
        if capped > later and not any(r.startswith("they've had") for r in reasons):
            next_day = local_at(local_date(later, tz) + timedelta(days=1), time(0, 0), tz)
            reasons.append(
                "they've had today's DM" if capped == next_day else f"they've had {policy.weekly_cap} DMs this week"
            )
        if capped == at:
            break
        at = capped
    if at <= ctx.now:
        return "now"
    local = at.astimezone(safe_zone(tz))
    return f"{day_word(local.date(), local_date(ctx.now, tz))} at {local:%H:%M} their time ({'; '.join(reasons)})"


def compare_section(ctx: Context, view: CohortView, others: tuple[str, ...]) -> Section:
    """The cohorts side by side; each must be one the instructor teaches."""
    views = [view]
    seen = {view.cohort.id}
    for name in others:
        other = ctx.cohort_by_name(name)
        if not ctx.is_instructor(other):
            raise NotAllowed(f"You can compare only cohorts you teach; {other.name} isn't one of them.")
        if other.id not in seen:
            seen.add(other.id)
            views.append(cohort_view(ctx.session, other, ctx.now))
    headers, rows = comparison_rows([numbers(v) for v in views])
    return Section(
        title="Side by side",
        table=Table(headers, rows),
        text="Take-up is the share who tried at least one interview; the baseline is 5% (about 1 in 20).",
    )
