"""End to end through the real bolt app over HTTP: signed requests in, a fake Slack Web API out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from adapters import slack_render as r
from storage.models import Interview, Nudge
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_harness import TEAM, SlackHarness

STUDENTS = {"UA": "ada", "UB": "bob", "UC": "cy"}


@pytest.fixture
def h(tmp_path) -> Iterator[SlackHarness]:
    harness = SlackHarness(f"sqlite:///{tmp_path}/darebot.sqlite3")
    _H.h = harness
    _people(harness)
    try:
        yield harness
    finally:
        harness.close()


def _people(h: SlackHarness) -> None:
    h.fake.add_user(TEAM, "UINS", "ines", tz="Europe/Paris")
    for uid, name in STUDENTS.items():
        h.fake.add_user(TEAM, uid, name)


def _text(result) -> str:  # type: ignore[no-untyped-def]
    body = _H.reply(result)
    return body.get("text", "") if isinstance(body, dict) else ""


class _Current:
    """The harness of the running test, for the helpers below."""

    h: SlackHarness | None = None

    def reply(self, result) -> dict:  # type: ignore[no-untyped-def]
        assert self.h is not None
        return self.h.reply(result)


_H = _Current()


def _class_started(h: SlackHarness) -> None:
    assert h.slack.command("UINS", "cohort create Spring26 --goal 3").status == 200
    for uid in STUDENTS:
        assert "Spring26" in _text(h.slack.command(uid, "cohort join Spring26"))
    started = h.slack.command("UINS", "start Spring26")
    assert started.status == 200 and h.reply(started)["response_type"] == "in_channel"


def _open_modal(h: SlackHarness, user: str, text: str) -> dict:
    before = len(h.fake.calls_to("views.open"))
    ack = h.slack.command(user, text)
    assert ack.status == 200 and ack.body == ""
    calls = h.fake.wait_for_calls("views.open", before + 1)
    h.drain()
    assert calls[-1].response["ok"], calls[-1].response
    return calls[-1].response["view"]


def _interviews(h: SlackHarness) -> int:
    with h.db.session() as s:
        return s.execute(select(func.count()).select_from(Interview)).scalar_one()


def _log_values(
    contact: str, minutes: str = "20", learned: str = "Ask for the second name.", on: str = "2026-11-23"
) -> dict:
    return {
        "contact": {"value": {"type": "static_select", "selected_option": {"value": contact}}},
        "on": {"value": {"type": "datepicker", "selected_date": on}},
        "minutes": {"value": {"type": "number_input", "value": minutes}},
        "outcomes": {"value": {"type": "multi_static_select", "selected_options": [{"value": "advice"}]}},
        "asked": {"value": {"type": "multi_static_select", "selected_options": []}},
        "learned": {"value": {"type": "plain_text_input", "value": learned}},
    }


def test_a_class_runs_the_dare_through_slack(db_url: str) -> None:
    h = SlackHarness(db_url)
    _H.h = h
    _people(h)
    try:
        _class_started(h)
        # The dare went out by DM to each of the three students, once, with working buttons.
        dms = [c for c in h.fake.ok_calls_to("chat.postMessage")]
        assert sorted(c.args["channel"] for c in dms) == sorted(STUDENTS)
        assert all(c.response["channel"].startswith("D") for c in dms)

        for uid in STUDENTS:
            assert "accepted" in _text(h.slack.command(uid, "accept")).lower()
        # Ada reports by commands ...
        assert "Grace Hopper" in _text(h.slack.command("UA", 'contact "Grace Hopper" --org Navy --kind decision-maker'))
        assert h.slack.command("UA", 'outreach "Grace Hopper" --via email').status == 200
        # ... and by modal: /dare log with no arguments opens the log form with her contacts.
        view = _open_modal(h, "UA", "log")
        contact_block = next(b for b in view["blocks"] if b["block_id"] == "contact")
        assert [o["value"] for o in contact_block["element"]["options"]] == ["Grace Hopper"]
        done = h.slack.view_submission("UA", view, _log_values("Grace Hopper"))
        assert done.status == 200
        assert done.json()["response_action"] == "update"
        assert _interviews(h) == 1
        # Bob logs through the command line.
        h.slack.command("UB", 'contact "Linus T"')
        assert h.slack.command("UB", 'log "Linus T" --minutes 15 --outcome referral').status == 200
        assert _interviews(h) == 2

        board = json.dumps(h.reply(h.slack.command("UC", "board Spring26")))
        assert "ada" in board.lower()
        report = h.reply(h.slack.command("UINS", "report Spring26"))
        assert "5%" in json.dumps(report) and ":warning:" not in json.dumps(report["blocks"])
        refused = h.reply(h.slack.command("UB", "report Spring26"))
        assert refused["response_type"] == "ephemeral"
        assert ":warning:" in json.dumps(refused["blocks"]) and "instructor" in refused["text"].lower()
    finally:
        h.close()


def test_dm_buttons_log_snooze_and_stop(h: SlackHarness) -> None:
    _class_started(h)
    dm = next(c for c in h.fake.ok_calls_to("chat.postMessage") if c.args["channel"] == "UA")
    buttons = [el for b in dm.args["blocks"] if b["type"] == "actions" for el in b["elements"]]
    by_action = {r.decode_action_id(b["action_id"]): b for b in buttons}
    h.slack.command("UA", 'contact "Grace Hopper"')
    h.drain()
    # A command meeting a busy engine is answered through its response_url too (adapters/deadline.py).
    earlier = len(h.fake.calls_to("response_url"))
    # "Log it" opens the log modal (the trigger id is used within its 3 seconds).
    log_button = next((b for a, b in by_action.items() if a.endswith(".log")), None)
    action_id = log_button["action_id"] if log_button else r.encode_action_id("nudge.log", 0)
    assert h.slack.block_action("UA", action_id).status == 200
    h.fake.wait_for_calls("views.open")
    h.drain()
    assert r.form_name(h.fake.calls_to("views.open")[-1].args["view"]["callback_id"]) == "log"
    # Snooze answers through the response_url, privately.
    assert h.slack.block_action("UA", r.encode_action_id("nudge.snooze", 1), "3").status == 200
    h.drain()
    answer = h.fake.wait_for_calls("response_url")[-1]
    assert answer.args["response_type"] == "ephemeral" and answer.args["replace_original"] is False
    assert h.slack.block_action("UB", r.encode_action_id("nudge.stop", 2)).status == 200
    h.drain()
    assert len(h.fake.calls_to("response_url")) == earlier + 2
    # The dare's own DM button takes the dare.
    accept = next((b for a, b in by_action.items() if a == "dare.accept"), None)
    if accept is not None:
        assert h.slack.block_action("UC", accept["action_id"], accept.get("value", "")).status == 200
        h.drain()
        assert "accepted" in h.fake.calls_to("response_url")[-1].args["text"].lower()


def test_modal_errors_show_inline_and_save_nothing(h: SlackHarness) -> None:
    _class_started(h)
    view = _open_modal(h, "UA", "log")  # no contacts yet: the contact field is free text
    values = _log_values("x")
    values["contact"] = {"value": {"type": "plain_text_input", "value": "Nobody Known"}}
    result = h.slack.view_submission("UA", view, values)
    body = result.json()
    assert result.status == 200 and body["response_action"] == "errors"
    assert list(body["errors"]) == ["contact"]
    assert _interviews(h) == 0


def test_forged_or_stale_signatures_get_401(h: SlackHarness) -> None:
    h.fake.clear()  # the auth.test the harness made at start, as serve() does
    assert h.slack.command("UA", "help", bad_signature=True).status == 401
    assert h.slack.command("UA", "help", secret="not-the-secret").status == 401
    assert h.slack.command("UA", "help", timestamp=int(time.time()) - 600).status == 401
    stale = h.slack.view_submission(
        "UA", {"id": "V1", "callback_id": "darebot.form:log"}, {}, timestamp=int(time.time()) - 301
    )
    assert stale.status == 401
    assert h.fake.calls == []  # nothing ran: no users.info, no auth.test
    assert h.slack.command("UA", "help").status == 200


def test_mentions_typed_as_text_never_ping(h: SlackHarness) -> None:
    _class_started(h)
    h.slack.command("UA", "accept")
    replies = [
        h.slack.command("UA", 'contact "<!channel> Eve & <@UB> @here" --org "<!everyone>"'),
        h.slack.command("UA", "story Met <!here> and <!subteam^S123> today --to cohort"),
        h.slack.command("UA", "progress"),
        h.slack.command("UB", "board Spring26"),
        h.slack.command("UA", "contact <!channel>"),
    ]
    view = _open_modal(h, "UA", "log")
    sub = h.slack.view_submission("UA", view, _log_values("<!channel> Eve & <@UB> @here", learned="<!channel> <!here>"))
    replies.append(sub)
    seen_replies = [h.reply(x) if x.response_url else x.json() for x in replies]
    h.fake.clear()
    h.slack.block_action("UA", r.encode_action_id("board.post", 0), "Spring26")
    h.drain()
    payloads = seen_replies + [c.args for c in h.fake.calls]
    seen = json.dumps(payloads)
    assert "&lt;!channel&gt;" in seen
    for payload in payloads:
        texts = [t for kind, t in r.iter_text(payload) if kind == "mrkdwn"]
        if isinstance(payload, dict) and isinstance(payload.get("text"), str):
            texts.append(payload["text"])
        for text in texts:
            assert "<!" not in text and "<@" not in text, text


def test_a_retried_submission_is_recorded_once(h: SlackHarness) -> None:
    _class_started(h)
    h.slack.command("UA", 'contact "Grace Hopper"')
    view = _open_modal(h, "UA", "log")
    values = _log_values("Grace Hopper")
    first = h.slack.view_submission("UA", view, values)
    again = h.slack.view_submission("UA", view, values, extra_headers={"X-Slack-Retry-Num": "1"})
    assert first.json()["response_action"] == "update"
    assert again.status == 200 and again.body == ""  # acknowledged, closes the modal, records nothing
    assert _interviews(h) == 1
    # Two submissions racing each other record once too.
    view2 = _open_modal(h, "UA", "log")
    values2 = _log_values("Grace Hopper", minutes="30", learned="second", on="2026-11-22")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: h.slack.view_submission("UA", view2, values2), range(4)))
    assert all(x.status == 200 for x in results), [x.body for x in results]
    assert sorted(x.body[:30] for x in results)[:3] == ["", "", ""], [x.body for x in results]  # 3 duplicates
    assert _interviews(h) == 2, [x.body for x in results]
    # An Events API retry (X-Slack-Retry-Num) publishes App Home once.
    h.drain()  # the App Home refreshes that followed the submissions are done
    h.fake.clear()
    event = {"type": "app_home_opened", "user": "UA", "channel": "DUA", "tab": "home", "event_ts": "1.2"}
    assert h.slack.event(event, event_id="Ev1").status == 200
    assert (
        h.slack.event(
            event, event_id="Ev1", extra_headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        ).status
        == 200
    )
    h.fake.wait_for_calls("views.publish")
    h.drain()
    assert len(h.fake.calls_to("views.publish")) == 1


def test_app_home_shows_progress_and_instructor_board(h: SlackHarness) -> None:
    _class_started(h)
    h.drain()
    h.fake.clear()
    h.slack.event({"type": "app_home_opened", "user": "UINS", "tab": "home"})
    call = h.fake.wait_for_calls("views.publish")[-1]
    h.drain()
    assert call.response["ok"] and call.args["user_id"] == "UINS"
    home = json.dumps(call.args["view"])
    assert call.args["view"]["type"] == "home" and "Spring26" in home and "5%" in home


def test_dms_under_a_rate_limit_all_arrive_once(tmp_path) -> None:
    fake = FakeSlackAPI()
    h = SlackHarness(f"sqlite:///{tmp_path}/d.sqlite3", fake=fake)
    fake.time_fn = lambda: h.clock.now().timestamp()  # the fake's limiter follows the test clock
    fake.per_channel_rate = 1.0
    fake.rate_scope = "team"  # one message a second for the whole workspace: every DM collides
    students = {f"U{i:03d}": f"s{i}" for i in range(12)}
    h.fake.add_user(TEAM, "UINS", "ines")
    for uid, name in students.items():
        h.fake.add_user(TEAM, uid, name)
    try:
        h.slack.command("UINS", "cohort create Big")
        for uid in students:
            h.slack.command(uid, "cohort join Big")
        fake.fail_next("chat.postMessage", "ratelimited", retry_after=2, times=3)
        h.slack.command("UINS", "start Big")
        rounds = 0
        for rounds in range(200):  # noqa: B007 (read after the loop, in the assertion message)
            with h.db.session() as s:
                pending = s.execute(
                    select(func.count()).select_from(Nudge).where(col(Nudge.status).in_(("pending", "claimed")))
                ).scalar_one()
            if not pending:
                break
            h.clock.advance(timedelta(seconds=1))
            h.nudges.deliver_due()
        delivered = [c.args["channel"] for c in fake.ok_calls_to("chat.postMessage")]
        assert sorted(delivered) == sorted(students)  # every student once, none twice
        limited = [c for c in fake.calls_to("chat.postMessage") if c.status == 429]
        assert len(limited) >= 3, rounds
    finally:
        h.close()


def test_cannot_dm_marks_the_person_unreachable(tmp_path) -> None:
    h = SlackHarness(f"sqlite:///{tmp_path}/d.sqlite3")
    h.fake.add_user(TEAM, "UINS", "ines")
    h.fake.add_user(TEAM, "UA", "ada")
    h.fake.add_user(TEAM, "UX", "xena", dm_error="cannot_dm_bot")
    try:
        h.slack.command("UINS", "cohort create C")
        h.slack.command("UA", "cohort join C")
        h.slack.command("UX", "cohort join C")
        h.slack.command("UINS", "start C")
        h.drain()  # on a loaded machine the answer (and the DMs it plans) may come after the ack
        from storage.models import Person

        with h.db.session() as s:
            people = {p.external_id: p for p in s.exec(select(Person)).scalars()}  # type: ignore[attr-defined]
        assert people["UX"].unreachable_at is not None and "cannot_dm" in (people["UX"].unreachable_reason or "")
        assert people["UA"].unreachable_at is None
    finally:
        h.close()


def test_healthz_and_unknown_paths(h: SlackHarness) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{h.url}/healthz", timeout=5) as resp:
        assert resp.status == 200 and json.loads(resp.read())["ok"] is True


def test_a_429_wait_does_not_block_new_acks(h: SlackHarness) -> None:
    _class_started(h)
    h.drain()  # no App Home refresh left to take the 429 meant for the event's publish
    h.fake.fail_next("views.publish", "ratelimited", retry_after=2)
    h.slack.event({"type": "app_home_opened", "user": "UA", "tab": "home"})
    h.fake.wait_for(lambda calls: any(c.method == "views.publish" and c.status == 429 for c in calls))
    t0 = time.perf_counter()
    assert h.slack.command("UB", "progress").status == 200
    assert time.perf_counter() - t0 < 1.0  # acked while the other call sleeps out its Retry-After
    h.fake.wait_for(lambda calls: any(c.method == "views.publish" and c.status == 200 for c in calls), timeout=10)
    h.drain()


def test_slow_answers_are_acked_at_once_and_follow_by_response_url(h: SlackHarness, monkeypatch) -> None:
    import adapters.slack_app as slack_app

    monkeypatch.setattr(slack_app, "ACK_BUDGET", 0.0)
    result = h.slack.command("UINS", "cohort create Slowpoke")
    assert result.status == 200 and result.body == ""  # acknowledged before the engine answered
    answer = h.reply(result)
    assert "Slowpoke" in answer["text"] and answer["response_type"] == "ephemeral"
    h.drain()
    # A modal asked for slowly still opens while the trigger id is valid.
    h.slack.command("UA", "cohort join Slowpoke")
    h.slack.command("UA", "contact")
    view = h.fake.wait_for_calls("views.open")[-1]
    h.drain()
    assert r.form_name(view.args["view"]["callback_id"]) == "contact"


def test_export_is_uploaded_to_the_instructors_dm(h: SlackHarness) -> None:
    _class_started(h)
    result = h.slack.command("UINS", "export Spring26")
    assert result.status == 200
    h.fake.wait_for_calls("files.completeUploadExternal")
    h.drain()
    opened = h.fake.calls_to("conversations.open")[-1]
    assert opened.args["users"] == "UINS"
    done = h.fake.calls_to("files.completeUploadExternal")[-1]
    assert done.args["channel_id"] == "DINS"
    upload = h.fake.calls_to("files.getUploadURLExternal")[-1]
    assert upload.args["filename"].endswith(".csv") and int(upload.args["length"]) > 0


def test_instructor_added_by_mention_and_home_button_answers_by_dm(h: SlackHarness) -> None:
    _class_started(h)
    added = h.reply(h.slack.command("UINS", "cohort instructor Spring26 <@UB|bob>"))
    assert "bob" in added["text"]
    assert h.reply(h.slack.command("UB", "report Spring26"))["blocks"][0]["type"] == "header"
    # A button pressed on the Home tab has no response_url: the answer comes by DM.
    h.fake.clear()
    payload_action = r.encode_action_id("nudge.snooze", 0)
    import json as _json

    body = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": "UA", "username": "ada", "team_id": TEAM},
        "api_app_id": "A0DAREBOT",
        "container": {"type": "view", "view_id": "VHOME"},
        "trigger_id": "9.9.t",
        "view": {"id": "VHOME", "type": "home"},
        "actions": [{"type": "button", "action_id": payload_action, "block_id": "b", "value": "3", "action_ts": "1"}],
    }
    assert h.slack.interaction(_json.loads(_json.dumps(body))).status == 200
    h.fake.wait_for_calls("chat.postMessage")
    h.drain()
    assert h.fake.calls_to("chat.postMessage")[-1].args["channel"] == "UA"


# -- after the answer: the report's chart, a fresh App Home, board pages in place ---------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _homes_of(h: SlackHarness, user_id: str) -> list:  # type: ignore[type-arg]
    return [c for c in h.fake.ok_calls_to("views.publish") if c.args["user_id"] == user_id]


def _buttons(payload: dict) -> dict[str, dict]:
    """A message's buttons by label."""
    return {el["text"]["text"]: el for b in payload.get("blocks", []) if b["type"] == "actions" for el in b["elements"]}


