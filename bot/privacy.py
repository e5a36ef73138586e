"""A person's own data: export (`/dare mydata`), erasure (`/dare forget-me`, `contact --forget`),
retention per cohort, the uninstall purge, anonymous totals, and who may read a story.

Rows are found by walking the schema (storage.personal), so export and erasure cover every table.
What leaves with a person stays in the cohort's report as numbers only: erased participants' counts
are folded into `AnonymousTotals` (one row per cohort and dare, no person, no time) and a forgotten
contact's counts into the owner's `ForgottenActivity`; bot.stats and the report add them back.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import cast

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from bot.context import Context
from bot.errors import UsageError
from bot.nudges.catalog import hold_back
from bot.registry import action, arg, command
from bot.replies import Attachment, Button, Field, Reply, Section, text_reply
from bot.stats import Funnel, ParticipantStats, current_dare, dare_window_start, participant_stats
from bot.zones import stored_zone as safe_zone
from storage import personal
from storage.models import (
    AnonymousTotals,
    Cohort,
    Contact,
    Dare,
    ForgottenActivity,
    Interview,
    Membership,
    Nudge,
    Outcome,
    Outreach,
    Person,
    Story,
    Workspace,
    pk,
)

log = logging.getLogger("darebot.privacy")

CONFIRM_MINUTES = 10
UNINSTALL_GRACE = timedelta(days=30)
RETENTION_MAX_DAYS = 3650
# Nudge rules whose subject is a contact id, and those whose subject is an interview id.
CONTACT_SUBJECT_RULES = ("follow-up", "try-another", "meeting-prep")
INTERVIEW_SUBJECT_RULES = ("thank-you", "close-loop")


# -- consent: who may read a story -----------------------------------------------------------------


@dataclass(frozen=True)
class VisibleStory:
    text: str
    consent: str  # cohort | anonymous | instructor
    author: str | None  # None: shown without a name
    created_at: datetime


def visible_stories(
    session: Session,
    cohort: Cohort,
    viewer: Person | None,
    *,
    membership: Membership | None | bool = True,
    shared_only: bool = False,
    limit: int | None = None,
) -> list[VisibleStory]:
    """The cohort's stories `viewer` may read, newest first, each with the name it may be shown with.

    Instructors read every story with its author; members read those shared with the cohort (by
    name, or as "a classmate" when anonymous) and their own; a public channel (`viewer` None) and
    anyone outside the cohort read none. Every output that shows a story goes through here.
    `membership`: the viewer's membership when the caller has read it already. `shared_only`: only
    stories shared with the cohort (by name or anonymously), as a board shows them; `limit`: the
    newest so many (read from the database, not all of them).
    """
    if viewer is None:
        return []
    m = (
        session.exec(
            select(Membership).where(Membership.cohort_id == cohort.id, Membership.person_id == viewer.id)
        ).first()
        if membership is True
        else membership or None
    )
    if m is None:
        return []
    query = (
        select(Story, Person)
        .join(Person, col(Person.id) == col(Story.person_id))
        .where(Story.cohort_id == cohort.id)
        .order_by(col(Story.created_at).desc(), col(Story.id).desc())
    )
    if shared_only:
        # every story left is one a member may read, so the limit can be the database's
        query = query.where(col(Story.consent).in_(("cohort", "anonymous")))
        if limit is not None:
            query = query.limit(limit)
    out: list[VisibleStory] = []
    for st, author in session.exec(query):
        if limit is not None and len(out) >= limit:
            break
        own = author.id == viewer.id
        if m.is_instructor or own:
            name: str | None = author.display_name
        elif st.consent == "cohort":
            name = author.display_name
        elif st.consent == "anonymous":
            name = None
        else:
            continue
        out.append(VisibleStory(st.text, st.consent, name, st.created_at))
    return out


# -- anonymous totals ------------------------------------------------------------------------------

_COUNTS = (
    "attempts",
    "first_attempts",
    "follow_ups",
    "later_attempts",
    "reached",
    "replied",
    "meetings",
    "interviews",
    "decider_interviews",
)


def _tags(text: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for part in text.split(";"):
        key, _, n = part.partition("=")
        if key and n.isdigit():
            out[key] += int(n)
    return out


def _tag_text(tags: Counter[str]) -> str:
    return ";".join(f"{k}={v}" for k, v in sorted(tags.items()) if v)[:300]


def totals_for(session: Session, cohort: Cohort, dare: Dare | None) -> AnonymousTotals | None:
    """What erased people contributed to this cohort's current dare, if anything."""
    if not cohort.has_anonymous_totals:  # the common case costs no statement
        return None
    q = select(AnonymousTotals).where(AnonymousTotals.cohort_id == cohort.id)
    q = (
        q.where(AnonymousTotals.dare_id == (dare.id if dare else None))
        if dare
        else q.where(AnonymousTotals.dare_id == None)  # noqa: E711
    )
    return session.exec(q).first()


