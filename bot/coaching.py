"""The coach's substance: guidance, the next step, and the recruiter-call playbook, in darebot's own words."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

BASELINE = 0.05  # about 1 in 20 people told of the reverse interview ever try one
PERSISTENCE_ATTEMPTS = 3  # many busy people answer only on the third try

DARE_PITCH = ("Talk to someone who is where you'd love to be in a few years. Not a job interview: "
              "you ask the questions, they tell their story. Fifteen minutes is plenty.")

DECIDER_TIP = ("Tip: aim for people who can decide: the one who can hire, not just anyone in the building. "
               "Mark them with --decides.")

PERSISTENCE_TIP = ("No answer is normal. Busy people often reply only to the second or third message, "
                   "so follow up a few days apart before you move on.")

MOVE_ON_TIP = ("Three tries without an answer: time to line up someone else, ideally someone who can hire. "
               "You can still go back to this one later.")

DECLINED_TIP = "A no is information, not a verdict. Thank them, and pick the next name on your list."

RECRUITER_STEPS: tuple[tuple[str, str], ...] = (
    ("qualify", "Qualify it: ask why the role is open and why they think you fit, before you decide anything."),
    ("answer", "Give a straight answer: yes, no, or 'not this, but...' so nobody's time is wasted."),
    ("connect", "Keep the connection: ask to stay in touch, e.g. on LinkedIn. Recruiters know everybody."),
    ("help", "Offer help: if it isn't for you, maybe it's for someone you know."),
)

NO_IS_NOT_FOREVER = ("A no today isn't a no forever: a recruiter you treated well may call again with the role "
                     "you do want.")


def recruiter_steps_done(asked: tuple[str, ...] | list[str], answer: str | None, connected: bool,
                         referred: bool) -> dict[str, bool]:
    """Which of the four playbook steps a recorded call covered."""
    return {"qualify": bool(asked), "answer": answer in ("yes", "no"), "connect": connected, "help": referred}


# Read-only members, so frozen dataclasses (the nudge planner's snapshots) fit as well as table rows.
class ContactLike(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def can_decide(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...


class AttemptLike(Protocol):
    @property
    def contact_id(self) -> int: ...
    @property
    def attempt_no(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def sent_on(self) -> date: ...


def latest_attempts(attempts: Iterable[AttemptLike]) -> dict[int, AttemptLike]:
    """Each contact's most recent attempt."""
    latest: dict[int, AttemptLike] = {}
    for a in attempts:
        cur = latest.get(a.contact_id)
        if cur is None or a.attempt_no > cur.attempt_no:
            latest[a.contact_id] = a
    return latest


def open_follow_ups(attempts: Iterable[AttemptLike], interviewed: set[int]) -> list[AttemptLike]:
    """Contacts still unanswered and short of the persistence norm, oldest attempt first."""
    open_ = [a for a in latest_attempts(attempts).values()
             if a.status == "no-reply" and a.attempt_no < PERSISTENCE_ATTEMPTS and a.contact_id not in interviewed]
    return sorted(open_, key=lambda a: (a.sent_on, a.contact_id))


def fresh_target(contacts: Iterable[ContactLike], attempts: Iterable[AttemptLike], *,
                 exclude: int | None = None) -> ContactLike | None:
    """Someone not tried yet, a person who can decide first."""
    tried = {a.contact_id for a in attempts}
    fresh = [c for c in contacts if c.id not in tried and c.id != exclude]
    fresh.sort(key=lambda c: (not c.can_decide, c.created_at, c.id or 0))
    return fresh[0] if fresh else None


ADD_SOMEONE = 'Add someone new, ideally a person who can hire: /dare contact "FULL NAME" --decides'


def next_target_text(contacts: Iterable[ContactLike], attempts: Iterable[AttemptLike], *,
                     exclude: int | None = None) -> str:
    target = fresh_target(list(contacts), list(attempts), exclude=exclude)
    if target is None:
        return ADD_SOMEONE + "."
    why = " They can hire, which is even better." if target.can_decide else ""
    return f'Next on your list: {target.name}. Reach out, then record it: /dare outreach "{target.name}".{why}'


def next_step(contacts: Sequence[ContactLike], attempts: Sequence[AttemptLike], interviewed: set[int], *, today: date,
              followup_days: int) -> str:
    """The one concrete thing to do next: the coach's advice in /dare progress and in digests."""
    if not contacts:
        return ('Name one person who is where you want to be in a few years: /dare contact "FULL NAME" '
                "--title T --org O (add --decides if they can hire).")
    names = {c.id: c.name for c in contacts}
    waiting = open_follow_ups(attempts, interviewed)
    due = [a for a in waiting if a.sent_on + timedelta(days=followup_days) <= today]
    if due:
        a = due[0]
        name = names.get(a.contact_id, "your contact")
        return (f"Follow up with {name} (attempt {a.attempt_no + 1}; the last was on {a.sent_on}), "
                f'then /dare outreach "{name}".')
    if fresh_target(contacts, attempts) is not None:
        return next_target_text(contacts, attempts)
    if waiting:
        a = waiting[0]
        when = a.sent_on + timedelta(days=followup_days)
        return (f"Waiting on {names.get(a.contact_id, 'your contact')}: follow up on {when} if there's no answer. "
                f"Meanwhile: {ADD_SOMEONE[0].lower()}{ADD_SOMEONE[1:]}.")
    return ADD_SOMEONE + "."
