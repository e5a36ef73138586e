"""The engine's only ways out: small ports each adapter implements (console, Slack, Discord, tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.identity import Actor, WorkspaceRef
from bot.replies import Reply

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.forms import Form
    from storage.db import Database


class TransientSendError(Exception):
    """Try again later: network trouble, 5xx, or a rate limit (`retry_after` seconds when known)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class AmbiguousSendError(TransientSendError):
    """The request left but no answer came back (a timeout, a dropped connection): the DM may have
    been delivered. The next attempt must find out before it sends again (`Messenger.send_dm(check=True)`)."""


class WorkspaceAuthError(TransientSendError):
    """The platform rejected darebot's own token for this workspace (revoked, invalid, workspace
    gone). Nobody there can get a DM until a new token is installed: the workspace's DMs are held."""


class PermanentSendError(Exception):
    """Never retry: the person blocks DMs, left, or was deactivated. They are marked unreachable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Sent:
    """What the platform said of a delivered DM: its own message id."""

    message_id: str


class Messenger(Protocol):
    """Sends one DM. Synchronous: async adapters bridge with run_coroutine_threadsafe."""

    def send_dm(
        self, workspace_external_id: str, user_id: str, reply: Reply, *, key: str = "", check: bool = False
    ) -> Sent:
        """Deliver or raise TransientSendError (AmbiguousSendError when it may have gone out) /
        PermanentSendError. `key` names the DM (the outbox key) so the platform can tell a repeat;
        with `check`, an earlier attempt's outcome was unknown: return that DM if it arrived, else send."""
        ...


class Directory(Protocol):
    """Looks up a platform user's display name (Slack's users.info, cached by the adapter)."""

    def display_name(self, workspace_external_id: str, user_id: str) -> str | None: ...


class NoDirectory:
    def display_name(self, workspace_external_id: str, user_id: str) -> str | None:
        return None


class EngineAPI(Protocol):
    """What adapters may ask of the engine (bot.engine.Engine is the one implementation)."""

    db: Database
    clock: Clock

    def handle_text(self, ws: WorkspaceRef, actor: Actor, text: str) -> Reply: ...

    def run(self, ws: WorkspaceRef, actor: Actor, command: object) -> Reply: ...

    def press(self, ws: WorkspaceRef, actor: Actor, action: str, value: str) -> Reply: ...

    def form(self, ws: WorkspaceRef, actor: Actor, name: str) -> Form: ...

    def submit_form(
        self,
        ws: WorkspaceRef,
        actor: Actor,
        name: str,
        values: dict[str, object],
        *,
        idempotency_key: str | None = None,
    ) -> Reply | None: ...

    def home(self, ws: WorkspaceRef, actor: Actor) -> Reply: ...

    def cohort_names(self, ws: WorkspaceRef, actor: Actor, prefix: str = "") -> list[str]: ...

    def contact_names(self, ws: WorkspaceRef, actor: Actor, prefix: str = "") -> list[str]: ...

    def first_time(self, key: str) -> bool: ...

    def close_workspace(self, ws: WorkspaceRef) -> None: ...

    def latest_activity(self, ws: WorkspaceRef) -> datetime | None: ...

    def person_zone(self, ws: WorkspaceRef, user_id: str) -> str: ...

    def uninstalled(self, ws: WorkspaceRef) -> None: ...


class Observer(Protocol):
    """Told what the engine and the coach did, for metrics; adapters implement it (bot/ stays library-free)."""

    def command(self, name: str, outcome: str, seconds: float) -> None:
        """One command or button: its name, "ok" or "error" (the reply was an error), and how long it took."""
        ...

    def sweep(self, seconds: float, planned: int) -> None:
        """One sweep of the nudge planner."""
        ...


class NoObserver:
    def command(self, name: str, outcome: str, seconds: float) -> None:
        return None

    def sweep(self, seconds: float, planned: int) -> None:
        return None
