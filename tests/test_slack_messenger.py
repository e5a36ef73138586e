"""The Slack Messenger and Directory ports against the fake Web API: errors mapped like Slack means them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.slack_messenger import ClientPool, SlackDirectory, SlackMessenger, api_base_url
from bot.ports import PermanentSendError, TransientSendError
from bot.replies import Button, Reply, Section, text_reply
from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture
def fake() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as f:
        f.add_team("T1", "xoxb-1")
        f.add_user("T1", "UA", "ada", tz="Europe/Paris")
        f.add_user("T1", "UX", "xena", dm_error="cannot_dm_bot")
        yield f


def _messenger(fake: FakeSlackAPI) -> SlackMessenger:
    return SlackMessenger(ClientPool(lambda team: "xoxb-1" if team == "T1" else None, fake.url.rstrip("/")))


def test_base_url_gets_its_trailing_slash() -> None:
    assert api_base_url("http://x/api") == "http://x/api/"
    assert api_base_url(None) == "https://slack.com/api/"


def test_dm_is_posted_to_the_user_with_blocks_and_escaped_text(fake: FakeSlackAPI) -> None:
    reply = Reply(
        title="Nudge", sections=(Section(text="Hi <!channel> & co"),), buttons=(Button("Log it", "nudge.log"),)
    )
    sent = _messenger(fake).send_dm("T1", "UA", reply)
    call = fake.calls_to("chat.postMessage")[0]
    assert call.token == "xoxb-1" and call.args["channel"] == "UA"
    assert sent.message_id == f"DA:{call.response['ts']}"
    assert "&lt;!channel&gt; &amp; co" in call.args["text"] and call.args["blocks"][-1]["type"] == "actions"


# (account_inactive is about darebot's token, not the person: see test_liveness.py)
@pytest.mark.parametrize("error", ["cannot_dm_bot", "user_not_found", "user_disabled", "messages_tab_disabled"])
def test_unreachable_people_are_permanent_failures(fake: FakeSlackAPI, error: str) -> None:
    fake.fail_next("chat.postMessage", error)
    with pytest.raises(PermanentSendError) as info:
        _messenger(fake).send_dm("T1", "UA", text_reply("x"))
    assert info.value.reason == error


def test_a_user_who_cannot_be_dmed(fake: FakeSlackAPI) -> None:
    with pytest.raises(PermanentSendError, match="cannot_dm_bot"):
        _messenger(fake).send_dm("T1", "UX", text_reply("x"))
    with pytest.raises(PermanentSendError, match="user_not_found"):
        _messenger(fake).send_dm("T1", "UNOBODY", text_reply("x"))


def test_rate_limit_is_transient_with_retry_after_and_never_slept_on(fake: FakeSlackAPI) -> None:
    fake.fail_next("chat.postMessage", "ratelimited", retry_after=7)
    with pytest.raises(TransientSendError) as info:
        _messenger(fake).send_dm("T1", "UA", text_reply("x"))
    assert info.value.retry_after == 7.0 and info.value.reason == "ratelimited"
    assert len(fake.calls_to("chat.postMessage")) == 1  # no retry inside the call


def test_per_channel_limit_of_one_message_a_second(fake: FakeSlackAPI) -> None:
    now = [1000.0]
    fake.time_fn = lambda: now[0]
    fake.per_channel_rate = 1.0
    m = _messenger(fake)
    m.send_dm("T1", "UA", text_reply("one"))
    with pytest.raises(TransientSendError) as info:
        m.send_dm("T1", "UA", text_reply("two"))
    assert info.value.retry_after == 1.0
    now[0] += 1.0
    m.send_dm("T1", "UA", text_reply("two"))
    assert len(fake.ok_calls_to("chat.postMessage")) == 2


def test_server_errors_and_missing_tokens(fake: FakeSlackAPI) -> None:
    fake.fail_next("chat.postMessage", "internal_error", status=500)
    with pytest.raises(TransientSendError):
        _messenger(fake).send_dm("T1", "UA", text_reply("x"))
    with pytest.raises(TransientSendError, match="not_installed"):
        _messenger(fake).send_dm("T404", "UA", text_reply("x"))


def test_a_bad_token_never_writes_people_off(fake: FakeSlackAPI) -> None:
    m = SlackMessenger(ClientPool(lambda team: "xoxb-typo", fake.url))
    with pytest.raises(TransientSendError) as info:
        m.send_dm("T1", "UA", text_reply("x"))
    assert info.value.reason == "invalid_auth" and info.value.retry_after == 600.0


def test_connection_refused_is_transient() -> None:
    m = SlackMessenger(ClientPool(lambda team: "xoxb", "http://127.0.0.1:9/api/"))
    with pytest.raises(TransientSendError):
        m.send_dm("T1", "UA", text_reply("x"))


def test_directory_caches_users_info(fake: FakeSlackAPI) -> None:
    d = SlackDirectory(ClientPool(lambda team: "xoxb-1", fake.url))
    assert d.display_name("T1", "UA") == "ada"
    assert d.profile("T1", "UA").tz == "Europe/Paris"  # type: ignore[union-attr]
    assert d.display_name("T1", "UA") == "ada"
    assert d.display_name("T1", "UNOBODY") is None
    assert d.display_name("T1", "UNOBODY") is None
    assert len(fake.calls_to("users.info")) == 2  # one per user, then cached (misses too)


def test_the_directory_cache_is_bounded_and_entries_expire(fake: FakeSlackAPI) -> None:
    for i in range(5):
        fake.add_user("T1", f"UX{i}", f"x{i}")
    now = [0.0]
    d = SlackDirectory(
        ClientPool(lambda team: "xoxb-1", fake.url), ttl=100, negative_ttl=10, maxsize=3, timer=lambda: now[0]
    )
    for i in range(5):
        assert d.display_name("T1", f"UX{i}") == f"x{i}"
    assert len(d._cache) == 3  # the two least recently used went
    calls = len(fake.calls_to("users.info"))
    d.display_name("T1", "UX4")
    assert len(fake.calls_to("users.info")) == calls  # still cached
    now[0] = 101.0
    d.display_name("T1", "UX4")
    assert len(fake.calls_to("users.info")) == calls + 1  # expired, asked again
    d.display_name("T1", "UNOBODY")
    now[0] = 105.0
    d.display_name("T1", "UNOBODY")
    assert len(fake.calls_to("users.info")) == calls + 2  # a miss is cached for negative_ttl
    now[0] = 112.0
    d.display_name("T1", "UNOBODY")
    assert len(fake.calls_to("users.info")) == calls + 3