def fold_into_totals(session: Session, cohort: Cohort, stats: Iterable[ParticipantStats]) -> int:
    """Add these participants' counts to the cohort's anonymous totals; returns people folded."""
    stats = list(stats)
    if not stats:
        return 0
    dare = current_dare(session, pk(cohort))
    goal = dare.goal if dare else cohort.goal
    row = totals_for(session, cohort, dare)
    cohort.has_anonymous_totals = True
    if row is None:
        row = AnonymousTotals(cohort_id=pk(cohort), dare_id=pk(dare) if dare else None)
        session.add(row)
    tags = _tags(row.outcomes)
    for s in stats:
        row.participants += 1
        row.accepted += s.accepted_at is not None
        row.reached_out += s.attempts > 0
        row.interviewed += s.interviews > 0
        row.goal_met += s.interviews >= goal
        for name in _COUNTS:
            setattr(row, name, getattr(row, name) + getattr(s, name))
        row.stories += s.stories
        row.recruiter_calls += s.recruiter_calls
        tags.update(s.outcomes)
    row.outcomes = _tag_text(tags)
    session.flush()
    return len(stats)


def with_totals(f: Funnel, totals: AnonymousTotals | None) -> Funnel:
    """The funnel with erased participants added back in."""
    if totals is None:
        return f
    return replace(
        f,
        size=f.size + totals.participants,
        accepted=f.accepted + totals.accepted,
        reached_out=f.reached_out + totals.reached_out,
        interviewed=f.interviewed + totals.interviewed,
        goal_met=f.goal_met + totals.goal_met,
    )


def totals_outcomes(totals: AnonymousTotals | None) -> Counter[str]:
    return _tags(totals.outcomes) if totals else Counter()


# -- /dare mydata ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MyData:
    pass


_KIND_LABELS = (
    ("membership", "Memberships"),
    ("acceptance", "Dares accepted"),
    ("contact", "Contacts"),
    ("outreach", "Attempts"),
    ("interview", "Interviews"),
    ("outcome", "Outcome tags"),
    ("story", "Stories"),
    ("recruitercall", "Recruiter calls"),
    ("forgottenactivity", "Counts kept from forgotten contacts"),
)


def export_person(session: Session, ws: Workspace, person: Person, now: datetime) -> dict[str, object]:
    """Everything stored about one person, by table (see storage.personal)."""
    rows = personal.person_rows(session, pk(person))
    you = rows.pop(personal.PERSON)
    cohort_ids = {m["cohort_id"] for m in rows.get("membership", [])}
    cohorts = {str(c.id): c.name for c in session.exec(select(Cohort).where(col(Cohort.id).in_(cohort_ids)))}
    return {
        "about": "Everything darebot stores about you in this workspace, one list per table. "
        "Delete it all with /dare forget-me.",
        "generated_at": now.isoformat(),
        "workspace": {"platform": ws.platform, "id": ws.external_id, "name": ws.name},
        "you": you[0] if you else {},
        "cohort_names": cohorts,
        "tables": rows,
        "mentioned_in": personal.references_to(session, pk(person)),
    }