def test_the_report_chart_is_uploaded_to_the_instructors_dm(h: SlackHarness) -> None:
    _class_started(h)
    report = h.reply(h.slack.command("UINS", "report Spring26"))
    # The text stays, and says where the chart went.
    assert "5% baseline" in report["text"] and report["response_type"] == "ephemeral"
    assert "take-up.png, sent to you by DM" in json.dumps(report["blocks"])
    # Slack's three steps: an upload URL, the bytes to it, completion sharing the file in the DM.
    h.fake.wait_for_calls("files.completeUploadExternal")
    h.drain()
    assert h.fake.calls_to("conversations.open")[-1].args["users"] == "UINS"
    assert [c.status for c in h.fake.calls_to("file_upload")] == [200]
    [chart] = h.fake.shared_files("DINS")
    assert chart.filename.endswith(".png") and chart.content is not None
    assert chart.content.startswith(PNG_SIGNATURE) and len(chart.content) == chart.length > 1000
    assert chart.title == "Spring26: take-up report" and chart.alt_txt.startswith("Take-up funnel for Spring26")
    # A participant asking for the report is refused and gets no file.
    h.fake.clear()
    refused = h.reply(h.slack.command("UA", "report Spring26"))
    h.drain()
    assert ":warning:" in json.dumps(refused["blocks"])
    assert not h.fake.calls_to("files.getUploadURLExternal")


