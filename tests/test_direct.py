"""storage.direct: a Core statement on the driver's cursor sends what SQLAlchemy sends and returns what
it returns, on both databases; and the log, which runs on it, leaves the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, event
from sqlalchemy import insert as sa_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot import dedupe
from bot.activity import _close_last_attempt, _insert_interview, _my_interviews, _running_query
from bot.context import _actor_query, _bookkeeping_update, _contact_query
from storage import direct
from storage.db import Database
from storage.models import Interview, Outcome, Outreach, Person, ProcessedEvent, Workspace
from tests.fakes.chat import Chat

NOW = datetime(2026, 10, 28, 15, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def chat(db_url: str) -> Iterator[Chat]:
    chat = Chat.with_contact(db_url, '/dare outreach "Ada"')
    try:
        yield chat
    finally:
        chat.db.dispose()


class Sent:
    """What reaches the driver's cursor (SQL and parameters), as the engine's listeners see it."""

    def __init__(self, db: Database) -> None:
        self.seen: list[tuple[str, Any]] = []
        event.listen(db.engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        self.seen.append((sql, params))

    def take(self) -> list[tuple[str, Any]]:
        out, self.seen = self.seen, []
        return out


def _ids(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        ann = s.exec(select(Person).where(Person.external_id == "ann")).one()
        contact = s.exec(select(col(Outreach.contact_id))).one()
        return ann.workspace_id, int(ann.id or 0), contact


def _both(db: Database, statement: Any, values: dict[str, Any], sent: Sent) -> tuple[list[Any], list[Any]]:
    """The statement through SQLAlchemy and through direct.run, each in a transaction rolled back:
    rows, and what each sent."""
    rows = []
    for through in ("sqlalchemy", "direct"):
        with Session(db.engine) as s:
            conn = s.connection()
            sent.take()
            if through == "sqlalchemy":
                result = conn.execute(statement, values)
                got = [tuple(r) for r in result.all()] if result.returns_rows else []
            else:
                got = [tuple(r) for r in direct.run(conn, statement, values)]
            rows.append((got, sent.take()))
            s.rollback()
    (a_rows, a_sent), (b_rows, b_sent) = rows
    assert b_sent == a_sent  # the same SQL and the same parameters, stored values included
    return a_rows, b_rows


def test_statements_send_and_return_what_sqlalchemy_does(chat: Chat) -> None:
    db = chat.db
    ws, ann, contact = _ids(db)
    sent = Sent(db)
    cases: list[tuple[Any, dict[str, Any]]] = [
        (_actor_query(), {"platform": "console", "workspace": "T1", "user": "ann"}),
        (_contact_query(), {"person": ann, "key": "ada"}),
        (_my_interviews(), {"person": ann}),
        (_running_query(), {"person": ann, "workspace": ws}),
        (_close_last_attempt(), {"contact": contact, "replied": date(2026, 10, 28), "meeting": date(2026, 10, 28)}),
        (
            _insert_interview(),
            {
                "person_id": ann,
                "contact_id": contact,
                "held_on": date(2026, 10, 27),
                "minutes": 15,
                "asked": "v1",
                "learned": None,
                "created_at": NOW,
            },
        ),
        (
            _bookkeeping_update(("last_active_at", "next_check_at")),
            {"person": ann, "new_last_active_at": NOW, "new_next_check_at": NOW - timedelta(days=1)},
        ),
        (dedupe._upsert(db.engine.dialect.name), {"new_key": "dedupe:x", "at": NOW, "cutoff": NOW - dedupe.WINDOW}),
    ]
    for statement, values in cases:
        through_sqlalchemy, through_driver = _both(db, statement, values, sent)
        if statement is not _insert_interview():  # a new id each time on PostgreSQL (sequences don't roll back)
            assert through_driver == through_sqlalchemy
        for a, b in zip(through_sqlalchemy, through_driver, strict=True):
            assert [type(v) for v in b] == [type(v) for v in a]  # dates, aware datetimes, booleans
    actor = _both(db, _actor_query(), cases[0][1], sent)[1][0]
    assert any(isinstance(v, datetime) and v.tzinfo is not None for v in actor)


def test_values_written_here_read_back_through_the_orm(chat: Chat) -> None:
    db = chat.db
    _, ann, contact = _ids(db)
    with db.session() as s:
        ((new_id,),) = direct.run(
            s.connection(),
            _insert_interview(),
            {
                "person_id": ann,
                "contact_id": contact,
                "held_on": date(2026, 10, 27),
                "minutes": None,
                "asked": "",
                "learned": "x",
                "created_at": NOW,
            },
        )
    with db.session() as s:
        row = s.get(Interview, new_id)
        assert row is not None
        assert (row.held_on, row.created_at, row.learned) == (date(2026, 10, 27), NOW, "x")
        # compared in SQL with a value bound by SQLAlchemy: stored the way SQLAlchemy stores it
        assert s.exec(select(col(Interview.id)).where(col(Interview.created_at) == NOW)).all() == [new_id]


def test_driver_errors_are_sqlalchemys(chat: Chat) -> None:
    db = chat.db
    with db.session() as s:
        s.add(ProcessedEvent(key="k", created_at=NOW))
    statement = sa_insert(ProcessedEvent).values(key=bindparam("key"), created_at=bindparam("at"))
    with pytest.raises(IntegrityError), db.session() as s:
        direct.run(s.connection(), statement, {"key": "k", "at": NOW})


def test_statements_needing_sqlalchemys_execution_are_refused(chat: Chat) -> None:
    # `asked` has a Python-side default, computed by SQLAlchemy's execution context when left out
    statement = sa_insert(Interview).values(
        person_id=bindparam("p"), contact_id=bindparam("c"), held_on=bindparam("d"), created_at=bindparam("at")
    )
    with pytest.raises(direct.Unsupported), Session(chat.db.engine) as s:
        direct.run(s.connection(), statement, {"p": 1, "c": 1, "d": date(2026, 1, 1), "at": NOW})
    expanding = select(col(Person.id)).where(col(Person.id).in_(bindparam("ids", expanding=True)))
    with pytest.raises(direct.Unsupported), Session(chat.db.engine) as s:
        direct.run(s.connection(), expanding, {"ids": [1, 2]})


def test_a_row_read_here_is_the_sessions_object_as_loaded(chat: Chat) -> None:
    db = chat.db
    with db.session() as s:
        row = direct.run(s.connection(), _actor_query(), {"platform": "console", "workspace": "T1", "user": "ann"})[0]
        n = len(direct.columns_of(Workspace))
        ws = direct.as_loaded(s, Workspace, row[:n])
        ann = direct.as_loaded(s, Person, row[n:-1])
        assert ann in s and ws in s and not s.dirty and not s.new
        assert s.get(Person, ann.id) is ann  # the identity map holds it: no second object, no query
        assert direct.as_loaded(s, Person, row[n:-1]) is ann
        loaded = {k: getattr(ann, k) for k in Person.model_fields}
        ann.tz = "Europe/Paris"  # a change is tracked, flushed and committed as for a loaded object
        assert ann in s.dirty
    with db.session() as s:
        fresh = s.exec(select(Person).where(Person.external_id == "ann")).one()
        # the change, and the planner's change mark its flush hook saw (the moment is None outside a command)
        assert (fresh.tz, fresh.next_check_at) == ("Europe/Paris", None)
        assert loaded["next_check_at"] is not None
        assert {k: getattr(fresh, k) for k in Person.model_fields if k not in ("tz", "next_check_at")} == {
            k: v for k, v in loaded.items() if k not in ("tz", "next_check_at")
        }


def test_the_log_on_the_driver_leaves_the_rows_the_orm_would(chat: Chat) -> None:
    chat.ok("ann", '/dare log "Ada" --minutes 20 --outcome advice --asked v1')
    with chat.db.session() as s:
        interview = s.exec(select(Interview)).one()
        assert (interview.minutes, interview.asked, interview.learned) == (20, "v1", None)
        assert s.exec(select(Outreach)).one().status == "meeting"
        ann = s.exec(select(Person).where(Person.external_id == "ann")).one()
        assert ann.next_check_at == ann.last_active_at is not None  # the planner's mark and the activity mark
        assert [o.tag for o in s.exec(select(Outcome).where(Outcome.interview_id == interview.id))] == ["advice"]
    chat.err("ann", '/dare log "Ada" --minutes 20 --outcome advice --asked v1')
    with chat.db.session() as s:
        assert len(s.exec(select(Interview)).all()) == 1


def test_parameters_as_sqlalchemy_takes_them(chat: Chat) -> None:
    _, ann, _ = _ids(chat.db)
    with_default = select(col(Person.external_id)).where(col(Person.id) == bindparam("p", value=ann))
    required = select(col(Person.external_id)).where(col(Person.id) == bindparam("p"))
    with Session(chat.db.engine) as s:
        conn = s.connection()
        assert [r[0] for r in direct.run(conn, with_default, {})] == ["ann"]  # the statement's own value
        other = ann - 1  # prof, who spoke first
        assert [r.external_id for r in direct.run(conn, with_default, {"p": other})] == ["prof"]  # the caller's wins
        with pytest.raises(KeyError):
            direct.run(conn, required, {})
