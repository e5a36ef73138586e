"""Per-participant numbers for a cohort: one set of queries feeds the board, report, export and nudges."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median

from sqlalchemy import and_, case, func
from sqlmodel import Session, select

from bot.coaching import BASELINE
from bot.dates import safe_zone
from bot.scoring import score
from storage.models import (Acceptance, Cohort, Contact, Dare, ForgottenActivity, Interview, Membership, Outcome,
                            Outreach, Person, RecruiterCall, Story)


@dataclass
class ParticipantStats:
    person: Person
    joined_at: datetime
    accepted_at: datetime | None = None
    contacts: int = 0
    deciders: int = 0
    attempts: int = 0
    first_attempts: int = 0
    follow_ups: int = 0
    later_attempts: int = 0
    reached: int = 0
    replied: int = 0
    meetings: int = 0
    interviews: int = 0
    decider_interviews: int = 0
    stories: int = 0
    rewards_pending: int = 0
    recruiter_calls: int = 0
    recruiter_steps: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    first_reply_attempts: list[int] = field(default_factory=list)
    last_activity: datetime | None = None

    @property
    def score(self) -> int:
        return score(interviews=self.interviews, decider_interviews=self.decider_interviews,
                     first_attempts=self.first_attempts, follow_ups=self.follow_ups,
                     later_attempts=self.later_attempts, stories=self.stories, recruiter_steps=self.recruiter_steps)

    def touch(self, moment: datetime | None) -> None:
        if moment is not None and (self.last_activity is None or moment > self.last_activity):
            self.last_activity = moment


STALL_DAYS = 7  # a week without a step counts as stalled


def is_stalled(s: ParticipantStats, now: datetime, goal: int) -> bool:
    """Short of the goal, reachable, and either never accepted or a week without a step."""
    if s.interviews >= goal or s.person.unreachable_at is not None:
        return False
    return s.accepted_at is None or s.last_activity is None or s.last_activity < now - timedelta(days=STALL_DAYS)


def dare_window_start(dare: Dare | None, cohort: Cohort) -> date | None:
    """Activity counts from the day the current dare was issued, on the cohort's calendar."""
    if dare is None:
        return None
    return dare.starts_at.astimezone(safe_zone(cohort.tz)).date()


def current_dare(session: Session, cohort_id: int) -> Dare | None:
    return session.exec(select(Dare).where(Dare.cohort_id == cohort_id)
                        .order_by(Dare.created_at.desc(), Dare.id.desc())).first()  # type: ignore[union-attr]