def test_a_failed_chart_upload_is_logged_and_told_and_the_report_stands(h: SlackHarness, caplog) -> None:
    import urllib.parse

    _class_started(h)
    h.drain()
    h.fake.fail_next("files.completeUploadExternal", "not_in_channel")
    result = h.slack.command("UINS", "report Spring26")
    report = h.reply(result)
    assert "5% baseline" in report["text"] and ":warning:" not in json.dumps(report["blocks"])
    path = urllib.parse.urlparse(result.response_url).path
    answered_late = 0 if result.body else 1
    h.fake.wait_for(lambda calls: sum(c.method == "response_url" and c.path == path for c in calls) > answered_late)
    h.drain()
    notice = [c for c in h.fake.calls_to("response_url") if c.path == path][-1].args
    assert notice["response_type"] == "ephemeral" and notice["replace_original"] is False
    assert "could not be sent to your DM" in notice["text"] and "not_in_channel" in notice["text"]
    assert h.fake.shared_files() == []
    assert any(r.name == "darebot.slack" and "take-up.png" in r.getMessage() for r in caplog.records)


def test_app_home_is_republished_after_commands_at_most_once_a_window(h: SlackHarness, monkeypatch) -> None:
    from adapters import slack_home

    _class_started(h)
    h.slack.command("UA", "accept")
    h.drain()
    h.fake.clear()
    # A command that changes Ada's state brings her Home tab up to date without her reopening it.
    assert "Grace Hopper" in _text(h.slack.command("UA", 'contact "Grace Hopper" --decides'))
    h.drain()
    homes = _homes_of(h, "UA")
    assert homes and homes[-1].args["view"]["type"] == "home"
    assert "*Contacts*\\n1 (1 can hire)" in json.dumps(homes[-1].args["view"])
    assert not _homes_of(h, "UB")  # only the person who acted
    # A burst of commands inside one window: a single publish, reading the state after the last.
    monkeypatch.setattr(slack_home, "HOME_REFRESH_SECONDS", 60.0)
    h.fake.clear()
    for name in ("Ada L", "Alan T", "Barbara L"):
        assert h.slack.command("UA", f'contact "{name}"').status == 200
    h.drain()  # cuts the window short
    homes = _homes_of(h, "UA")
    assert len(homes) == 1 and "*Contacts*\\n4 (1 can hire)" in json.dumps(homes[0].args["view"])
    # Left alone, the held-back publish goes out when its window ends.
    monkeypatch.setattr(slack_home, "HOME_REFRESH_SECONDS", 0.3)
    h.fake.clear()
    h.slack.command("UA", 'outreach "Ada L" --via email')
    h.fake.wait_for(
        lambda calls: any(
            c.method == "views.publish"
            and c.args.get("user_id") == "UA"
            and "*Attempts*\\n1 (0 follow-ups)" in json.dumps(c.args)
            for c in calls
        )
    )
    # Refused commands change nothing, so they publish nothing.
    h.drain()
    h.fake.clear()
    assert h.reply(h.slack.command("UA", "report Spring26"))["response_type"] == "ephemeral"
    h.drain()
    assert not h.fake.calls_to("views.publish")
    # Nor do commands that only look: a class asking for its progress and the board all at once
    # costs no Home tab publishes.
    for text in ("progress", "help", "board Spring26", "questions"):
        assert h.slack.command("UA", text).status == 200
    h.drain()
    assert not h.fake.calls_to("views.publish")


