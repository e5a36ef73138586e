"""The outbox's references the database does not enforce (migration 0013): export, erasure and workspace
deletion still follow them, and delivery deletes a row a sweep wrote for someone erased meanwhile."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Integer, Table, func, inspect, select
from sqlmodel import SQLModel

from bot.identity import Actor
from bot.nudges import planner
from storage import personal
from storage.db import open_database
from storage.models import Nudge, Person, refers_to
from tests.fakes.room import Room

START = datetime(2026, 10, 19, 14, 0, tzinfo=UTC)  # a Monday


def room(url: str) -> Room:
    r = Room(open_database(url), START)
    r.say("teach", "cohort create cs101 --deadline 2026-12-20 --tz UTC")
    for who in ("ann", "bob"):
        r.say(who, "cohort join cs101")
    r.say("teach", "start cs101")
    return r


def person_id(r: Room, who: str) -> int:
    with r.db.session() as s:
        found = s.execute(select(Person.id).where(Person.external_id == who)).scalar_one()  # type: ignore[call-overload]
        return int(found)


def nudges_of(r: Room, pid: int) -> int:
    with r.db.session() as s:
        return int(s.execute(select(func.count()).select_from(Nudge).where(Nudge.person_id == pid)).scalar_one())  # type: ignore[arg-type]


def test_the_schema_has_no_foreign_key_on_the_outbox_and_personal_follows_its_references() -> None:
    nudge = personal.tables()["nudge"]
    assert not nudge.foreign_keys
    assert {name for c in nudge.columns for name, _ in personal.edges(c)} == {"person", "workspace"}
    assert personal.owner_paths()["nudge"] == [("person_id", "person", "id")]
    order = [t.name for t in personal.sorted_tables()]
    assert order.index("workspace") < order.index("nudge") and order.index("person") < order.index("nudge")
    assert {ix.name for ix in nudge.indexes} == {"ix_nudge_pending", "ix_nudge_claimed", "ix_nudge_person_id"}


def test_a_declared_reference_counts_like_a_foreign_key_for_the_classification() -> None:
    md = SQLModel.metadata
    owned = Table(
        "tmp_declared_note",
        md,
        Column("id", Integer, primary_key=True),
        Column("person_id", Integer, **refers_to("person.id")),
    )
    sneaky = Table(
        "tmp_declared_sneaky",
        md,
        Column("id", Integer, primary_key=True),
        Column("author", Integer, **refers_to("person.id")),
    )
    broken = Table(
        "tmp_declared_broken",
        md,
        Column("id", Integer, primary_key=True),
        Column("person_id", Integer, **refers_to("persons.id")),
    )
    try:
        with pytest.raises(ValueError, match="persons.id"):
            personal.owner_paths()
        md.remove(broken)
        assert "tmp_declared_note" in personal.owner_paths()
        problems = personal.unclassified()
        assert any(p.startswith("tmp_declared_sneaky.author:") for p in problems)
        assert not any(p.startswith("tmp_declared_note") for p in problems)
    finally:
        for t in (owned, sneaky, broken):
            if t.name in md.tables:
                md.remove(t)


def test_the_migrated_outbox_has_no_foreign_keys(db_url: str) -> None:
    r = room(db_url)
    found = inspect(r.db.engine)
    assert found.get_foreign_keys("nudge") == []
    assert "ix_nudge_workspace_id" not in {ix["name"] for ix in found.get_indexes("nudge")}
    # The other tables keep theirs.
    assert {fk["referred_table"] for fk in found.get_foreign_keys("membership")} == {"cohort", "person"}
    r.db.dispose()


def test_a_row_swept_for_a_person_erased_meanwhile_is_deleted_at_delivery_not_sent(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep reads Ann's state, her erasure commits, then the sweep writes her rows: with no foreign
    key the write succeeds, and delivery deletes those rows instead of sending them."""
    r = room(db_url)
    ann, bob = person_id(r, "ann"), person_id(r, "bob")
    r.clock.advance(timedelta(days=1))  # the sweep now plans a not-accepted nudge each, due the next day
    r.say("ann", "forget-me")
    write = planner._write
    erased: list[str] = []

    def erase_then_write(*args: Any, **kwargs: Any) -> int:
        if not erased:
            erased.append(r.say("ann", "forget-me confirm"))  # its own session, committed at once
        return write(*args, **kwargs)

    monkeypatch.setattr(planner, "_write", erase_then_write)
    assert r.nudges.sweep() > 0
    monkeypatch.undo()
    assert erased and "deleted everything" in erased[0]
    with r.db.session() as s:
        assert s.get(Person, ann) is None
    assert nudges_of(r, ann) > 0  # the race happened: rows naming someone no longer there

    sent_before = len(r.messenger.sent)
    r.wait(days=10)  # every row planned for her falls due, and goes
    assert len(r.messenger.to("bob")) > sum(d.user == "bob" for d in r.messenger.sent[:sent_before])
    assert [d for d in r.messenger.sent[sent_before:] if d.user == "ann"] == []
    assert nudges_of(r, ann) == 0
    assert nudges_of(r, bob) > 0
    r.db.dispose()


