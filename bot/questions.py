"""The must-ask reverse-interview questions, grouped by what each one finds out.

Ids are short and stable (`v1`, `p2`, `m3`) so `/dare log ... --asked v1,m2` can record which were asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import UsageError


@dataclass(frozen=True)
class Question:
    id: str
    text: str


@dataclass(frozen=True)
class Group:
    key: str
    title: str
    why: str
    questions: tuple[Question, ...]


BANK: tuple[Group, ...] = (
    Group(
        "v",
        "What they value",
        "Find out what the people who decide actually care about.",
        (
            Question("v1", "What makes someone really valuable to you or your team?"),
            Question("v2", "What problem keeps coming back that you wish someone would take off your plate?"),
            Question("v3", "When you think of the best person you ever hired, what set them apart?"),
        ),
    ),
    Group(
        "p",
        "How they got there",
        "Learn the path, not just the destination.",
        (
            Question("p1", "How did you end up in this role? What would you skip if you did it again?"),
            Question("p2", "Which skill or habit mattered more than you expected?"),
            Question("p3", "Who helped you most along the way, and how did you meet them?"),
        ),
    ),
    Group(
        "m",
        "What they'd do in my place",
        "Turn their experience into your next step.",
        (
            Question("m1", "If you were starting out where I am now, what would you do first?"),
            Question("m2", "What would you want to see from someone like me in a year?"),
            Question("m3", "Who else should I talk to? May I mention your name?"),
        ),
    ),
)

QUESTION_IDS = {q.id: q for g in BANK for q in g.questions}


def check_ids(ids: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [i for i in ids if i not in QUESTION_IDS]
    if unknown:
        raise UsageError(
            f"Unknown question id {', '.join(unknown)[:40]}: ids are {', '.join(QUESTION_IDS)} (see /dare questions).",
            field="asked",
        )
    return ids


AIMS = ("job", "growth", "business")
# What to ask first depends on what the person is after...
_AIM_ORDER: dict[str | None, tuple[str, ...]] = {
    "job": ("v1", "v3", "m2", "p1", "m1", "v2", "p2", "p3", "m3"),
    "growth": ("v2", "p2", "m2", "v1", "p1", "m1", "p3", "v3", "m3"),
    "business": ("v2", "p1", "m1", "p3", "v1", "m2", "p2", "v3", "m3"),
    None: ("v1", "p1", "m1", "v2", "p2", "m2", "v3", "p3", "m3"),
}
# ...and on whom they are talking to: a decider's values, a future self's path, a business owner's moves.
_KIND_GROUP = {"decision-maker": "v", "future-self": "p", "business": "m", "recruiter": "v"}


def suggest(kind: str | None, aim: str | None, asked: set[str], n: int = 3) -> tuple[Question, ...]:
    """`n` must-ask questions not asked yet: one fitting the contact's kind first, then the aim's, one per group."""
    order = [q for q in _AIM_ORDER.get(aim, _AIM_ORDER[None]) if q not in asked]
    picks: list[str] = []
    lead = next((q for q in order if q[0] == _KIND_GROUP.get(kind or "", "")), None)
    if lead:
        picks.append(lead)
    for q in order:
        if len(picks) >= n:
            break
        if q not in picks and q[0] not in {p[0] for p in picks}:
            picks.append(q)
    for q in order:
        if len(picks) >= n:
            break
        if q not in picks:
            picks.append(q)
    return tuple(QUESTION_IDS[q] for q in picks)