def test_a_failed_home_refresh_is_logged_and_changes_no_answer(h: SlackHarness, caplog) -> None:
    _class_started(h)
    h.drain()
    h.fake.clear()
    h.fake.fail_next("views.publish", "invalid_arguments", times=5)
    answer = h.reply(h.slack.command("UA", 'contact "Grace Hopper"'))
    h.drain()
    assert "Grace Hopper" in answer["text"] and ":warning:" not in json.dumps(answer["blocks"])
    assert h.fake.calls_to("views.publish") and not h.fake.ok_calls_to("views.publish")
    assert any(
        r.name == "darebot.slack" and "App Home of T1/UA not refreshed: invalid_arguments" in r.getMessage()
        for r in caplog.records
    )
    assert not [c for c in h.fake.calls_to("response_url")]  # nothing was sent to Ada about it


def test_board_pages_replace_the_board_they_sit_on(h: SlackHarness) -> None:
    h.slack.command("UINS", "cohort create Big")
    students = [f"U{i:03d}" for i in range(30)]
    h.fake.add_user(TEAM, "U999", "eve <!channel> & co")
    for uid in students + ["U999"]:
        if uid != "U999":
            h.fake.add_user(TEAM, uid, f"s{uid[1:]}")
        h.slack.command(uid, "cohort join Big")
    first = h.reply(h.slack.command("U000", "board Big"))
    assert first["response_type"] == "ephemeral" and "Page 1 of 2" in first["text"]
    nxt = _buttons(first)["Next page"]
    assert r.decode_action_id(nxt["action_id"]) == "board.page" and nxt["value"] == "2:dare:Big"
    assert "Previous page" not in _buttons(first)
    h.drain()
    h.fake.clear()
    # Next page: the ephemeral board is replaced in place, not followed by a second message.
    assert h.slack.block_action("U000", nxt["action_id"], nxt["value"], channel_id="C1").status == 200
    h.drain()
    [second] = [c.args for c in h.fake.calls_to("response_url")]
    assert second["replace_original"] is True and second["response_type"] == "ephemeral"
    assert "Page 2 of 2" in second["text"] and "Next page" not in _buttons(second)
    prev = _buttons(second)["Previous page"]
    assert prev["value"] == "1:dare:Big"
    h.fake.clear()
    h.slack.block_action("U000", prev["action_id"], prev["value"], channel_id="C1")
    h.drain()
    [back] = [c.args for c in h.fake.calls_to("response_url")]
    assert back["replace_original"] is True and "Page 1 of 2" in back["text"]
    # Whatever a person typed as their name is escaped on every page.
    pages = [first, second, back]
    assert "&lt;!channel&gt; &amp; co" in json.dumps(pages)
    for page in pages:
        for kind, text in r.iter_text(page):
            assert kind != "mrkdwn" or ("<!" not in text and "<@" not in text), text
    # Other buttons still answer with a new message: posting the board to the channel ...
    h.fake.clear()
    post = _buttons(back)["Post to channel"]
    h.slack.block_action("U000", post["action_id"], post["value"], channel_id="C1")
    h.drain()
    [posted] = [c.args for c in h.fake.calls_to("response_url")]
    assert posted["replace_original"] is False and posted["response_type"] == "in_channel"
    # ... and a page press that is refused leaves the board where it was and says why, privately.
    h.fake.clear()
    h.fake.add_user(TEAM, "UOUT", "outsider")
    h.slack.block_action("UOUT", nxt["action_id"], nxt["value"], channel_id="C1")
    h.drain()
    [refused] = [c.args for c in h.fake.calls_to("response_url")]
    assert refused["replace_original"] is False and refused["response_type"] == "ephemeral"
    assert ":warning:" in json.dumps(refused["blocks"]) and "cohort join Big" in refused["text"]


