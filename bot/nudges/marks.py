"""Change marks for the incremental sweep: whatever changes a person's nudge state makes them due.

A `before_flush` hook on every ORM session sets `Person.next_check_at` to the moment of the change
(`session.info["now"]`, set by the engine; NULL, "never looked at", otherwise) in the same
transaction as the change, so the next sweep plans for exactly the people who changed plus those
whose next time threshold has passed. A cohort-wide change (a dare issued or edited, the cohort's
zone, closing it) marks all its members with one UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session

from storage.models import (Acceptance, Cohort, Contact, Dare, Interview, Membership, Outreach, Person, RecruiterCall,
                            Story)

# Rows the nudge rules read, by the person they belong to.
_PERSON_ROWS = (Acceptance, Contact, Outreach, Interview, Story, RecruiterCall, Membership)
# Person columns that do not change what gets planned.
_QUIET_COLUMNS = frozenset({"last_active_at", "display_name", "next_check_at"})
NOW_KEY = "now"


def _changed(obj: Person) -> bool:
    state = inspect(obj)
    return any(attr.history.has_changes() for attr in state.attrs if attr.key not in _QUIET_COLUMNS)


def _mark(session: Session, _flush_context: Any, _instances: Any) -> None:
    people: set[int] = set()
    cohorts: set[int] = set()
    loaded: list[Person] = []
    for obj in _touched(session):
        if isinstance(obj, Person):
            if obj.id is not None and (obj in session.deleted or _changed(obj)):
                loaded.append(obj)
        elif isinstance(obj, _PERSON_ROWS):
            if obj.person_id is not None:
                people.add(obj.person_id)
        elif isinstance(obj, Dare):
            cohorts.add(obj.cohort_id)
        elif isinstance(obj, Cohort) and obj.id is not None:
            cohorts.add(obj.id)
    if not (people or cohorts or loaded):
        return
    now: datetime | None = session.info.get(NOW_KEY)
    for p in loaded:
        p.next_check_at = now
    # People already in the session take the mark in the UPDATE they get anyway (the actor's does).
    rest = set(people)
    for pid in people:
        p = session.identity_map.get(inspect(Person).identity_key_from_primary_key((pid,)))
        if p is not None:
            p.next_check_at = now  # type: ignore[attr-defined]
            rest.discard(pid)
    conn = session.connection()
    if rest:
        conn.execute(update(Person).where(Person.id.in_(rest)).values(next_check_at=now))  # type: ignore[union-attr]
    if cohorts:
        members = select(Membership.person_id).where(Membership.cohort_id.in_(cohorts))  # type: ignore[attr-defined]
        conn.execute(update(Person).where(Person.id.in_(members)).values(next_check_at=now))  # type: ignore[union-attr]


def _touched(session: Session) -> Iterable[object]:
    yield from session.new
    yield from session.dirty
    yield from session.deleted


_installed = False


def install() -> None:
    """Hook every ORM session in this process (idempotent)."""
    global _installed
    if not _installed:
        event.listen(Session, "before_flush", _mark)
        _installed = True


install()
