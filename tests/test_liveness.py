"""Liveness that means something: the database really answers and is still the file at its path; a
write into a deleted file is refused, never reported as saved; a workspace whose token Slack rejects
has its DMs held (not lost, not hammered), shows in /healthz, and gets them once a token works."""

from __future__ import annotations

import json
import logging
import os
import shutil
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from storage.db import StorageGone, open_database
from storage.health import check_database, held_workspaces, release_held
from storage.models import Cohort, Nudge, Workspace
from tests.fakes.chat import Chat
from tests.fakes.slack_harness import TEAM, SlackHarness


def _remove(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def test_check_database_on_both_databases(db_url: str) -> None:
    db = open_database(db_url)
    try:
        assert check_database(db) == (True, "ok")
    finally:
        db.dispose()


def test_a_deleted_sqlite_file_is_noticed_and_writes_are_refused(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    path = f"{tmp_path}/d.sqlite3"
    chat = Chat.open(f"sqlite:///{path}")
    fatal: list[str] = []
    chat.db.on_fatal = fatal.append
    try:
        chat.ok("prof", "/dare cohort create Before")
        _remove(path)
        ok, detail = check_database(chat.db)
        assert not ok and "deleted" in detail
        with caplog.at_level(logging.CRITICAL, logger="darebot.db"):
            for _ in range(2):
                reply = chat.say("prof", "/dare cohort create After")
                assert reply.is_error and "Cohort created" not in reply.plain_text()
                assert "nothing was saved" in reply.plain_text()
        assert len(fatal) == 1 and "deleted" in fatal[0]
        assert sum(r.levelno == logging.CRITICAL for r in caplog.records) == 1
        with pytest.raises(StorageGone), chat.db.session() as s:
            s.execute(select(func.count()).select_from(Cohort))
    finally:
        chat.db.dispose()


def test_a_replaced_sqlite_file_is_noticed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = f"{tmp_path}/d.sqlite3"
    chat = Chat.open(f"sqlite:///{path}")
    try:
        chat.ok("prof", "/dare cohort create Before")
        chat.db.dispose()
        shutil.copy(path, path + ".copy")
        _remove(path)
        os.rename(path + ".copy", path)
        ok, detail = check_database(chat.db)
        assert not ok and "replaced" in detail
        assert chat.say("prof", "/dare cohort create After").is_error
    finally:
        chat.db.dispose()


# -- Slack: /healthz and a rejected token --------------------------------------------------------


@pytest.fixture
def h(tmp_path) -> Iterator[SlackHarness]:  # type: ignore[no-untyped-def]
    harness = SlackHarness(f"sqlite:///{tmp_path}/darebot.sqlite3")
    harness.fake.add_user(TEAM, "UINS", "ines")
    for uid in ("UA", "UB"):
        harness.fake.add_user(TEAM, uid, uid.lower())
    try:
        yield harness
    finally:
        harness.close()


def _healthz(h: SlackHarness) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{h.url}/healthz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_healthz_reports_the_database_going_away(h: SlackHarness, tmp_path) -> None:  # type: ignore[no-untyped-def]
    status, body = _healthz(h)
    assert status == 200 and body["ok"] and body["database"] == "ok"
    h.db.on_fatal = lambda reason: None
    h.engine.db.on_fatal = lambda reason: None
    _remove(f"{tmp_path}/darebot.sqlite3")
    status, body = _healthz(h)
    assert status == 503 and not body["ok"] and "deleted" in body["database"]
    answer = h.reply(h.slack.command("UINS", "cohort create Gone"))
    assert "Cohort created" not in answer["text"]


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "account_inactive"])
def test_a_rejected_token_holds_the_workspaces_dms_until_a_token_works(h: SlackHarness, caplog, error: str) -> None:  # type: ignore[no-untyped-def]
    h.engine.outbox_listener = None
    h.slack.command("UINS", "cohort create C")
    for uid in ("UA", "UB"):
        h.slack.command(uid, "cohort join C")
    h.fake.fail_next("chat.postMessage", error, times=1000)
    h.slack.command("UINS", "start C")
    with caplog.at_level(logging.ERROR):
        for _ in range(5):
            h.nudges.deliver_due()
            h.clock.advance(timedelta(minutes=30))
    # one attempt, then held: no retry every few seconds, and the people are not written off
    assert len(h.fake.calls_to("chat.postMessage")) == 1
    with h.db.session() as s:
        statuses = {n.status for n in s.execute(select(Nudge)).scalars()}
        ws = s.execute(select(Workspace).where(Workspace.external_id == TEAM)).scalars().one()
        assert ws.token_rejected_at is not None and ws.token_error == error
    assert statuses == {"pending"}
    held_lines = [r for r in caplog.records if "DMs are held" in r.getMessage()]
    assert len(held_lines) == 1 and held_lines[0].levelno == logging.ERROR
    status, body = _healthz(h)
    assert status == 200 and body["held_workspaces"][0]["workspace"] == TEAM
    # a working token again (what serve() checks at start with auth.test): the DMs go out, once each
    h.fake.clear()
    h.fake._failures.clear()
    h.call(h.adapter.gate.identify())
    assert held_workspaces(h.db) == []
    for _ in range(3):
        h.nudges.deliver_due()
        h.clock.advance(timedelta(minutes=1))
    with h.db.session() as s:
        assert {n.status for n in s.execute(select(Nudge)).scalars()} == {"sent"}
    sent_to = [c.args["channel"] for c in h.fake.ok_calls_to("chat.postMessage")]
    assert len(sent_to) == len(set(sent_to)) and {"UA", "UB"} <= set(sent_to)
    assert not release_held(h.db, "slack", TEAM)
