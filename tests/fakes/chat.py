"""A chat room for engine tests: people say /dare lines and read the replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.clock import ManualClock
from bot.engine import Engine
from bot.identity import Actor, WorkspaceRef
from bot.replies import Reply
from storage.db import Database, open_database

START = datetime(2026, 9, 7, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in Chicago


class Chat:
    def __init__(self, db: Database, *, workspace: str = "T1", start: datetime = START, tz: str = "UTC") -> None:
        self.db = db
        self.clock = ManualClock(start)
        self.engine = Engine(db, self.clock, default_tz=tz)
        self.ws = WorkspaceRef("console", workspace)

    @classmethod
    def open(cls, url: str, **kw: object) -> Chat:
        return cls(open_database(url), **kw)  # type: ignore[arg-type]

    @classmethod
    def with_contact(cls, url: str, *then: str) -> Chat:
        """CS101 with its dare started: "prof" teaches, "ann" takes part and has added the contact "Ada";
        then each line of `then`, said by ann."""
        chat = cls.open(url)
        for user, line in (
            ("prof", "/dare cohort create CS101"),
            ("ann", "/dare cohort join CS101"),
            ("prof", "/dare start"),
            ("ann", '/dare contact "Ada"'),
            *(("ann", x) for x in then),
        ):
            chat.ok(user, line)
        return chat

    def say(self, user: str, text: str) -> Reply:
        return self.engine.handle_text(self.ws, Actor(user, user.capitalize()), text)

    def ok(self, user: str, text: str) -> str:
        reply = self.say(user, text)
        assert not reply.is_error, f"{text!r} failed: {reply.plain_text()}"
        return reply.plain_text()

    def err(self, user: str, text: str) -> str:
        reply = self.say(user, text)
        assert reply.is_error, f"{text!r} should have failed: {reply.plain_text()}"
        assert reply.ephemeral
        return reply.plain_text()

    def wait(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))
