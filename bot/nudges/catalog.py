"""Every nudge, declared once: its name, priority, what it is exempt from, when it falls due, what it says.

A row of `RULES` is the whole of a nudge. The planner runs each row's `when` (bot.nudges.rules) and
names the candidates after the row; delivery orders by `priority`, honours `exempt_from` and renders
with `message` (bot.nudges.messages). A row whose `when` is None is planned by a command (the
announcement, a granted reward, a changed dare) and only needs a state for the person at send time.

Exemptions:
- "daily-cap" / "weekly-cap": not counted in, nor held back by, the per-person caps;
- "opt-out": still sent to someone who pressed "Stop these" or snoozed;
- "pause": still sent while the cohort is paused or in a quiet week.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from bot.nudges import messages as m
from bot.nudges import rules as r
from bot.nudges.policy import Policy
from bot.replies import Reply
from storage.models import Nudge

Exemption = Literal["daily-cap", "weekly-cap", "opt-out", "pause"]
Audience = Literal["participant", "instructor"]
When = Callable[[Any, datetime, Policy, r.Facts | None], Iterable[r.Due]]


@dataclass(frozen=True)
class NudgeRule:
    name: str
    priority: int  # when several wait for one person, the lowest goes first
    message: Callable[..., Reply]
    when: When | None = None
    exempt_from: frozenset[Exemption] = frozenset()
    audience: Audience = "participant"

    def candidates(
        self, state: r.ParticipantState | r.InstructorState, now: datetime, policy: Policy
    ) -> Iterator[r.Candidate]:
        if self.when is None:
            return
        for d in self.when(state, now, policy, None):
            yield r.Candidate(state.person_id, self.name, d.subject, d.period, d.due_at, d.expires_at)

    def exempt(self, what: Exemption) -> bool:
        return what in self.exempt_from

    def fits(self, state: r.ParticipantState | r.InstructorState) -> bool:
        return isinstance(state, r.InstructorState) == (self.audience == "instructor")


A_WORD = "a-word"
_DAILY_ONLY: frozenset[Exemption] = frozenset({"weekly-cap", "opt-out", "pause"})

# Every DM counts toward the one-a-day limit, digests included: a digest and a nudge never land on the
# same day (the nudge waits). Only the weekly cap spares the scheduled digests and announcements.
RULES: tuple[NudgeRule, ...] = (
    NudgeRule("dare-issued", 0, m.dare_issued, r.dare_issued, _DAILY_ONLY),
    NudgeRule("meeting-prep", 1, m.meeting_prep, r.meeting_prep),
    NudgeRule("meeting-check", 1, m.meeting_check, r.meeting_check),
    NudgeRule("thank-you", 2, m.thank_you, r.thank_you),
    NudgeRule("final-summary", 3, m.final_summary, r.final_summary, _DAILY_ONLY, audience="instructor"),
    NudgeRule("instructor-digest", 3, m.instructor_digest, r.instructor_digest, _DAILY_ONLY, audience="instructor"),
    NudgeRule("digest", 3, m.participant_digest, r.digest, frozenset({"weekly-cap"})),
    NudgeRule("dare-changed", 4, m.dare_changed, None, frozenset({"weekly-cap", "opt-out"})),
    NudgeRule("reward-granted", 4, m.reward_granted, None, frozenset({"weekly-cap", "opt-out", "pause"})),
    # Planned by an instructor's "Word to ..." button (bot.instructor); every cap and the opt-out apply.
    NudgeRule(A_WORD, 4, m.a_word, None),
    NudgeRule("deadline-near", 4, m.deadline_near, r.deadline_near),
    NudgeRule("follow-up", 5, m.follow_up, r.follow_up),
    NudgeRule("try-another", 5, m.try_another, r.try_another),
    NudgeRule("story-invite", 6, m.story_invite, r.story_invite),
    NudgeRule("not-accepted", 7, m.not_accepted, r.not_accepted),
    NudgeRule("no-outreach", 7, m.no_outreach, r.no_outreach),
    NudgeRule("close-loop", 9, m.close_loop, r.close_loop),
    NudgeRule("gone-quiet", 10, m.gone_quiet, r.gone_quiet),
    NudgeRule("recruiter-revisit", 11, m.recruiter_revisit, r.recruiter_revisit),
)
BY_NAME: dict[str, NudgeRule] = {rule.name: rule for rule in RULES}
assert len(BY_NAME) == len(RULES), "a nudge rule is declared twice"


_PRIORITY: dict[str, int] = {x.name: x.priority for x in RULES}


def rule(name: str) -> NudgeRule | None:
    return BY_NAME.get(name)


def priority(name: str) -> int:
    return _PRIORITY.get(name, 50)


def exempt(name: str, what: Exemption) -> bool:
    found = BY_NAME.get(name)
    return found is not None and found.exempt(what)


# The rules the sweep runs for each audience, in declaration order (the order of their candidates), without
# the command-planned ones: resolved once here instead of once per rule per person.
_SWEPT: dict[bool, tuple[tuple[str, When], ...]] = {
    instructor: tuple(
        (x.name, x.when) for x in RULES if x.when is not None and (x.audience == "instructor") == instructor
    )
    for instructor in (False, True)
}


# The participant rules worth calling for each shape of state (rules.NEEDS), in declaration order: a rule
# whose needs the state lacks would return nothing.
_BY_SHAPE: tuple[tuple[tuple[str, When], ...], ...] = tuple(
    tuple((name, when) for name, when in _SWEPT[False] if r.NEEDS.get(when, 0) & flags == r.NEEDS.get(when, 0))
    for flags in range(r.SHAPES)
)


def dues(
    state: r.ParticipantState | r.InstructorState, now: datetime, policy: Policy, clock: r.Clock | None = None
) -> list[tuple[str, r.Due]]:
    """Every rule's (name, Due) for one state (rules of the other audience are skipped), in declaration
    order; the rules share one Facts, so what several of them ask is worked out once. `clock`: the
    r.Clock of the state's dare and zone at `now` under `policy`, shared by a sweep between everyone on
    that pair (made here when not given). Rules that cannot yield for the state's shape are not called."""
    facts = r.Facts(state, now, policy, clock)
    swept = _SWEPT[True] if isinstance(state, r.InstructorState) else _BY_SHAPE[r.shape(state)]
    return [(name, d) for name, when in swept for d in when(state, now, policy, facts)]