def participant_stats(session: Session, cohort: Cohort, *, since: date | None = None, until: date | None = None,
                      only: int | None = None) -> list[ParticipantStats]:
    """Stats for every participant of a cohort (or `only` one), counting activity within [since, until]."""
    query = (select(Person, Membership.joined_at).join(Membership, Membership.person_id == Person.id)
             .where(Membership.cohort_id == cohort.id, Membership.is_participant == True)  # noqa: E712
             .order_by(Membership.joined_at, Person.id))
    if only is not None:
        query = query.where(Person.id == only)
    rows = session.exec(query).all()
    by_id: dict[int, ParticipantStats] = {p.id: ParticipantStats(person=p, joined_at=j) for p, j in rows}  # type: ignore[misc]
    if not by_id:
        return []
    ids = list(by_id)

    def in_range(col):  # type: ignore[no-untyped-def]
        conds = []
        if since is not None:
            conds.append(col >= since)
        if until is not None:
            conds.append(col <= until)
        return and_(True, *conds)

    dare = current_dare(session, cohort.id)  # type: ignore[arg-type]
    if dare is not None:
        for pid, at in session.exec(select(Acceptance.person_id, Acceptance.accepted_at)
                                    .where(Acceptance.dare_id == dare.id, Acceptance.person_id.in_(ids))):  # type: ignore[union-attr]
            by_id[pid].accepted_at = at
            by_id[pid].touch(at)

    for pid, n, deciders, last in session.exec(
            select(Contact.person_id, func.count(), func.sum(case((Contact.can_decide == True, 1), else_=0)),  # noqa: E712
                   func.max(Contact.created_at))
            .where(Contact.person_id.in_(ids)).group_by(Contact.person_id)):  # type: ignore[union-attr]
        s = by_id[pid]
        s.contacts, s.deciders = n, int(deciders or 0)
        s.touch(last)

    for pid, contact_id, attempt_no, status, created in session.exec(
            select(Outreach.person_id, Outreach.contact_id, Outreach.attempt_no, Outreach.status, Outreach.created_at)
            .where(Outreach.person_id.in_(ids), in_range(Outreach.sent_on))  # type: ignore[union-attr]
            .order_by(Outreach.contact_id, Outreach.attempt_no)):
        s = by_id[pid]
        s.attempts += 1
        if attempt_no == 1:
            s.first_attempts += 1
        elif attempt_no <= 3:
            s.follow_ups += 1
        else:
            s.later_attempts += 1
        s.touch(created)
    # Per contact: reached, replied, and on which attempt the first answer came.
    contact_rows = session.exec(
        select(Outreach.person_id, Outreach.contact_id, func.min(case((Outreach.status != "no-reply", Outreach.attempt_no))),
               func.max(case((Outreach.status == "meeting", 1), else_=0)))
        .where(Outreach.person_id.in_(ids), in_range(Outreach.sent_on))  # type: ignore[union-attr]
        .group_by(Outreach.person_id, Outreach.contact_id)).all()
    for pid, _cid, first_reply, meeting in contact_rows:
        s = by_id[pid]
        s.reached += 1
        if first_reply is not None:
            s.replied += 1
            s.first_reply_attempts.append(int(first_reply))
        s.meetings += int(meeting or 0)

    for pid, n, dec, last in session.exec(
            select(Interview.person_id, func.count(), func.sum(case((Contact.can_decide == True, 1), else_=0)),  # noqa: E712
                   func.max(Interview.created_at))
            .join(Contact, Contact.id == Interview.contact_id)
            .where(Interview.person_id.in_(ids), in_range(Interview.held_on))  # type: ignore[union-attr]
            .group_by(Interview.person_id)):
        s = by_id[pid]
        s.interviews, s.decider_interviews = n, int(dec or 0)
        s.touch(last)
    for pid, tag, n in session.exec(
            select(Interview.person_id, Outcome.tag, func.count()).join(Outcome, Outcome.interview_id == Interview.id)
            .where(Interview.person_id.in_(ids), in_range(Interview.held_on))  # type: ignore[union-attr]
            .group_by(Interview.person_id, Outcome.tag)):
        by_id[pid].outcomes[tag] += n

    for pid, n, pending, last in session.exec(
            select(Story.person_id, func.count(), func.sum(case((Story.reward_granted_at == None, 1), else_=0)),  # noqa: E711
                   func.max(Story.created_at))
            .where(Story.person_id.in_(ids), Story.cohort_id == cohort.id)  # type: ignore[union-attr]
            .group_by(Story.person_id)):
        s = by_id[pid]
        s.stories, s.rewards_pending = n, int(pending or 0)
        s.touch(last)

    for call in session.exec(select(RecruiterCall).where(RecruiterCall.person_id.in_(ids),  # type: ignore[union-attr]
                                                         in_range(RecruiterCall.occurred_on))):
        s = by_id[call.person_id]
        s.recruiter_calls += 1
        s.recruiter_steps += (bool(call.asked) + (call.answer in ("yes", "no")) + call.connected + call.referred)
        s.touch(call.created_at)

    # A contact forgotten with `/dare contact NAME --forget` left its counts behind, without a name.
    for kept in session.exec(select(ForgottenActivity).where(ForgottenActivity.person_id.in_(ids),  # type: ignore[attr-defined]
                                                             in_range(ForgottenActivity.counted_from))):
        s = by_id[kept.person_id]
        for name in FORGOTTEN_COUNTS:
            setattr(s, name, getattr(s, name) + getattr(kept, name))
        for part in filter(None, kept.outcomes.split(";")):
            tag, _, n = part.partition("=")
            s.outcomes[tag] += int(n or 0)
    return list(by_id.values())


FORGOTTEN_COUNTS = ("attempts", "first_attempts", "follow_ups", "later_attempts", "reached", "replied", "meetings",
                    "interviews", "decider_interviews")


def ranked(stats: list[ParticipantStats]) -> list[tuple[int, ParticipantStats]]:
    """Rank by score, then interviews, then follow-ups; ties share a rank and keep join order."""
    ordered = sorted(stats, key=lambda s: (-s.score, -s.interviews, -s.follow_ups))  # sorted() is stable
    out: list[tuple[int, ParticipantStats]] = []
    for i, s in enumerate(ordered):
        if out and (s.score, s.interviews, s.follow_ups) == (out[-1][1].score, out[-1][1].interviews,
                                                             out[-1][1].follow_ups):
            out.append((out[-1][0], s))
        else:
            out.append((i + 1, s))
    return out


@dataclass(frozen=True)
class Funnel:
    size: int
    accepted: int
    reached_out: int
    interviewed: int
    goal_met: int

    @staticmethod
    def pct(n: int, d: int) -> float:
        return n / d if d else 0.0

    @property
    def take_up(self) -> float:
        """The headline: share of participants who did at least one reverse interview."""
        return self.pct(self.interviewed, self.size)

    @property
    def vs_baseline(self) -> float:
        return self.take_up / BASELINE

    def headline(self) -> str:
        """The report's first line: take-up against the baseline (about 1 in 20)."""
        if not self.size:
            return "No participants yet."
        return (f"Take-up: {self.interviewed} of {self.size} ({round(100 * self.take_up)}%) did at least one "
                f"reverse interview, {self.vs_baseline:.1f}x the {round(BASELINE * 100)}% baseline (about 1 in 20).")


def funnel(stats: list[ParticipantStats], goal: int) -> Funnel:
    return Funnel(size=len(stats), accepted=sum(s.accepted_at is not None for s in stats),
                  reached_out=sum(s.attempts > 0 for s in stats), interviewed=sum(s.interviews > 0 for s in stats),
                  goal_met=sum(s.interviews >= goal for s in stats))


def attempts_before_reply(stats: list[ParticipantStats]) -> float | None:
    firsts = [a for s in stats for a in s.first_reply_attempts]
    return float(median(firsts)) if firsts else None