def _summary(data: dict[str, object]) -> tuple[Field, ...]:
    tables = cast("dict[str, list[dict[str, object]]]", data["tables"])
    fields = []
    names = cast("dict[str, str]", data["cohort_names"])
    ms = tables.get("membership", [])
    if ms:
        roles = [
            f"{names.get(str(m['cohort_id']), '?')} ("
            f"{'instructor' if m['is_instructor'] else ''}"
            f"{', ' if m['is_instructor'] and m['is_participant'] else ''}"
            f"{'participant' if m['is_participant'] else ''})"
            for m in ms
        ]
        fields.append(Field("Cohorts", "; ".join(roles)))
    for key, label in _KIND_LABELS[1:]:
        if tables.get(key):
            fields.append(Field(label, str(len(tables[key]))))
    nudges = tables.get("nudge", [])
    if nudges:
        sent = [n for n in nudges if n["status"] == "sent"]
        last = max((str(n["sent_at"]) for n in sent if n["sent_at"]), default="")
        fields.append(
            Field(
                "Nudges",
                f"{len(sent)} sent{f' (last {last[:10]})' if last else ''}, "
                f"{len(nudges) - len(sent)} planned or not sent",
            )
        )
    fields.append(Field("Settings", "time zone, quiet hours, nudges on/off, snooze, board display"))
    return tuple(fields)


@command(
    "mydata",
    summary="Everything darebot holds about you, as a file.",
    writes=False,
    details="A JSON file with your contacts, attempts, interviews, stories, rewards, settings and memberships.",
    examples=("/dare mydata",),
)
def mydata(ctx: Context, _cmd: MyData) -> Reply:
    data = export_person(ctx.session, ctx.ws, ctx.me, ctx.now)
    body = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False).encode("utf-8")
    name = f"darebot-mydata-{ctx.local_today().isoformat()}.json"
    return Reply(
        title="Your data",
        sections=(
            Section(
                text="Everything darebot stores about you is in the attached file (JSON, one list per kind of "
                "record). In short:",
                fields=_summary(data),
            ),
            Section(text="Only you see your contacts. To delete everything: /dare forget-me."),
        ),
        file=Attachment(name, body, "application/json"),
    )


# -- /dare forget-me -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForgetMe:
    confirm: str | None = arg(
        "confirm",
        "Type confirm to delete, within 10 minutes of asking",
        optional=True,
        kind="choice",
        choices=("confirm",),
    )

    def __post_init__(self) -> None:
        if self.confirm is not None and self.confirm.strip().lower() != "confirm":
            raise UsageError(
                "To delete everything, type /dare forget-me, then /dare forget-me confirm.", field="confirm"
            )


FORGET_ACTION = "privacy.forget"


@command(
    "forget-me",
    summary="Delete everything darebot holds about you (asks to confirm).",
    usage="/dare forget-me [confirm]",
    examples=("/dare forget-me", "/dare forget-me confirm"),
    details=f"First /dare forget-me shows what would go; then press Delete everything, or type "
    f"/dare forget-me confirm, within {CONFIRM_MINUTES} minutes.",
)
def forget_me(ctx: Context, cmd: ForgetMe) -> Reply:
    if cmd.confirm:
        return _confirm(ctx)
    ctx.me.forget_requested_at = ctx.now
    rows = personal.person_rows(ctx.session, pk(ctx.me))
    counts = {k: len(v) for k, v in rows.items() if v and k != personal.PERSON}
    what = ", ".join(f"{label.lower()} ({n})" for key, label in _KIND_LABELS if (n := counts.get(key)))
    return Reply(
        title="Delete everything about you?",
        sections=(
            Section(
                text=f"This deletes your profile and settings{', ' + what if what else ''}, your planned nudges "
                "and your place on every board. It can't be undone. Your cohorts keep only anonymous "
                "totals (numbers, no name), so their reports don't change."
            ),
            Section(
                text=f"To go ahead, press Delete everything or type /dare forget-me confirm within "
                f"{CONFIRM_MINUTES} minutes. Want a copy first? /dare mydata."
            ),
        ),
        buttons=(Button("Delete everything", FORGET_ACTION, "", "danger"),),
    )


