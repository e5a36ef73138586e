"""Who is speaking, and where: the neutral vocabulary adapters hand to the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Platform = Literal["console", "slack", "discord"]


@dataclass(frozen=True)
class WorkspaceRef:
    """A tenant: a Slack team, a Discord guild, or the local console. Ids are strings."""

    platform: Platform
    external_id: str
    name: str = ""


@dataclass(frozen=True)
class Actor:
    """The chat user issuing a command. `tz` is the platform's zone, when it tells one."""

    user_id: str
    display_name: str
    tz: str | None = None
