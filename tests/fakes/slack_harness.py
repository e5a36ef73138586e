"""darebot's Slack app served for real on 127.0.0.1:0, wired to a FakeSlackAPI, for end-to-end tests.

The aiohttp app runs on its own event loop in a thread; tests talk to it with signed HTTP requests
(SlackSigner) and read what it sent to Slack from the fake's call log.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.config import Settings
from adapters.slack_serve import web_app
from adapters.wiring import build_slack
from bot.clock import ManualClock
from storage.db import Database, open_database
from tests.fakes.slack_api import FakeSlackAPI, SlackSigner

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
TEAM = "T1"
# A Monday, mid-morning UTC: outside everyone's default quiet hours.
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def slack_settings(db_url: str, api_url: str, **extra: Any) -> Settings:
    values = {
        "DAREBOT_DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api_url,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class SlackHarness:
    def __init__(
        self, db_url: str, *, fake: FakeSlackAPI | None = None, settings_extra: dict[str, Any] | None = None
    ) -> None:
        self.fake = fake or FakeSlackAPI()
        if self.fake.port == 0:
            self.fake.start()
        if TEAM not in self.fake.teams:
            self.fake.add_team(TEAM, TOKEN)
        self.settings = slack_settings(db_url, self.fake.url, **(settings_extra or {}))
        self.db: Database = open_database(db_url)
        self.clock = ManualClock(START)
        self.adapter = build_slack(self.settings, clock=self.clock, db=self.db)
        self.engine = self.adapter.engine
        self.nudges = self.adapter.nudges
        self.messenger = self.nudges.messenger
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="slack-app", daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self.port = self.call(self._start())
        if self.adapter.gate is not None:  # as serve() does: which workspace the token serves
            self.call(self.adapter.gate.identify())
        self.url = f"http://127.0.0.1:{self.port}"
        self.slack = SlackSigner(f"{self.url}/slack/events", SECRET, self.fake, TEAM)

    async def _start(self) -> int:
        self._runner = web.AppRunner(web_app(self.adapter), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def drain(self) -> None:
        """Wait until the work the app does after its acks has finished."""
        self.call(self.adapter.drain())

    def reply(self, result: Any, timeout: float = 20) -> dict[str, Any]:
        """What the user saw for a command: the ack's body, or (when the engine took longer than
        the ack budget) the message posted to the command's response_url afterwards."""
        if result.body:
            return result.json()
        path = urllib.parse.urlparse(result.response_url).path
        self.fake.wait_for(lambda calls: any(c.method == "response_url" and c.path == path for c in calls), timeout)
        return next(c.args for c in self.fake.calls_to("response_url") if c.path == path)

    def close(self) -> None:
        try:
            if self._runner is not None:
                self.call(self._runner.cleanup())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self.fake.stop()
            self.db.dispose()