@action(FORGET_ACTION, replaces_message=True)
def forget_button(ctx: Context, _value: str) -> Reply:
    return _confirm(ctx)


def _confirm(ctx: Context) -> Reply:
    asked = ctx.me.forget_requested_at
    if asked is None or not ctx.now - timedelta(minutes=CONFIRM_MINUTES) <= asked <= ctx.now:
        raise UsageError(
            f"Nothing was deleted: first ask with /dare forget-me, then confirm within {CONFIRM_MINUTES} minutes."
        )
    n = erase_person(ctx.session, ctx.ws, ctx.me)
    return text_reply(
        f"Done: darebot deleted everything it held about you ({n} records). Your cohorts keep "
        "your counts as anonymous totals only. If you use darebot again, you start afresh.",
        title="Deleted",
    )


def erase_person(session: Session, ws: Workspace, person: Person) -> int:
    """Fold the person's counts into their cohorts' anonymous totals, then delete every row that is
    theirs or names them (idempotency keys, the Slack installer mark). Returns rows deleted."""
    pid = pk(person)
    for cohort in session.exec(
        select(Cohort)
        .join(Membership, col(Membership.cohort_id) == col(Cohort.id))
        .where(Membership.person_id == pid, Membership.is_participant == True)  # noqa: E712
    ):
        since = dare_window_start(current_dare(session, pk(cohort)), cohort)
        fold_into_totals(session, cohort, participant_stats(session, cohort, since=since, only=pid))
    session.flush()
    external = person.external_id
    stone = personal.tombstone(session, pk(ws), person.created_at)
    done = personal.delete_people(session, [pid], tombstone_id=stone)
    extra = personal.delete_keys_naming(session, [external])
    if ws.platform == "slack":
        extra += personal.clear_installer(session, ws.external_id, external)
    # The ORM must not write back objects whose rows are gone (the person's last_active_at, say).
    session.expunge_all()
    return done.rows + extra


# -- /dare contact NAME --forget -------------------------------------------------------------------