def candidates(state: r.ParticipantState | r.InstructorState, now: datetime, policy: Policy) -> Iterator[r.Candidate]:
    """Every rule's candidates for one state (rules of the other audience are skipped)."""
    pid = state.person_id
    for name, d in dues(state, now, policy):
        yield r.Candidate(pid, name, d.subject, d.period, d.due_at, d.expires_at)


OVERDUE = timedelta(hours=12)


class OutboxRow(NamedTuple):
    """One row the sweep inserts into the outbox, its fields in the table's column order."""

    key: str
    workspace_id: int
    person_id: int
    rule: str
    subject: str
    due_at: datetime
    planned_at: datetime
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    instead_of: str | None = None


def one_overdue_per_person(rows: list[OutboxRow], now: datetime) -> list[OutboxRow]:
    """Rows found long after they fell due (nudges turned back on, a worker down for a day) are not released
    in a burst: of each person's overdue rows only the most relevant goes out, and it carries the others'
    keys (`instead_of`, a JSON list) so no later sweep releases them either. Rows due on time come first,
    then the kept overdue ones, each in the order given."""
    late = now - OVERDUE
    rank = _PRIORITY.get
    best: dict[int, OutboxRow] = {}
    out = []
    overdue = []
    for row in rows:
        if row[5] >= late:  # (due_at, by index: once per planned row)
            out.append(row)
            continue
        overdue.append(row)
        cur = best.get(row[2])
        if cur is None or (rank(row[3], 50), row[5]) < (rank(cur[3], 50), cur[5]):
            best[row[2]] = row
    others: dict[int, list[str]] = {}
    for row in overdue:
        if best[row[2]] is not row:
            others.setdefault(row[2], []).append(row[0])
    new = tuple.__new__
    for row in overdue:
        if best[row[2]] is row:
            instead = others.get(row[2])
            # (_replace, spelled out with tuple.__new__: it is several times slower)
            out.append(row if instead is None else new(OutboxRow, (*row[:10], json.dumps(instead))))
    return out


