"""Speed that tests can check without a stopwatch: statements per command, and who the sweep looks at."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.identity import Actor
from bot.nudges.planner import due_people, plan
from bot.nudges.policy import DEFAULT_POLICY
from storage.models import Person
from tests.fakes.chat import Chat
from tests.sqlcount import counting


def _cohort(chat: Chat, size: int, name: str = "CS101") -> None:
    chat.ok("prof", f"/dare cohort create {name} --goal 2")
    for i in range(size):
        chat.ok(f"s{i}", f"/dare cohort join {name}")
    chat.ok("prof", f"/dare start {name}")
    for i in range(size):
        who = f"s{i}"
        chat.ok(who, "/dare accept")
        chat.ok(who, f'/dare contact "Person {i}" --decides')
        chat.ok(who, f'/dare outreach "Person {i}"')
        if i % 3 == 0:
            chat.ok(who, f'/dare log "Person {i}" --outcome advice')
    chat.ok("s1", "/dare story It worked --to cohort")
    chat.wait(days=1)


def _count(chat: Chat, user: str, line: str) -> int:
    with counting(chat.db.engine) as seen:
        reply = chat.say(user, line)
    assert not reply.is_error, reply.plain_text()
    return seen.count


@pytest.fixture(scope="module")
def rooms(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Chat]:
    out = {}
    for size in (3, 50):
        chat = Chat.open(f"sqlite:///{tmp_path_factory.mktemp('speed')}/c{size}.sqlite3")
        _cohort(chat, size)
        # Each speaker's activity mark (person.last_active_at) for this moment is written now, so no count
        # depends on which parameter ran first: xdist may give any of them to a fresh worker.
        for who, line in (("prof", "/dare board CS101"), ("s1", "/dare progress"), ("s2", "/dare progress")):
            chat.ok(who, line)
        out[size] = chat
    return out


@pytest.mark.parametrize(
    "user,line,most",
    [
        ("s1", "/dare progress", 6),
        ("prof", "/dare board CS101", 6),
        ("s2", "/dare board", 6),
        ("prof", "/dare report CS101", 10),  # + who needs a word: latest attempts, interviews, who muted nudges
        ("prof", "/dare export CS101", 7),
        # writes: +1 for the double-submission check (bot/dedupe.py: one upsert)
        ("s2", '/dare outreach "Person 2"', 8),
        # and for log: the cohort once more when its reply names the next step, and the running dares, to tell
        # whether this interview meets the goal
        ("s1", '/dare log "Person 1"', 11),
    ],
)
def test_statements_per_command_are_few_and_do_not_grow_with_the_cohort(
    rooms: dict[int, Chat], user: str, line: str, most: int
) -> None:
    small, big = (_count(rooms[n], user, line) for n in (3, 50))
    assert big <= most, f"{line}: {big} statements"
    assert big == small, f"{line}: {small} statements for 3 people, {big} for 50"


def test_the_app_home_of_an_instructor_takes_a_handful_of_statements(rooms: dict[int, Chat]) -> None:
    chat = rooms[50]
    with counting(chat.db.engine) as seen:
        chat.engine.home(chat.ws, Actor("prof", "Prof"))
    assert seen.count <= 12, str(seen)


# -- the incremental sweep ------------------------------------------------------------------------


def _due(chat: Chat) -> set[str]:
    with chat.db.session() as s:
        ids = [pid for pid, _ in due_people(s, chat.clock.now())]
        return set(s.exec(select(Person.external_id).where(Person.id.in_(ids))).all())  # type: ignore[attr-defined]


def _plan(chat: Chat) -> int:
    with chat.db.session() as s:
        return plan(s, chat.clock.now(), DEFAULT_POLICY)


def test_a_steady_sweep_looks_at_nobody_until_someone_changes(db_url: str) -> None:
    chat = Chat.open(db_url)
    chat.ok("prof", "/dare cohort create CS101 --goal 2")
    for s in ("ann", "bob", "cy"):
        chat.ok(s, "/dare cohort join CS101")
    chat.ok("prof", "/dare start CS101")
    assert _due(chat) == {"prof", "ann", "bob", "cy"}
    _plan(chat)
    assert _due(chat) == set() and _plan(chat) == 0
    chat.ok("bob", "/dare progress")  # reading changes nothing
    assert _due(chat) == set()
    chat.ok("ann", "/dare accept")  # a change marks only the person who made it
    assert _due(chat) == {"ann"}
    _plan(chat)
    chat.ok("prof", "/dare start CS101 --goal 3")  # editing the dare marks the whole cohort
    assert _due(chat) == {"prof", "ann", "bob", "cy"}


def test_the_sweep_comes_back_when_the_next_reminder_comes_within_reach(db_url: str) -> None:
    chat = Chat.open(db_url)
    chat.ok("prof", "/dare cohort create CS101 --goal 2")
    chat.ok("ann", "/dare cohort join CS101")
    chat.ok("prof", "/dare start CS101")
    _plan(chat)
    with chat.db.session() as s:
        ann = s.exec(select(Person).where(Person.external_id == "ann")).one()
    # the first "not accepted" reminder falls due two days after the start; the sweep looks a day ahead
    assert ann.next_check_at is not None and ann.next_check_at - chat.clock.now() < timedelta(days=2)
    chat.clock.set(ann.next_check_at - timedelta(minutes=1))
    assert "ann" not in _due(chat)
    chat.clock.set(ann.next_check_at)
    assert "ann" in _due(chat)
    assert _plan(chat) >= 1