def test_erasure_and_workspace_deletion_still_take_the_outbox_rows(db_url: str) -> None:
    r = room(db_url)
    other = Room(r.db, START, workspace="T2")
    other.clock = r.clock
    other.say("teach", "cohort create elsewhere --tz UTC")
    other.say("zed", "cohort join elsewhere")
    other.say("teach", "start elsewhere")
    r.wait(days=3)
    ann = person_id(r, "ann")
    exported = r.engine.handle_text(r.ws, Actor("ann", "Ann"), "mydata").file
    assert exported is not None and json.loads(exported.content)["tables"]["nudge"]
    assert nudges_of(r, ann) > 0
    r.say("ann", "forget-me")
    r.say("ann", "forget-me confirm")
    assert nudges_of(r, ann) == 0

    other.nudges.sweep()
    with r.db.session() as s:
        before = dict(s.execute(select(Nudge.workspace_id, func.count()).group_by(Nudge.workspace_id)).all())  # type: ignore[call-overload]
    assert len(before) == 2
    r.engine.uninstalled(r.ws)
    r.clock.advance(timedelta(days=31))
    assert r.nudges.purge().workspaces == 1
    with r.db.session() as s:
        after = dict(s.execute(select(Nudge.workspace_id, func.count()).group_by(Nudge.workspace_id)).all())  # type: ignore[call-overload]
    ws1 = min(before)
    assert ws1 not in after and after == {w: n for w, n in before.items() if w != ws1}
    r.db.dispose()


def test_the_periodic_purge_deletes_outbox_rows_left_for_people_or_workspaces_already_gone(db_url: str) -> None:
    """A sweep that wrote while a person was erased (or a workspace purged) can leave a row nothing would
    ever claim; the daily purge deletes it and keeps every row whose person and workspace exist."""
    from bot import privacy

    r = room(db_url)
    ann = person_id(r, "ann")
    with r.db.session() as s:
        ws = s.execute(select(Person.workspace_id).where(Person.id == ann)).scalar_one()  # type: ignore[call-overload]
        before = set(s.execute(select(Nudge.key)).scalars())  # type: ignore[call-overload]
        for key, ws_id, pid in (("kept", ws, ann), ("no-person", ws, 10**6), ("no-workspace", 10**6, ann)):
            s.add(Nudge(key=key, workspace_id=ws_id, person_id=pid, rule="digest", due_at=START, planned_at=START))
        s.commit()
    with r.db.session() as s:
        privacy.purge_due(s, START)
    with r.db.session() as s:
        after = set(s.execute(select(Nudge.key)).scalars())  # type: ignore[call-overload]
    assert after == before | {"kept"}
