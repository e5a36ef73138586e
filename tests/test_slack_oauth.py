"""Multi-workspace OAuth: install through bolt's flow, tokens encrypted at rest, uninstall deletes them."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from adapters.slack_oauth import DarebotInstallationStore, DarebotStateStore
from bot.replies import text_reply
from storage.db import open_database
from storage.slack_store import InstallationRecord, SlackInstallations, token_cipher
from tests.fakes.slack_api import FakeSlackAPI, SlackSigner
from tests.fakes.slack_harness import SECRET, SlackHarness

KEY = "test-secret-key-0123456789abcdef"


@pytest.fixture
def oauth(tmp_path) -> Iterator[SlackHarness]:
    fake = FakeSlackAPI().start()
    fake.add_team("T1", "xoxb-unused")  # the harness's default team; never installed here
    h = SlackHarness(
        f"sqlite:///{tmp_path}/oauth.sqlite3",
        fake=fake,
        settings_extra={
            "SLACK_BOT_TOKEN": None,
            "SLACK_CLIENT_ID": "111.222",
            "SLACK_CLIENT_SECRET": "client-secret",
            "DAREBOT_SECRET_KEY": KEY,
        },
    )
    try:
        yield h
    finally:
        h.close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def _install(h: SlackHarness, team: str, token: str, code: str) -> int:
    h.fake.add_team(team, token, name=f"Team {team}", bot_user_id=f"UB{team}")
    h.fake.tokens.pop(token)  # the token only becomes valid through oauth.v2.access
    h.fake.oauth_codes[code] = (team, token)
    status, page, headers = _get(f"{h.url}/slack/install")
    assert status == 200 and "slack.com/oauth/v2/authorize" in page
    state = urllib.parse.unquote(re.search(r"state=([^&\"']+)", page).group(1))  # type: ignore[union-attr]
    cookie = headers["Set-Cookie"].split(";")[0]
    status, _page, _ = _get(f"{h.url}/slack/oauth_redirect?code={code}&state={state}", {"Cookie": cookie})
    return status


def test_install_encrypts_tokens_serves_the_team_and_uninstall_deletes(oauth: SlackHarness) -> None:
    h = oauth
    assert _install(h, "T2", "xoxb-secret-t2", "code-2") == 200
    assert _install(h, "T3", "xoxb-secret-t3", "code-3") == 200
    access = h.fake.calls_to("oauth.v2.access")
    assert [c.args["code"] for c in access] == ["code-2", "code-3"]
    with h.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT team_id, bot_token_enc FROM slack_installation ORDER BY team_id")).all()
    assert [r[0] for r in rows] == ["T2", "T3"]
    assert all("xoxb" not in r[1] and r[1] for r in rows)  # ciphertext only
    assert token_cipher(KEY).decrypt(rows[0][1].encode()).decode() == "xoxb-secret-t2"

    # Each workspace is served with its own token, and sees only its own data.
    h.fake.add_user("T2", "UX", "xavier")
    h.fake.add_user("T3", "UX", "xavier-too")
    t2 = SlackSigner(f"{h.url}/slack/events", SECRET, h.fake, "T2")
    t3 = SlackSigner(f"{h.url}/slack/events", SECRET, h.fake, "T3")
    assert "Alpha" in t2.command("UX", "cohort create Alpha").body
    assert t3.command("UX", "board Alpha").json()["blocks"][0]["text"]["text"].startswith(":warning:")
    infos = {c.token for c in h.fake.calls_to("users.info")}
    assert infos == {"xoxb-secret-t2", "xoxb-secret-t3"}
    # The messenger finds the decrypted token too.
    sent = h.messenger.send_dm("T2", "UX", text_reply("hello"))
    assert sent.message_id.startswith("DX:")
    assert h.fake.calls_to("chat.postMessage")[-1].token == "xoxb-secret-t2"

    # app_uninstalled removes T2's tokens, and only T2's.
    assert t2.event({"type": "app_uninstalled"}).status == 200
    h.drain()
    with h.db.engine.connect() as conn:
        teams = [r[0] for r in conn.execute(text("SELECT team_id FROM slack_installation")).all()]
    assert teams == ["T3"]
    with h.db.engine.connect() as conn:  # and closes T2 for dashboard links, only T2
        closed = dict(conn.execute(text("SELECT external_id, closed_at IS NOT NULL FROM workspace")).all())
    assert closed.get("T2") in (1, True) and not closed.get("T3")
    # tokens_revoked (bot) removes T3's.
    assert t3.event({"type": "tokens_revoked", "tokens": {"bot": ["UBT3"]}}).status == 200
    h.drain()
    with h.db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM slack_installation")).scalar_one() == 0


def test_a_forged_state_installs_nothing(oauth: SlackHarness) -> None:
    h = oauth
    h.fake.oauth_codes["code-x"] = ("T9", "xoxb-t9")
    status, _page, _ = _get(
        f"{h.url}/slack/oauth_redirect?code=code-x&state=forged", {"Cookie": "slack-app-oauth-state=forged"}
    )
    assert status >= 400
    assert h.fake.calls_to("oauth.v2.access") == []


def test_store_round_trip_and_key_rotation(tmp_path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/s.sqlite3")
    repo = SlackInstallations(db, KEY, client_id="c")
    now = datetime(2026, 11, 23, tzinfo=UTC)
    repo.save(InstallationRecord(team_id="T1", bot_token="xoxb-1", bot_user_id="UB", bot_scopes="commands"), now)
    repo.save(InstallationRecord(team_id="T1", bot_token="xoxb-2", bot_user_id="UB"), now)  # re-install replaces
    assert repo.find(None, "T1").bot_token == "xoxb-2"  # type: ignore[union-attr]
    assert SlackInstallations(db, "another-key-entirely-123456", client_id="c").find(None, "T1") is None
    store = DarebotInstallationStore(db, KEY, client_id="c")
    assert store.bot_token("T1") == "xoxb-2"
    states = DarebotStateStore(store.repo)
    st = states.issue()
    assert states.consume(st) and not states.consume(st)  # one-time
    old = repo.issue_state(now - timedelta(hours=1), ttl_seconds=600)
    assert not repo.consume_state(old, now)
    assert repo.delete(None, "T1") == 1 and store.bot_token("T1") is None
    with pytest.raises(ValueError):
        token_cipher("short")