def test_the_instructors_view_through_slack(h: SlackHarness) -> None:
    """Close and reopen, remove and leave, one student's record, compare, boards, and the word button."""
    _class_started(h)
    for uid in ("UA", "UB"):
        h.slack.command(uid, "accept")
    h.slack.command("UA", 'contact "Grace Hopper" --decides')
    h.slack.command("UA", 'outreach "Grace Hopper"')
    for line in (
        "cohort close Spring26",
        "cohort reopen Spring26",
        "cohort remove Spring26 <@UB|bob>",
        "cohort rename Spring26 X",
        "report Spring26 --compare Spring26",
    ):
        refused = h.reply(h.slack.command("UA", line))
        assert refused["response_type"] == "ephemeral" and "Only instructors of Spring26" in refused["text"], line
    assert "someone else's progress" in _text(h.slack.command("UA", "progress <@UB|bob>"))

    record = _text(h.slack.command("UINS", "progress <@UA|ada> Spring26"))
    assert "progress" in record and "Grace" not in record
    report = h.reply(h.slack.command("UINS", "report Spring26"))
    assert "Who needs a word" in json.dumps(report) and "accepted the dare" in json.dumps(report)
    buttons = [el for b in report["blocks"] if b["type"] == "actions" for el in b["elements"]]
    word = next(
        b
        for b in buttons
        if r.decode_action_id(b["action_id"]) == "word.send" and "cy" in json.dumps(b["text"]).lower()
    )
    before = len([c for c in h.fake.ok_calls_to("chat.postMessage") if c.args["channel"] == "UC"])
    assert h.slack.block_action("UINS", word["action_id"], word["value"]).status == 200
    h.drain()
    # Cy had the dare's announcement today: one DM a day, so the word goes out tomorrow.
    assert "goes to cy tomorrow" in json.dumps([c.args for c in h.fake.calls_to("response_url")]).lower()
    h.clock.advance(timedelta(days=1))
    h.nudges.deliver_due()
    after = [c for c in h.fake.ok_calls_to("chat.postMessage") if c.args["channel"] == "UC"]
    assert len(after) == before + 1 and "instructor" in json.dumps(after[-1].args).lower()

    assert "last 7 days" in _text(h.slack.command("UINS", "board Spring26 --period week"))
    assert "no longer in Spring26" in _text(h.slack.command("UINS", "cohort remove Spring26 <@UC|cy>"))
    assert "left Spring26" in _text(h.slack.command("UB", "cohort leave Spring26"))
    closed = h.reply(h.slack.command("UINS", "cohort close Spring26"))
    assert "Spring26 is closed" in json.dumps(closed)
    h.slack.command("UINS", "cohort create Fall26")
    compared = json.dumps(h.reply(h.slack.command("UINS", "report Fall26 --compare Spring26")))
    assert "Side by side" in compared and "Spring26 (closed)" in compared
    assert "open again" in _text(h.slack.command("UINS", "cohort reopen Spring26"))
    assert "now called Spring27" in _text(h.slack.command("UINS", "cohort rename Spring26 Spring27"))