def still_valid(
    key: str, name: str, states: Iterable[r.ParticipantState | r.InstructorState], now: datetime, base: Policy
) -> r.ParticipantState | r.InstructorState | None:
    """At send time: the state whose rule still yields `key` (and has not expired), else None.

    A command-planned rule needs only a state of the right audience for the dare in its key."""
    x = BY_NAME.get(name)
    if x is None:
        return None
    for s in states:
        if not x.fits(s):
            continue
        if x.when is None:
            if r.event_matches(key, s):
                return s
            continue
        for c in x.candidates(s, now, base.for_dare(s.dare)):
            if c.key == key and (c.expires_at is None or now < c.expires_at):
                return s
    return None


def render(
    name: str,
    subject: str,
    period: str,
    state: r.ParticipantState | r.InstructorState,
    *,
    session: Session,
    now: datetime,
) -> Reply:
    x = BY_NAME.get(name)
    if x is None:
        return m.fallback()
    if x.audience == "instructor":
        return x.message(state, subject, period, now, session=session)
    return x.message(state, subject, period, now)


def reopen(session: Session, name: str, *, dare_id: int, now: datetime) -> int:
    """Let a once-per-dare nudge that has gone out (or lapsed) be planned again, now that the dare has moved
    (a later deadline brings a new final summary): its rows keep their history under an archived key, so
    the rule's own key is free. A row still waiting or in flight is left to the sweep as it is."""
    archived = func.substr(col(Nudge.key) + f"@{now:%Y%m%d%H%M%S}", 1, 200)
    result = session.execute(
        update(Nudge)
        .where(
            col(Nudge.rule) == name,
            col(Nudge.subject) == str(dare_id),
            col(Nudge.status).not_in(("pending", "claimed")),
        )
        .values(key=archived)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def hold_back(session: Session, workspace_id: int, person_id: int, keys: Iterable[str], now: datetime) -> None:
    """Keep overdue nudges from going, each as a "dropped" row of its own: what an overdue nudge that went
    instead of them held (`Nudge.instead_of`), when that nudge's row is deleted (its contact forgotten)."""
    rows = []
    for key in keys:
        _pid, rule, subject, _period = key.split(":", 3)
        rows.append(
            dict(
                key=key,
                workspace_id=workspace_id,
                person_id=person_id,
                rule=rule,
                subject=subject,
                due_at=now,
                planned_at=now,
                status="dropped",
                attempts=0,
                last_error="overdue: a more relevant nudge went instead",
            )
        )
    if rows:
        dialect = session.get_bind().dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Nudge)
        session.execute(ins.values(rows).on_conflict_do_nothing(index_elements=["key"]))


def plan_now(
    session: Session,
    name: str,
    *,
    workspace_id: int,
    person_ids: list[int],
    dare_id: int,
    event: str,
    now: datetime,
    supersede: bool = False,
) -> int:
    """Put a command-planned nudge in the outbox for each person, due now (delivery still applies the caps).

    `supersede` drops the same rule's earlier rows for this dare that have not gone out yet: after two quick
    changes a person hears once, about the latest."""
    x = BY_NAME[name]
    assert x.when is None, f"{name} is planned by the sweep"
    if not person_ids:
        return 0
    if supersede:
        # a row with this very key stays: it renders the dare as it is when it goes out
        keep = [r.nudge_key(pid, name, dare_id, event) for pid in person_ids]
        session.execute(
            update(Nudge)
            .where(
                col(Nudge.rule) == name,
                col(Nudge.subject) == str(dare_id),
                col(Nudge.status) == "pending",
                col(Nudge.person_id).in_(person_ids),
                col(Nudge.key).not_in(keep),
            )
            .values(status="dropped", last_error="superseded by a later change")
        )

    rows = [
        dict(
            key=r.nudge_key(pid, name, dare_id, event),
            workspace_id=workspace_id,
            person_id=pid,
            rule=name,
            subject=str(dare_id),
            due_at=now,
            planned_at=now,
            status="pending",
            attempts=0,
        )
        for pid in person_ids
    ]
    dialect = session.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Nudge)
    session.execute(ins.values(rows).on_conflict_do_nothing(index_elements=["key"]))
    return len(rows)
