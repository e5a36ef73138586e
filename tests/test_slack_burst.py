"""A class-wide burst through the real Slack app: every command is answered exactly once, in the ack
or through its response_url, never both and never twice; errors stay private. No timing is asserted
(speed lives in bench/burst.py)."""

from __future__ import annotations

import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fakes.slack_harness import TEAM, SlackHarness

PEOPLE = [f"U{i:02d}" for i in range(10)]
TEXTS = ["progress", "board Burst", "help", "story It went well, I learned a lot", 'log "Nobody I know"']


@pytest.fixture
def h(tmp_path):  # type: ignore[no-untyped-def]
    harness = SlackHarness(f"sqlite:///{tmp_path}/burst.sqlite3")
    harness.fake.add_user(TEAM, "UINS", "ines")
    for u in PEOPLE:
        harness.fake.add_user(TEAM, u, u.lower())
    try:
        yield harness
    finally:
        harness.close()


def test_every_command_of_a_burst_is_answered_exactly_once(h: SlackHarness) -> None:
    h.slack.command("UINS", "cohort create Burst --goal 2")
    for u in PEOPLE:
        h.slack.command(u, "cohort join Burst")
    h.slack.command("UINS", "start Burst")
    for u in PEOPLE:
        h.slack.command(u, "accept")
    h.drain()
    h.fake.clear()
    engine = h.adapter.engine
    handle_text = engine.handle_text

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.02)  # commands pile up behind the engine, so some are acked before their answer
        return handle_text(*args, **kwargs)

    engine.handle_text = slow  # type: ignore[method-assign]
    jobs = [(PEOPLE[i % len(PEOPLE)], TEXTS[i % len(TEXTS)]) for i in range(60)]
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda job: h.slack.command(*job), jobs))
    assert all(r.status == 200 for r in results)
    answers = [h.reply(r) for r in results]  # the ack's body, or waits for the response_url POST
    h.drain()
    time.sleep(0.3)  # a second answer, were there one, would have arrived by now
    posted = Counter(c.path for c in h.fake.calls_to("response_url"))
    late = 0
    for r in results:
        path = urllib.parse.urlparse(r.response_url).path
        if r.body:
            assert posted[path] == 0, "answered in the ack and again through response_url"
        else:
            late += 1
            assert posted[path] == 1
    print(f"\n{len(results)} commands: {len(results) - late} answered in the ack, {late} through response_url")
    for (_user, text), answer in zip(jobs, answers, strict=True):
        shown = str(answer).lower()
        if text.startswith("log"):  # no such contact: a private refusal
            assert answer["response_type"] == "ephemeral" and "no contact" in shown
        elif text.startswith("board"):
            assert "burst" in shown
        elif text == "progress":
            assert "progress" in shown