def forget_contact(ctx: Context, name: str) -> Reply:
    """Delete one contact and everything logged about them; their counts stay, as numbers only."""
    contact = ctx.contact(name, field="name")
    cid = pk(contact)
    attempts = list(ctx.session.exec(select(Outreach).where(Outreach.contact_id == cid)))
    interviews = list(ctx.session.exec(select(Interview).where(Interview.contact_id == cid)))
    iids = [i.id for i in interviews]
    # One row a day, so a board or report over any span counts exactly what it counted before.
    by_day: dict[date, ForgottenActivity] = {}

    def day_row(day: date) -> ForgottenActivity:
        if day not in by_day:
            by_day[day] = ForgottenActivity(person_id=pk(ctx.me), counted_from=day, created_at=ctx.now)
        return by_day[day]

    for a in attempts:
        row = day_row(a.sent_on)
        row.attempts += 1
        row.first_attempts += a.attempt_no == 1
        row.follow_ups += 2 <= a.attempt_no <= 3
        row.later_attempts += a.attempt_no > 3
    if attempts:  # per contact: counted on the day of the first attempt
        row = day_row(min(a.sent_on for a in attempts))
        row.reached += 1
        row.replied += any(a.status != "no-reply" for a in attempts)
        row.meetings += any(a.status == "meeting" for a in attempts)
    tag_rows = ctx.session.exec(
        select(Outcome.interview_id, Outcome.tag).where(col(Outcome.interview_id).in_(iids))
    ).all()
    for i in interviews:
        row = day_row(i.held_on)
        row.interviews += 1
        row.decider_interviews += contact.can_decide
        tags = _tags(row.outcomes)
        tags.update(tag for iid, tag in tag_rows if iid == i.id)
        row.outcomes = _tag_text(tags)
    ctx.session.add_all(by_day.values())
    ctx.me.next_check_at = ctx.now  # bulk deletes skip the ORM's change marks: the planner looks again
    # Planned and sent nudges about them: their subject is the contact's or an interview's id.
    interview_ids = {str(i) for i in iids}

    def is_about(rule: str, subject: str) -> bool:
        return (rule in CONTACT_SUBJECT_RULES and subject == str(cid)) or (
            rule in INTERVIEW_SUBJECT_RULES and subject in interview_ids
        )

    nudges = ctx.session.execute(
        select(col(Nudge.id), col(Nudge.rule), col(Nudge.subject), col(Nudge.instead_of)).where(
            col(Nudge.person_id) == pk(ctx.me), col(Nudge.rule).in_(CONTACT_SUBJECT_RULES + INTERVIEW_SUBJECT_RULES)
        )
    ).all()
    gone = [n for n in nudges if is_about(n.rule, n.subject)]
    if gone:
        ctx.session.execute(delete(Nudge).where(col(Nudge.id).in_([n.id for n in gone])))
    for n in gone:
        if n.instead_of is not None:  # it went out instead of other overdue nudges: they stay held
            others = [k for k in json.loads(n.instead_of) if not is_about(*k.split(":", 3)[1:3])]
            hold_back(ctx.session, ctx.me.workspace_id, pk(ctx.me), others, ctx.now)
    if iids:
        ctx.session.execute(delete(Outcome).where(col(Outcome.interview_id).in_(iids)))
    ctx.session.execute(delete(Interview).where(col(Interview.contact_id) == cid))
    ctx.session.execute(delete(Outreach).where(col(Outreach.contact_id) == cid))
    shown = contact.name
    ctx.session.flush()
    ctx.session.expunge(contact)
    ctx.session.execute(delete(Contact).where(col(Contact.id) == cid))
    logged = (
        f"{len(attempts)} attempt{'s' if len(attempts) != 1 else ''} and {len(interviews)} "
        f"interview{'s' if len(interviews) != 1 else ''}"
    )
    return text_reply(
        f"Forgot {shown}: the contact and {logged} are deleted. Your points and your cohort's "
        "totals keep the counts, with no name.",
        title="Contact deleted",
    )


# -- retention -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortRetention:
    name: str = arg("NAME", "The cohort", lookup="cohort")
    days: str = arg("DAYS", f"Days to keep personal data after the term ends (0-{RETENTION_MAX_DAYS})")

    def __post_init__(self) -> None:
        text = str(self.days).strip()
        if not text.isdigit() or not 0 <= int(text) <= RETENTION_MAX_DAYS:
            raise UsageError(
                f"DAYS is a whole number from 0 to {RETENTION_MAX_DAYS} (got '{text[:20]}').",
                field="days",
                usage="/dare cohort retention NAME DAYS",
            )
        object.__setattr__(self, "days", text)


def term_end(session: Session, cohort: Cohort) -> datetime | None:
    """When the term ended: the cohort's close or the end of its dare's deadline day, whichever is first."""
    ends = []
    if cohort.closed_at is not None:
        ends.append(cohort.closed_at)
    dare = current_dare(session, pk(cohort))
    if dare is not None and dare.deadline is not None:
        ends.append(datetime.combine(dare.deadline + timedelta(days=1), time(0), safe_zone(cohort.tz)))
    return min(ends) if ends else None


def purge_at(session: Session, cohort: Cohort) -> datetime | None:
    end = term_end(session, cohort)
    return end + timedelta(days=cohort.retention_days) if end is not None else None


@command(
    "cohort retention",
    summary="Keep a cohort's personal data DAYS after the term ends (default 180).",
    instructor=True,
    details=f"DAYS runs from 0 to {RETENTION_MAX_DAYS}, counted from the close or the deadline. After that, "
    "the cohort keeps only anonymous totals for its report.",
    examples=('/dare cohort retention "Spring 2027" 90',),
)
def retention(ctx: Context, cmd: CohortRetention) -> Reply:
    cohort = ctx.cohort(cmd.name, instructor=True)
    cohort.retention_days = int(cmd.days)
    when = purge_at(ctx.session, cohort)
    tail = (
        f" With the term ending {term_end(ctx.session, cohort):%Y-%m-%d}, that is on "
        f"{when.astimezone(safe_zone(cohort.tz)):%Y-%m-%d}."
        if when
        else " The count starts when the cohort closes or its dare's deadline passes."
    )
    return text_reply(
        f"{cohort.name} keeps its participants' data {cmd.days} days after the term ends; then "
        f"only anonymous totals remain.{tail}",
        title="Retention set",
    )


