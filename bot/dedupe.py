"""Double submissions: the same write command from the same person, moments apart, is recorded once.

A person who presses Enter twice, or whose client re-sends, would otherwise save two stories or two
outreach attempts. The rule keys on the parsed command (so spacing, quoting and option order don't
matter), the person and the workspace, and holds for WINDOW by the injected clock. The key is written
in the command's own transaction: a refused command leaves no key and can be sent again at once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import Session, col

from bot import commands as c
from bot import registry
from bot.context import Context
from bot.errors import DareError
from storage.models import ProcessedEvent

WINDOW = timedelta(seconds=10)
PREFIX = "dedupe:"
# ';' sorts right after ':', so [PREFIX, _END) is every dedupe key, and the primary key index serves it.
_END = "dedupe;"

ALREADY_POSTED = "That was already posted from this message."


class AlreadyRecorded(DareError):
    """The same command arrived a moment ago and was recorded then."""

    def __init__(self) -> None:
        super().__init__("Already recorded: you sent this same command a moment ago, so it was saved once.")


def is_write(command: object) -> bool:
    """Whether repeating the command would store something twice (its registry declaration says)."""
    try:
        spec = registry.spec_of(command)
    except KeyError:
        return False
    if isinstance(command, c.Board):
        return command.post  # posting the board in the channel twice is a double post
    if isinstance(command, c.ChangeSettings) and command.key is None:
        return False  # showing the settings
    return spec.writes


def posts_publicly(action: str) -> bool:
    """A button whose answer goes to the channel: it acts once per message it sits on (adapters key
    their idempotency on the message, not on the click)."""
    spec = registry.action_for(action)
    return bool(spec and spec.posts_publicly)


def key_for(ctx: Context, command: object) -> str:
    digest = hashlib.sha256(f"{ctx.ws_id}\x1f{ctx.me_id}\x1f{command!r}".encode()).hexdigest()
    return PREFIX + digest[:48]


def once(ctx: Context, command: object) -> None:
    """Raise AlreadyRecorded when this person sent this very write command within WINDOW.

    One statement: insert the key, or take over a key older than WINDOW; a key still inside the
    window comes back empty from RETURNING (row counts are unreliable for upserts on SQLite).
    """
    if not is_write(command):
        return
    stmt = _upsert(ctx.unit.conn.dialect.name)
    if not ctx.sql(stmt, new_key=key_for(ctx, command), at=ctx.now, cutoff=ctx.now - WINDOW):
        raise AlreadyRecorded()


@lru_cache(maxsize=2)
def _upsert(dialect: str) -> ReturningInsert[str]:
    """Built once per dialect, with bound parameters: every write command runs it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Untyped parameters take their column's type (the stored UTC datetime, as the ORM writes it).
    stmt = insert(ProcessedEvent).values(key=bindparam("new_key"), created_at=bindparam("at"))
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"created_at": stmt.excluded.created_at},
        where=col(ProcessedEvent.created_at) < bindparam("cutoff"),
    )
    return stmt.returning(col(ProcessedEvent.key))


def purge_expired(session: Session, now: datetime) -> int:
    """Forget keys whose window has passed (the scheduler's sweep calls this; keys it misses are
    simply taken over by `once`)."""
    result = session.execute(
        delete(ProcessedEvent).where(
            col(ProcessedEvent.key) >= PREFIX,
            col(ProcessedEvent.key) < _END,
            col(ProcessedEvent.created_at) < now - WINDOW,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