def test_the_instructors_weekly_digest_carries_the_weekly_chart(h: SlackHarness) -> None:
    _class_started(h)
    h.slack.command("UA", "accept")
    h.slack.command("UA", 'contact "Grace Hopper"')
    h.slack.command("UA", 'outreach "Grace Hopper"')
    h.drain()
    for _ in range(10):  # ten days of sweeps and deliveries: a Monday digest falls in them
        h.clock.advance(timedelta(days=1))
        h.nudges.tick()
    digests = [
        c
        for c in h.fake.ok_calls_to("chat.postMessage")
        if c.args["channel"] == "UINS" and "weekly digest" in json.dumps(c.args)
    ]
    assert digests, "no instructor digest went out"
    dm = digests[0].response["channel"]
    charts = [f for f in h.fake.shared_files(dm) if f.filename.endswith("-weekly.png")]
    assert charts and charts[0].content is not None and charts[0].content[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Weekly progress for Spring26" in charts[0].alt_txt and "first attempts" in charts[0].alt_txt


def test_meeting_the_goal_is_cheered_in_the_channel_but_not_in_a_dm(h: SlackHarness) -> None:
    assert h.slack.command("UINS", "cohort create Duo --goal 1").status == 200
    for uid in ("UA", "UB"):
        h.slack.command(uid, "cohort join Duo")
    h.slack.command("UINS", "start Duo")
    for uid in ("UA", "UB"):
        h.slack.command(uid, "accept")
        h.slack.command(uid, 'contact "Grace Hopper"')
        h.slack.command(uid, 'outreach "Grace Hopper"')
    h.drain()
    h.fake.clear()
    in_channel = h.slack.command("UA", 'log "Grace Hopper"', channel_id="C1")
    assert "you met your goal" in _text(in_channel) and h.reply(in_channel)["response_type"] == "ephemeral"
    h.drain()
    posts = [c.args for c in h.fake.calls_to("response_url") if c.args.get("response_type") == "in_channel"]
    assert len(posts) == 1 and "just met the goal of 1 reverse interview in Duo" in json.dumps(posts[0])
    h.fake.clear()
    in_dm = h.slack.command("UB", 'log "Grace Hopper"', channel_id="D0BOB")
    assert "you met your goal" in _text(in_dm)
    h.drain()
    assert not [c for c in h.fake.calls_to("response_url") if c.args.get("response_type") == "in_channel"]
