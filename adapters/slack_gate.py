"""Single-token mode serves the workspace its bot token belongs to, and no other.

At start, auth.test says which workspace (and Enterprise Grid organisation) the token is for; a bolt
middleware then lets that workspace's requests through and answers any other politely, without
anything reaching the engine. OAuth installs (several workspaces) have no gate.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from storage.db import Database

log = logging.getLogger("darebot.slack")


class HomeTeamGate:
    """The token's own workspace (from auth.test), and the middleware that admits only it."""

    def __init__(self, client: AsyncWebClient, db: Database) -> None:
        self.client = client
        self.db = db
        self.home_team: str | None = None
        self.home_enterprise: str | None = None

    async def identify(self) -> None:
        """Ask Slack (auth.test) which workspace the token belongs to."""
        try:
            found = await self.client.auth_test()
        except SlackApiError as err:
            log.error(
                "slack: auth.test refused the bot token (%s); requests are refused until it works",
                err.response.get("error"),
            )
            return
        except Exception as err:  # Slack unreachable at start: bolt's own auth.test decides per request
            log.warning("slack: auth.test failed (%s); the workspace is checked on each request", type(err).__name__)
            return
        self.home_team = found.get("team_id") or None
        self.home_enterprise = found.get("enterprise_id") if found.get("is_enterprise_install") else None
        log.info("slack: serving workspace %s only (single-token mode)", self.home_team)
        if self.home_team:
            from storage.health import release_held

            if await asyncio.to_thread(release_held, self.db, "slack", self.home_team):
                log.warning("slack: the token for %s works again; its held DMs go out now", self.home_team)

    async def admit(self, context: Any, body: dict[str, Any], next: Callable[[], Awaitable[Any]]) -> Any:
        """bolt middleware: the home team's requests go on; any other team (or none) is told so
        politely and nothing reaches the engine."""
        home, enterprise = self.home_team, self.home_enterprise
        if home is None:
            result = context.authorize_result  # bolt asked auth.test for it too
            home = getattr(result, "team_id", None)
            enterprise = (
                getattr(result, "enterprise_id", None) if getattr(result, "is_enterprise_install", False) else None
            )
        team = context.team_id or ""
        if team and (team == home or (enterprise and context.enterprise_id == enterprise)):
            return await next()
        log.warning("slack: refused a request from workspace %r: this install serves %s only", team[:20], home)
        if body.get("command"):
            return BoltResponse(
                status=200,
                body=json.dumps(
                    {
                        "response_type": "ephemeral",
                        "text": "Sorry, this darebot serves a different Slack workspace, so nothing was done here. "
                        "Ask your admin to install darebot for this workspace.",
                    }
                ),
                headers={"content-type": "application/json"},
            )
        return BoltResponse(status=200, body="")
