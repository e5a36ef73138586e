"""The Slack HTTP front, attacked with real signed and unsigned requests against the real bolt app.

Whatever arrives, the answer is 401/400/413 (never 500), the log holds one short line and nothing
of the body, and in single-token mode only the token's own workspace is served.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.models import Cohort, Person, Workspace
from tests.fakes.slack_harness import SECRET, TEAM, SlackHarness
from tests.test_refusals_write_nothing import dump

SECRET_MARK = "hunter2-RESPONSE-URL-MARK"


@pytest.fixture
def h(tmp_path) -> Iterator[SlackHarness]:  # type: ignore[no-untyped-def]
    harness = SlackHarness(f"sqlite:///{tmp_path}/darebot.sqlite3")
    harness.fake.add_user(TEAM, "UINS", "ines")
    try:
        yield harness
    finally:
        harness.close()


def raw_post(
    h: SlackHarness,
    body: bytes,
    content_type: str | None,
    *,
    sign: bool = True,
    timestamp: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    ts = timestamp if timestamp is not None else str(int(time.time()))
    hdrs: dict[str, str] = dict(headers or {})
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    if sign:
        base = b"v0:" + ts.encode() + b":" + body
        hdrs["X-Slack-Signature"] = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
        hdrs["X-Slack-Request-Timestamp"] = ts
    req = urllib.request.Request(f"{h.url}/slack/events", data=body, headers=hdrs, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def command_form(team: str = TEAM, text: str = "cohort create Evil", user: str = "UINS") -> str:
    return urllib.parse.urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": team,
            "team_domain": "x",
            "channel_id": "C1",
            "user_id": user,
            "user_name": "ines",
            "command": "/dare",
            "text": text,
            "response_url": f"https://hooks.slack.com/commands/{SECRET_MARK}",
            "trigger_id": "1.2.trig",
        }
    )


def _action(actions: Any) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "UINS"},
        "trigger_id": "1.2",
        "response_url": f"https://hooks.slack.com/actions/{SECRET_MARK}",
        "actions": actions,
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


FORM = "application/x-www-form-urlencoded"
MALFORMED: list[tuple[str, bytes, str | None]] = [
    ("payload not JSON", b"payload=%7Bnot-json", FORM),
    ("payload a JSON list", b"payload=%5B1%5D", FORM),
    ("JSON body a list", b"[1]", "application/json"),
    ("JSON body a string", b'"hello"', "application/json"),
    ("JSON body not JSON", b"{nope", "application/json"),
    ("bytes not UTF-8", b"\xff\xfe", FORM),
    ("bytes not UTF-8 as JSON", b"\xff\xfe", "application/json"),
    ("form sent as text/plain", command_form().encode(), "text/plain"),
    ("JSON sent as text/plain", b'{"type": "event_callback", "team_id": "T1", "event": {}}', "text/plain"),
    ("form sent as octet-stream", command_form().encode(), "application/octet-stream"),
    ("block_actions with actions null", _action(None).encode(), FORM),
    ("block_actions with actions a string", _action("x").encode(), FORM),
    (
        "event_callback with event a list",
        b'{"type": "event_callback", "team_id": "T1", "event": [1]}',
        "application/json",
    ),
    ("form neither command nor payload", b"a=1&b=2", FORM),
    (
        "view_submission without a view",
        urllib.parse.urlencode(
            {"payload": json.dumps({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": "U"}})}
        ).encode(),
        FORM,
    ),
]


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("what,body,ctype", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_bodies_get_4xx_and_write_nothing(
    h: SlackHarness,
    caplog,
    signed: bool,
    what: str,  # type: ignore[no-untyped-def]
    body: bytes,
    ctype: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    before = dump(h)  # type: ignore[arg-type]
    status, answer = raw_post(h, body, ctype, sign=signed)
    assert status == (400 if signed else 401), (what, status, answer)
    assert dump(h) == before  # type: ignore[arg-type]
    lines = [r for r in caplog.records if r.name == "darebot.slack.http"]
    assert len(lines) == 1
    assert SECRET_MARK not in caplog.text and "legacy-verification-token" not in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("timestamp", ["abc", "1e9", "-5", "", "12.5", "99999999999999999999999"])
def test_odd_timestamps_are_401_never_500(h: SlackHarness, timestamp: str) -> None:
    status, _ = raw_post(h, command_form().encode(), FORM, timestamp=timestamp)
    assert status == 401


def test_stale_and_forged_requests_are_401(h: SlackHarness) -> None:
    assert raw_post(h, command_form().encode(), FORM, timestamp=str(int(time.time()) - 600))[0] == 401
    assert h.slack.command("UINS", "cohort create X", bad_signature=True).status == 401
    assert h.slack.command("UINS", "cohort create X", secret="not-the-secret").status == 401


def test_a_body_larger_than_slack_sends_is_refused_before_it_is_read(h: SlackHarness, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    big = b"text=" + b"a" * (2 * 1024 * 1024)
    status, _ = raw_post(h, big, FORM, sign=False)
    assert status == 413
    status, _ = raw_post(h, big, FORM)
    assert status == 413
    assert len(caplog.text) < 2000  # a couple of short lines, not the body


def test_unsigned_posts_log_one_short_line_each_and_no_body(h: SlackHarness, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    body = (command_form() + "&pad=" + "x" * 200_000).encode()
    for _ in range(5):
        assert raw_post(h, body, FORM, sign=False)[0] == 401
    assert len(caplog.text) < 5 * 300
    assert SECRET_MARK not in caplog.text


def test_signed_commands_still_work_and_a_command_mentioning_payload_is_read(h: SlackHarness) -> None:
    result = h.slack.command("UINS", "cohort create Payload101")
    assert result.status == 200 and "Payload101" in h.reply(result)["text"]
    # bolt alone reads any form body containing the word "payload" as an interaction: the front keeps it a command.
    result = h.slack.command("UINS", "story my payload of courage --to instructor")
    assert result.status == 200
    assert "payload" not in h.reply(result).get("error", "")


def test_the_library_loggers_never_log_bodies_even_at_debug(h: SlackHarness, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    raw_post(h, command_form(text="cohort create Debug1").encode(), FORM)
    h.drain()
    assert SECRET_MARK not in caplog.text
    assert "legacy-verification-token" not in caplog.text


# -- single-token mode: the token's own workspace only -------------------------------------------


def _rows(h: SlackHarness) -> tuple[int, int, int]:
    with h.db.session() as s:
        return tuple(
            s.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
            for t in (Workspace, Person, Cohort)
        )


@pytest.mark.parametrize("team", ["T0EVIL999", ""])
def test_other_workspaces_get_a_polite_refusal_and_nothing_is_written(h: SlackHarness, team: str) -> None:
    before = dump(h)  # type: ignore[arg-type]
    status, answer = raw_post(h, command_form(team=team).encode(), FORM)
    assert status == 200
    body = json.loads(answer)
    assert body["response_type"] == "ephemeral" and "different Slack workspace" in body["text"]
    h.drain()
    assert dump(h) == before  # type: ignore[arg-type]
    assert not h.fake.calls_to("chat.postMessage")


def test_other_workspaces_buttons_and_events_are_ignored(h: SlackHarness) -> None:
    before = dump(h)  # type: ignore[arg-type]
    evil = h.slack.__class__(h.slack.app_url, SECRET, h.fake, "T0EVIL999")
    assert evil.block_action("UINS", "darebot:nudge.stop").status == 200
    assert evil.event({"type": "app_home_opened", "user": "UINS", "tab": "home"}).status == 200
    h.drain()
    assert dump(h) == before  # type: ignore[arg-type]
    assert not h.fake.calls_to("views.publish")


def test_the_home_team_comes_from_auth_test(h: SlackHarness) -> None:
    h.call(h.adapter.gate.identify())
    assert h.adapter.gate.home_team == TEAM
    assert any(c.method == "auth.test" for c in h.fake.calls)
    assert h.slack.command("UINS", "cohort create Home1").status == 200
    assert _rows(h)[2] == 1
