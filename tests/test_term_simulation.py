"""Eight weeks of a cohort on the injected clock (tests/term_sim.py), and what a good coach never does."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest

from tests.term_sim import TZ, Seen, run_term

# Eight simulated weeks take a few seconds alone, longer on a loaded machine.
pytestmark = pytest.mark.timeout(1200)

AFTER_DEADLINE_OK = ("Say thank you to ", "Tell your story", "Your story earned the reward")
ADVISES_CONTACT = (
    r'/dare outreach "{n}"',
    r"Next on your list: {n}\.",
    r"follow up with {n}\b",
    r"Try {n} another way",
    r"move on to {n}\b",
    r"Follow up with {n}\b",
)


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Seen], list[tuple[str, str, str]]]:
    _, messenger, refused = run_term(f"sqlite:///{tmp_path_factory.mktemp('term') / 'term.sqlite3'}")
    return messenger.seen, refused


def test_the_script_runs_as_written(term) -> None:
    seen, refused = term
    assert refused == []
    assert {d.user for d in seen} == set(TZ)


def test_no_one_gets_two_dms_in_one_local_day(term) -> None:
    seen, _ = term
    per_day = Counter((d.user, d.local_day) for d in seen)
    assert [k for k, n in per_day.items() if n > 1] == []


def test_no_dm_says_the_same_thing_twice_to_one_person(term) -> None:
    seen, _ = term
    bodies = Counter((d.user, d.text) for d in seen)
    assert [k for k, n in bodies.items() if n > 1] == []


def test_no_dm_advises_contacting_someone_interviewed_or_who_declined(term) -> None:
    seen, _ = term
    checked = 0
    for d in seen:
        for name in d.interviewed | d.declined:
            checked += 1
            for pattern in ADVISES_CONTACT:
                assert not re.search(pattern.format(n=re.escape(name)), d.text), (d.user, d.title, name)
    assert checked > 10  # the term has interviews and a decline to check against


def test_nobody_is_told_to_add_contacts_after_meeting_the_goal(term) -> None:
    seen, _ = term
    met = [d for d in seen if d.user != "teach" and d.goal and d.done >= d.goal]
    assert met, "the eager student meets the goal"
    for d in met:
        for advice in ("/dare contact", "Add someone new", "Next on your list"):
            assert advice not in d.text, d


def test_after_the_deadline_only_thank_yous_and_stories(term) -> None:
    seen, _ = term
    after = [d for d in seen if d.deadline is not None and d.local_day > d.deadline]
    assert [d.title for d in after if d.user == "teach"] == ["cs101: the dare is over"]
    for d in after:
        if d.user != "teach":
            assert d.title.startswith(AFTER_DEADLINE_OK), (d.user, d.local_day, d.title)


def test_every_count_and_date_matches_the_database_when_sent(term) -> None:
    seen, _ = term
    fields = 0
    for d in seen:
        m = re.search(r"Interviews: (\d+) of (\d+)", d.text)
        if m:
            fields += 1
            assert (int(m.group(1)), int(m.group(2))) == (d.done, d.goal), d
        m = re.search(r"Deadline: (\d{4}-\d\d-\d\d)(?: \(([^)]*)\))?", d.text)
        if m and d.user != "teach":
            fields += 1
            assert date.fromisoformat(m.group(1)) == d.deadline, d
            left = (d.deadline - d.local_day).days if d.deadline else 0
            note = m.group(2) or ""
            if note:
                expected = (
                    "passed"
                    if left < 0
                    else "today is the last day"
                    if left == 0
                    else f"{left} day{'s' if left != 1 else ''} left"
                )
                assert note == expected, (d.user, d.local_day, note)
        m = re.search(r"You're at (\d+) of (\d+)", d.text)
        if m:
            assert (int(m.group(1)), int(m.group(2))) == (d.done, d.goal), d
    assert fields > 20


def test_meeting_copy_is_relative_to_the_persons_own_clock(term) -> None:
    seen, _ = term
    prep = [d for d in seen if d.title.startswith("Your talk with")]
    assert prep
    for d in prep:
        if d.title.endswith("is today"):
            assert "this evening" not in d.text and "tonight" not in d.text
    check = [d for d in seen if d.title.startswith("Did your talk with")]
    assert [d.user for d in check] == ["forget"]  # once, the day after the meeting nobody logged


def test_the_stalled_student_hears_the_ladder_with_a_message_to_copy(term) -> None:
    seen, _ = term
    stall = [d for d in seen if d.user == "stall"]
    assert any("That's normal, not a no" in d.text and "A message you could send" in d.text for d in stall)
    steady = [d.text for d in seen if d.user == "steady"]
    assert any("Try a different way in" in t for t in steady)
    assert any("time to move on to" in t for t in steady)


def test_a_long_silence_gets_one_fresh_start_after_still_with_us(term) -> None:
    seen, _ = term
    stall = [d for d in seen if d.user == "stall"]
    titles = [d.title for d in stall]
    assert titles.count("Still with us?") == 1 and titles.count("A fresh start?") == 1
    assert titles.index("Still with us?") < titles.index("A fresh start?")
    fresh = next(d for d in stall if d.title == "A fresh start?")
    assert "the dare runs on" in fresh.text and "A message you could send" in fresh.text
