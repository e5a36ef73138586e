"""A chat room wired to a NudgeScheduler, for the nudge tests: its DMs go to a recording Messenger."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapters.wiring import build
from bot.clock import Clock, ManualClock
from bot.identity import Actor, WorkspaceRef
from bot.ports import PermanentSendError, Sent, TransientSendError
from bot.replies import Reply
from bot.zones import stored_zone as zone
from storage.db import Database


@dataclass(frozen=True)
class Dm:
    at: datetime
    workspace: str
    user: str
    reply: Reply

    @property
    def text(self) -> str:
        return self.reply.plain_text()

    @property
    def title(self) -> str:
        return self.reply.title or ""


@dataclass
class RecordingMessenger:
    """Records every DM; `fail` maps user id -> an exception (or a list of them, used in turn)."""

    clock: Clock
    sent: list[Dm] = field(default_factory=list)
    fail: dict[str, object] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_dm(self, workspace_external_id: str, user_id: str, reply: Reply, **_kw: object) -> Sent:
        exc = self.fail.get(user_id)
        if isinstance(exc, list):
            exc = exc.pop(0) if exc else None
        if isinstance(exc, (TransientSendError, PermanentSendError)):
            raise exc
        with self.lock:
            self.sent.append(Dm(self.clock.now(), workspace_external_id, user_id, reply))
            return Sent(f"m{len(self.sent)}")

    def to(self, user: str) -> list[Dm]:
        return [d for d in self.sent if d.user == user]


class Room:
    """People typing /dare lines on one workspace, a coach delivering their nudges."""

    def __init__(
        self, db: Database, start: datetime, *, workspace: str = "T1", platform: str = "console", tz: str = "UTC"
    ) -> None:
        self.db = db
        self.clock = ManualClock(start)
        self.ws = WorkspaceRef(platform, workspace)  # type: ignore[arg-type]
        self.messenger = RecordingMessenger(self.clock)
        built = build(db, self.clock, platform=platform, default_tz=tz, messenger=self.messenger, worker_id="w-test")
        self.engine = built.engine
        assert built.nudges is not None
        self.nudges = built.nudges
        self.tz: dict[str, str | None] = {}

    def say(self, user: str, text: str) -> str:
        reply = self.engine.handle_text(self.ws, Actor(user, user.capitalize(), self.tz.get(user)), text)
        assert not reply.is_error, f"{user}: {text!r} failed: {reply.plain_text()}"
        return reply.plain_text()

    def wait(self, **delta: float) -> None:
        self.nudges.simulate_until(self.clock.now() + timedelta(**delta))

    def until(self, moment: datetime) -> None:
        self.nudges.simulate_until(moment)

    def log(self, tzs: dict[str, str]) -> list[tuple[str, str, str]]:
        """(user, rule-ish title, local 'YYYY-MM-DD HH:MM') of every DM, in order."""
        out = []
        for d in self.messenger.sent:
            local = d.at.astimezone(zone(tzs.get(d.user, "UTC")))
            out.append((d.user, d.title, local.strftime("%Y-%m-%d %H:%M")))
        return out