@dataclass(frozen=True)
class Purged:
    cohorts: int = 0
    people: int = 0
    workspaces: int = 0


def purge_cohort(session: Session, cohort: Cohort, now: datetime) -> int:
    """Past retention: fold every participant into the anonymous totals and delete what is theirs in
    this cohort; people left in no cohort are erased entirely. Instructors keep their membership
    (they compare terms). Returns people erased."""
    since = dare_window_start(current_dare(session, pk(cohort)), cohort)
    fold_into_totals(session, cohort, participant_stats(session, cohort, since=since))
    members = list(session.exec(select(Membership).where(Membership.cohort_id == cohort.id)))
    dare_ids = list(session.exec(select(Dare.id).where(Dare.cohort_id == cohort.id)))
    from storage.models import Acceptance

    session.execute(delete(Story).where(col(Story.cohort_id) == pk(cohort)))
    if dare_ids:
        session.execute(delete(Acceptance).where(col(Acceptance.dare_id).in_(dare_ids)))
    for m in members:
        if m.is_instructor:
            m.is_participant = False
        else:
            session.delete(m)
    cohort.purged_at = now
    session.flush()
    erased = 0
    ws = session.get(Workspace, cohort.workspace_id)
    for m in members:
        if m.is_instructor:
            continue
        left = session.exec(
            select(func.count()).select_from(Membership).where(Membership.person_id == m.person_id)
        ).one()
        person = session.get(Person, m.person_id)
        if not left and person is not None and ws is not None:
            erase_person(session, ws, person)
            erased += 1
    return erased


def mark_uninstalled(session: Session, platform: str, external_id: str, now: datetime) -> bool:
    """The app was removed from a workspace: its data goes UNINSTALL_GRACE later unless it comes back."""
    ws = session.exec(
        select(Workspace).where(Workspace.platform == platform, Workspace.external_id == external_id)
    ).first()
    if ws is None:
        return False
    ws.uninstalled_at = ws.uninstalled_at or now
    return True


def purge_due(session: Session, now: datetime, *, platform: str | None = None) -> Purged:
    """The periodic job: cohorts past retention, workspaces uninstalled more than 30 days ago."""
    q = select(Cohort).where(Cohort.purged_at == None)  # noqa: E711
    if platform is not None:
        q = q.join(Workspace, col(Workspace.id) == col(Cohort.workspace_id)).where(Workspace.platform == platform)
    cohorts = people = 0
    for cid in [c.id for c in session.exec(q)]:
        cohort = session.get(Cohort, cid)  # fresh: an earlier purge detaches what it loaded
        when = purge_at(session, cohort) if cohort is not None else None
        if cohort is not None and when is not None and when <= now:
            people += purge_cohort(session, cohort, now)
            cohorts += 1
            session.commit()
    wq = select(Workspace).where(
        col(Workspace.uninstalled_at) != None,  # noqa: E711
        col(Workspace.uninstalled_at) <= now - UNINSTALL_GRACE,
    )
    if platform is not None:
        wq = wq.where(Workspace.platform == platform)
    gone = 0
    for ws in list(session.exec(wq)):
        log.info(
            "privacy: deleting the data of %s workspace %s, uninstalled on %s",
            ws.platform,
            ws.external_id,
            ws.uninstalled_at,
        )
        personal.delete_workspace(session, pk(ws), ws.external_id)
        session.expunge_all()
        session.commit()
        gone += 1
    if dangling := personal.delete_dangling(session):
        log.info("privacy: deleted %d outbox rows left for people or workspaces already deleted", dangling)
    session.commit()
    return Purged(cohorts, people, gone)
