"""A command's unit of work: one connection and one transaction, an ORM Session only when a command asks.

A log runs only Core statements, so it builds no Session and no objects; a command that adds rows
through the ORM gets a Session on the same transaction. Either way the command commits whole or, on
a refusal, not at all, on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Integer, bindparam, event, func, insert
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlmodel import select

from bot import registry
from bot.context import Context
from bot.errors import UsageError
from bot.registry import arg, command
from bot.replies import Reply, text_reply
from storage import direct
from storage.models import Interview, Outcome, Outreach, Person, ProcessedEvent, Story
from tests.fakes.chat import Chat


@pytest.fixture
def sessions() -> Iterator[list[Session]]:
    """Every ORM Session that opens a transaction while the test runs."""
    opened: list[Session] = []

    def seen(session: Session, _transaction: Any) -> None:
        if _transaction.parent is None:
            opened.append(session)

    event.listen(Session, "after_transaction_create", seen)
    try:
        yield opened
    finally:
        event.remove(Session, "after_transaction_create", seen)


def _keys(chat: Chat) -> int:
    with chat.db.session() as s:
        return s.exec(select(func.count()).select_from(ProcessedEvent)).one()


def _person(chat: Chat, user: str) -> Person:
    with chat.db.session() as s:
        return s.exec(select(Person).where(Person.external_id == user)).one()


def test_a_log_builds_no_session_and_writes_all_it_should(db_url: str, sessions: list[Session]) -> None:
    chat = Chat.with_contact(db_url, '/dare outreach "Ada"')
    chat.wait(days=2)
    keys = _keys(chat)
    sessions.clear()
    assert "Reverse interview #1 logged" in chat.ok("ann", '/dare log "Ada" --minutes 20')
    assert sessions == []
    now = chat.clock.now()
    with chat.db.session() as s:
        (interview,) = s.exec(select(Interview)).all()
        assert (interview.minutes, interview.held_on) == (20, now.date())
        assert s.exec(select(Outreach.status)).one() == "meeting"  # the attempt is answered
    assert _keys(chat) == keys + 1  # its double-submission key
    ann = _person(chat, "ann")
    assert ann.last_active_at == now
    assert ann.next_check_at == now  # the planner looks at her again


def test_a_log_with_outcomes_commits_its_core_and_its_orm_writes_together(db_url: str, sessions: list[Session]) -> None:
    chat = Chat.with_contact(db_url)
    sessions.clear()
    chat.ok("ann", '/dare log "Ada" --outcome advice --outcome referral')
    assert len(sessions) == 1  # the outcomes are ORM rows: a Session, on the command's own transaction
    with chat.db.session() as s:
        (interview,) = s.exec(select(Interview)).all()
        assert sorted(s.exec(select(Outcome.tag).where(Outcome.interview_id == interview.id))) == ["advice", "referral"]
    assert _person(chat, "ann").last_active_at == chat.clock.now()


@dataclass(frozen=True)
class Scribble:
    text: str = arg("TEXT", "What to write before refusing")


def scribble(ctx: Context, cmd: Scribble) -> Reply:
    """Writes through Core and through the ORM, then refuses: nothing of it may last."""
    ctx.sql(insert(ProcessedEvent).values(key="scribble:" + cmd.text, created_at=ctx.now))
    if cmd.text == "orm":
        ctx.session.add(Story(person_id=ctx.me_id, text="scribbled", consent="instructor", created_at=ctx.now))
        ctx.session.flush()
    if cmd.text == "me":
        ctx.me.aim = "growth"
        ctx.session.flush()
    raise UsageError("Not today.")


@pytest.fixture
def refusing() -> Iterator[None]:
    command("scribble", summary="Write, then refuse (a test).", writes=True)(scribble)
    try:
        yield
    finally:
        registry.unregister("scribble")


@pytest.mark.parametrize("what", ["core", "orm", "me"])
def test_a_refusal_after_writes_leaves_nothing(db_url: str, refusing: None, what: str) -> None:
    chat = Chat.with_contact(db_url)
    before = _person(chat, "ann")
    chat.wait(hours=1)
    assert "Not today." in chat.err("ann", f"/dare scribble {what}")
    with chat.db.session() as s:
        assert s.exec(select(ProcessedEvent).where(ProcessedEvent.key.startswith("scribble"))).all() == []  # type: ignore[attr-defined]
        assert s.exec(select(Story)).all() == []
    after = _person(chat, "ann")
    assert (after.aim, after.last_active_at, after.next_check_at) == (
        before.aim,
        before.last_active_at,
        before.next_check_at,
    )


@dataclass(frozen=True)
class Peek:
    pass


_PEEKED: list[tuple[Any, ...]] = []


def peek(ctx: Context, _cmd: Peek) -> Reply:
    """Reads the person as a row, then makes them an object."""
    row = ctx.sql(_PEEK_QUERY, person=ctx.me_id)[0]
    me = ctx.me  # made now, from the row the command began with
    _PEEKED.append((tuple(row), (me.id, me.display_name, me.tz), me in ctx.session, ctx.ws_id == ctx.ws.id))
    return text_reply("peeked")


_PEEK_QUERY = sa_select(Person.id, Person.display_name, Person.tz).where(
    Person.id == bindparam("person", type_=Integer())
)  # type: ignore[arg-type]


def test_the_person_made_an_object_midway_is_the_row_read_at_the_start(db_url: str) -> None:
    chat = Chat.with_contact(db_url)
    _PEEKED.clear()
    command("peek", summary="Look at myself (a test).", writes=False)(peek)
    try:
        chat.ok("ann", "/dare peek")
    finally:
        registry.unregister("peek")
    ((row, obj, held, same_ws),) = _PEEKED
    assert tuple(row) == obj
    assert held and same_ws


def test_a_new_name_from_the_platform_is_taken_on_a_log(db_url: str) -> None:
    """The platform's view (a changed display name) goes through the ORM objects, still in one command."""
    chat = Chat.with_contact(db_url)
    from bot.identity import Actor

    reply = chat.engine.handle_text(chat.ws, Actor("ann", "Ann Renamed"), '/dare log "Ada"')
    assert not reply.is_error, reply.plain_text()
    ann = _person(chat, "ann")
    assert (ann.display_name, ann.last_active_at, ann.next_check_at) == (
        "Ann Renamed",
        chat.clock.now(),
        chat.clock.now(),
    )


# -- the bind processors that remember their last conversions ---------------------------------------

_MOMENTS = [datetime(2026, 9, 7, 14, 0, tzinfo=UTC) + timedelta(minutes=7 * i) for i in range(4)]
_DAYS = [date(2026, 9, 7) + timedelta(days=i) for i in range(3)]


@given(st.lists(st.sampled_from([*_MOMENTS, *_DAYS, None]), max_size=30))
def test_remembered_conversions_are_the_conversions(values: list[Any]) -> None:
    """Whatever order the same objects come in, the remembering processor gives what the type's own does."""
    dialect = sqlite.dialect()
    for column in (Interview.__table__.c.created_at, Interview.__table__.c.held_on):  # type: ignore[attr-defined]
        remembered = direct._bind_processor(column.type, dialect)
        plain = column.type.dialect_impl(dialect).bind_processor(dialect)
        assert isinstance(remembered, direct._Recent)
        for v in values:
            if v is None or isinstance(v, datetime) == (column.name == "created_at"):
                assert remembered(v) == plain(v)
