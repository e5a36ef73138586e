"""The outbox's partial indexes (migration 0015) serve the claim: its status comparisons must stay literals,
or SQLite and PostgreSQL's generic plans silently stop using them and scan the whole outbox."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event, inspect

from storage.models import Nudge, nudge_status_is
from tests.fakes.room import Room
from tests.test_outbox_fk import room as _room  # a started cohort of two


def _claim_statement(r: Room) -> tuple[str, Any]:
    """The SELECT a claim runs, as the driver gets it, and its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(r.db.engine, "before_cursor_execute", record)
    try:
        r.nudges.delivery.claim(10)
    finally:
        event.remove(r.db.engine, "before_cursor_execute", record)
    selects = [(s, p) for s, p in seen if s.lstrip().startswith("SELECT") and "FROM nudge" in s]
    assert len(selects) == 1, seen
    return selects[0]


def _plans(r: Room, statement: str, parameters: Any) -> list[str]:
    """The claim's plan: SQLite's; on PostgreSQL the custom plan and the generic plan a prepared statement
    gets after five executions (forced here), with sequential scans off so a tiny table still shows
    which index the planner can use."""
    raw = r.db.engine.raw_connection()
    try:
        cur = raw.cursor()
        if r.db.is_sqlite:
            cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            return ["\n".join(row[-1] for row in cur.fetchall())]
        import psycopg

        cur.execute("SET enable_seqscan = off")
        cur.execute("EXPLAIN " + statement, parameters)
        custom = "\n".join(row[0] for row in cur.fetchall())
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
        numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", statement)
        cur.execute(f"PREPARE claim_q AS {numbered}")
        cur.execute("SET plan_cache_mode = force_generic_plan")
        client = psycopg.ClientCursor(raw.driver_connection)  # type: ignore[arg-type]
        client.execute(f"EXPLAIN EXECUTE claim_q({', '.join(['%s'] * len(names))})", [parameters[n] for n in names])
        generic = "\n".join(row[0] for row in client.fetchall())
        assert "$1" in generic  # it is the generic plan: the parameters stayed parameters
        return [custom, generic]
    finally:
        raw.rollback()
        raw.close()


def test_the_claim_uses_the_partial_indexes(db_url: str) -> None:
    r = _room(db_url)
    statement, parameters = _claim_statement(r)
    assert "status = 'pending'" in statement and "status = 'claimed'" in statement, statement
    for plan in _plans(r, statement, parameters):
        assert "ix_nudge_pending" in plan and "ix_nudge_claimed" in plan, plan
    r.db.dispose()


def test_the_schema_declares_the_partial_indexes(db_url: str) -> None:
    r = _room(db_url)
    found = {ix["name"]: ix for ix in inspect(r.db.engine).get_indexes("nudge")}
    assert "ix_nudge_due" not in found
    key = "sqlite_where" if r.db.is_sqlite else "postgresql_where"
    for name, column, status in (
        ("ix_nudge_pending", "due_at", "pending"),
        ("ix_nudge_claimed", "claimed_until", "claimed"),
    ):
        assert found[name]["column_names"] == [column]
        assert status in str(found[name]["dialect_options"][key])
    r.db.dispose()


def test_only_indexed_statuses_are_compared_as_literals() -> None:
    assert str(nudge_status_is("pending").compile()) == "nudge.status = 'pending'"
    with pytest.raises(ValueError):
        nudge_status_is("sent")
    assert {ix.name for ix in Nudge.__table__.indexes} == {  # type: ignore[attr-defined]
        "ix_nudge_pending",
        "ix_nudge_claimed",
        "ix_nudge_person_id",
    }
