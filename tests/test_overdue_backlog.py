"""Someone who turns nudges back on after a fortnight gets the most relevant overdue nudge, once, and
not the backlog: the one that goes carries the others' keys, and no later sweep releases them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from storage.db import Database
from storage.models import Nudge
from tests.fakes.room import Room

START = datetime(2026, 10, 19, 14, 0, tzinfo=UTC)  # a Monday


def _outbox(r: Room) -> list[Nudge]:
    with r.db.session() as s:
        return list(s.execute(select(Nudge).where(Nudge.person_id == 2)).scalars())


def _back_after_a_fortnight(db_url: str) -> tuple[Room, int]:
    """Ann writes to three people, turns nudges off for a fortnight, and back on; (the room, how many DMs
    she had before turning them back on)."""
    db = Database(db_url)
    db.upgrade()
    r = Room(db, START)
    r.say("teach", "cohort create cs101 --deadline 2026-12-11 --tz UTC")
    r.say("ann", "cohort join cs101")
    r.say("teach", "start cs101")
    r.say("ann", "accept")
    for name in ("Zed Q", "Yan P", "Xia R"):
        r.say("ann", f'contact "{name}"')
        r.say("ann", f'outreach "{name}"')
    r.say("ann", "settings nudges off")
    r.wait(days=14)
    quiet = len(r.messenger.to("ann"))
    r.say("ann", "settings nudges on")
    r.wait(hours=2)
    return r, quiet


def test_a_backlog_of_overdue_nudges_sends_one_and_keeps_the_rest_from_going(db_url: str) -> None:
    r, quiet = _back_after_a_fortnight(db_url)
    back = r.messenger.to("ann")[quiet:]
    assert [d.title for d in back] == ["Time to follow up with Zed Q"]  # the first of three, not all three
    went = [n for n in _outbox(r) if n.instead_of]
    assert [(n.key, n.status) for n in went] == [("2:follow-up:1:a2", "sent")]
    held = json.loads(went[0].instead_of or "[]")
    assert sorted(held) == ["2:follow-up:2:a2", "2:follow-up:3:a2", "2:gone-quiet:1:2026-10-19"]
    r.wait(days=3)
    assert not {n.key for n in _outbox(r)} & set(held)  # none of them planned since
    r.db.dispose()


def test_forgetting_the_contact_of_the_nudge_that_went_keeps_the_others_held(db_url: str) -> None:
    r, _ = _back_after_a_fortnight(db_url)
    r.say("ann", 'contact "Zed Q" --forget')
    rows = {n.key: n for n in _outbox(r)}
    assert "2:follow-up:1:a2" not in rows  # the nudge about Zed is gone with Zed
    assert [rows[k].status for k in ("2:follow-up:2:a2", "2:follow-up:3:a2", "2:gone-quiet:1:2026-10-19")] == [
        "dropped"
    ] * 3
    sent = len(r.messenger.to("ann"))
    r.wait(days=1)
    assert [d.title for d in r.messenger.to("ann")[sent:]] == []  # Yan and Xia are not chased now
    r.db.dispose()
