"""A refused command writes nothing, on SQLite and PostgreSQL: every table is compared whole.

On SQLite the pysqlite driver's own transaction handling made SAVEPOINTs (session.begin_nested) outlive
the outer rollback, so a refused command still left a `person` (or `workspace`) row behind.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlmodel import SQLModel

from tests.fakes.chat import Chat
from tests.test_properties import LINES


def dump(chat: Chat) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with chat.db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def _class(url: str) -> Chat:
    chat = Chat.open(url)
    chat.ok("prof", "/dare cohort create CS101")
    chat.ok("ann", "/dare cohort join CS101")
    chat.ok("prof", "/dare start")
    chat.ok("ann", '/dare contact "Ada"')
    return chat


REFUSED = [
    ("mallory", "/dare report CS101"),  # a new speaker refused an instructor-only command
    ("ann", "/dare report CS101"),
    ("ann", "/dare reward <@UNOBODY|nobody>"),  # the reward target would be created on first sight
    ("ann", "/dare reward @nobody"),
    ("newbie", "/dare reward @nobody"),
    ("prof", "/dare reward @nobody"),  # an instructor, but nobody has a story
    ("newbie", "/dare board NOPE"),
    ("newbie2", '/dare log "Nobody"'),
    ("ann", "/dare cohort create CS101"),  # a duplicate name
]


@pytest.mark.parametrize("speaker,line", REFUSED)
def test_a_refusal_leaves_every_table_as_it_was(db_url: str, speaker: str, line: str) -> None:
    chat = _class(db_url)
    try:
        before = dump(chat)
        chat.err(speaker, line)
        assert dump(chat) == before
    finally:
        chat.db.dispose()


def test_sqlite_savepoint_rolls_back_with_the_outer_transaction(tmp_path) -> None:  # type: ignore[no-untyped-def]
    chat = Chat.open(f"sqlite:///{tmp_path}/sp.sqlite3")
    try:
        with pytest.raises(RuntimeError), chat.db.session() as s:
            with s.begin_nested():
                s.execute(text("INSERT INTO lease (name, holder, expires_at) VALUES ('x', 'y', '2026-01-01')"))
            raise RuntimeError("refused")
        with chat.db.session() as s:
            assert s.execute(text("SELECT count(*) FROM lease")).scalar_one() == 0
            # the pragmas still apply on the connection opened with the workaround
            assert s.execute(text("PRAGMA journal_mode")).scalar_one().lower() == "wal"
            assert s.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        chat.db.dispose()


_CHATS: dict[str, Chat] = {}

SPEAKERS = st.sampled_from(["ann", "prof", "stranger"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(speaker=SPEAKERS, line=LINES)
def test_property_any_refusal_writes_nothing(db_url: str, speaker: str, line: str) -> None:
    chat = _CHATS.get(db_url)
    if chat is None:
        chat = _CHATS[db_url] = _class(db_url)
    before = dump(chat)
    reply = chat.say(speaker, "/dare " + line)
    if reply.is_error:
        assert reply.ephemeral
        assert dump(chat) == before
