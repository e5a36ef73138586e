"""The real entry point, `adapters.slack_serve.serve`: HTTP mode on port 0 and Socket Mode, with the
APScheduler-driven coach running and every Web API call going to the fake via SLACK_API_URL."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.slack_serve import check_settings, serve
from tests.fakes.slack_api import FakeSlackAPI, SlackSigner
from tests.fakes.slack_harness import SECRET, TEAM, TOKEN, slack_settings


class Running:
    """serve() on its own loop in a thread; stop() sets its stop event and waits for a clean exit."""

    def __init__(self, settings: Any, *, http: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.error: BaseException | None = None
        self.stop_event: asyncio.Event | None = None

        def on_ready(port: int) -> None:
            self.port = port
            self.ready.set()

        async def main() -> None:
            self.stop_event = asyncio.Event()
            await serve(settings, http=http, port=0, host="127.0.0.1", stop=self.stop_event, on_ready=on_ready)

        def run() -> None:
            try:
                self.loop.run_until_complete(main())
            except BaseException as err:  # surfaced by the test
                self.error = err
                self.ready.set()
            finally:
                self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert self.ready.wait(20), "serve() did not become ready"
        if self.error:
            raise self.error

    def stop(self) -> None:
        if self.stop_event is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(20)
        assert not self.thread.is_alive()
        if self.error:
            raise self.error


def _midday_zone() -> str:
    """A zone where it is about noon now, so real-time delivery is outside quiet hours."""
    offset = (12 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return f"Etc/GMT{-offset:+d}"  # Etc/GMT-5 is UTC+5


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as f:
        f.add_team(TEAM, TOKEN)
        f.app_tokens.add("xapp-1-test")
        for uid, name in {"UINS": "ines", "UA": "ada", "UB": "bob"}.items():
            f.add_user(TEAM, uid, name, tz=_midday_zone())
        yield f


def test_http_mode_serves_events_and_healthz_and_delivers_dms(fake: FakeSlackAPI, tmp_path) -> None:
    settings = slack_settings(f"sqlite:///{tmp_path}/http.sqlite3", fake.url)
    running = Running(settings, http=True)
    try:
        base = f"http://127.0.0.1:{running.port}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
            assert resp.status == 200
        slack = SlackSigner(f"{base}/slack/events", SECRET, fake, TEAM)
        assert slack.command("UINS", "cohort create Live").status == 200
        slack.command("UA", "cohort join Live")
        slack.command("UB", "cohort join Live")
        assert slack.command("UINS", "start Live").json()["response_type"] == "in_channel"
        # The running coach (APScheduler) delivers the dare by DM in the background.
        fake.wait_for(lambda calls: sum(c.method == "chat.postMessage" and c.response.get("ok") for c in calls) >= 2)
        assert sorted(c.args["channel"] for c in fake.ok_calls_to("chat.postMessage")) == ["UA", "UB"]
    finally:
        running.stop()


def test_socket_mode_acks_over_the_socket(fake: FakeSlackAPI, tmp_path) -> None:
    settings = slack_settings(
        f"sqlite:///{tmp_path}/sock.sqlite3", fake.url, SLACK_APP_TOKEN="xapp-1-test", SLACK_SIGNING_SECRET=None
    )
    running = Running(settings, http=False)
    try:
        assert fake.calls_to("apps.connections.open")[0].token == "xapp-1-test"

        def command(user: str, text: str) -> dict:
            payload = {
                "team_id": TEAM,
                "user_id": user,
                "user_name": user.lower(),
                "channel_id": "C1",
                "command": "/dare",
                "text": text,
                "api_app_id": "A0DAREBOT",
                "response_url": fake.response_url(),
                "trigger_id": "1.2.t",
            }
            return fake.push_envelope("slash_commands", payload)

        ack = command("UINS", "cohort create Sock")
        assert ack["payload"]["response_type"] == "ephemeral" and "Sock" in ack["payload"]["text"]
        echoed = command("UA", 'contact "<!channel> Eve"')["payload"]
        assert "&lt;!channel&gt; Eve" in echoed["text"] and "<!channel>" not in json.dumps(echoed)
        command("UA", "cohort join Sock")
        started = command("UINS", "start Sock")["payload"]
        assert started["response_type"] == "in_channel", started["text"]
        fake.wait_for(
            lambda calls: any(c.method == "chat.postMessage" and c.args.get("channel") == "UA" for c in calls)
        )
    finally:
        running.stop()


def test_settings_are_checked_before_starting(tmp_path) -> None:
    base = slack_settings(f"sqlite:///{tmp_path}/x.sqlite3", "http://127.0.0.1:9/api/")
    with pytest.raises(SystemExit, match="SLACK_APP_TOKEN"):
        check_settings(base, http=False)
    check_settings(base, http=True)
    no_secret = slack_settings(f"sqlite:///{tmp_path}/x.sqlite3", "http://x/api/", SLACK_SIGNING_SECRET=None)
    with pytest.raises(SystemExit, match="SIGNING_SECRET"):
        check_settings(no_secret, http=True)
