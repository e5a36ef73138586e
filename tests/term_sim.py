"""An eight-week term on the injected clock: scripted students, several zones, both autumn DST changes.

Used by tests/test_term_simulation.py (which asserts the coach's invariants) and runnable on its own to
count DMs per person per week (`python -m tests.term_sim`). It only types commands that existed before
the coach work, tolerating refusals, so the same script measures the old and the new behaviour.

Each DM is recorded with what the database said at the moment it went out (goal, interviews in the
dare, deadline, the person's local date, whom they interviewed or were declined by).
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.identity import Actor
from bot.ports import Sent
from bot.replies import Reply
from storage.db import Database, open_database
from storage.models import Contact, Dare, Interview, Outreach, Person
from tests.fakes.room import Room

START = datetime(2026, 10, 12, 13, 0, tzinfo=UTC)  # Monday; Europe changes clocks Oct 25, the US Nov 1
DEADLINE = date(2026, 11, 20)  # moved to Nov 23 in week 3; the term runs on two weeks past it
WEEKS = 8
TZ = {
    "eager": "America/New_York",  # does everything, meets the goal in week 4
    "never": "Europe/Berlin",  # joins, never accepts
    "stall": "Asia/Tokyo",  # accepts, one message, then silence
    "steady": "America/Los_Angeles",  # slow but persistent: follows up, changes channel, moves on
    "forget": "Europe/London",  # books a meeting and never logs it
    "snooze": "Australia/Sydney",  # snoozes for a week, later turns nudges off and on again
    "declined": "America/Sao_Paulo",  # first contact says no
    "teach": "America/Chicago",
}
BEHAVIOUR = {k: k for k in TZ if k != "teach"}

# (day, local hour, user, command) -- days from START's local date
SCRIPT: list[tuple[int, int, str, str]] = [
    (0, 11, "eager", "accept"),
    (0, 11, "eager", 'contact "Susan Green" --title Owner --org "Bake and Cook" --kind business --decides'),
    (0, 12, "eager", 'contact "Ron Perkins" --title Partner --org Doozer --kind decision-maker'),
    (0, 12, "eager", 'contact "Ada Stone" --title "Staff engineer" --org Initech'),
    (0, 13, "eager", 'contact "Lee Park" --title CTO --org Acme --decides'),
    (0, 13, "eager", 'outreach "Susan Green" --via email'),
    (1, 11, "eager", 'outreach "Ron Perkins" --via linkedin'),
    (2, 11, "eager", 'reply "Susan Green" --meeting 2026-10-16'),
    (4, 19, "eager", 'log "Susan Green" --minutes 25 --outcome advice --asked v1,m1'),
    (5, 11, "eager", 'reply "Ron Perkins" --meeting 2026-10-21'),
    (9, 19, "eager", 'log "Ron Perkins" --minutes 30 --outcome business-proposal --asked v2,p1'),
    (10, 11, "eager", 'outreach "Ada Stone"'),
    (13, 11, "eager", 'reply "Ada Stone" --meeting 2026-10-27'),
    (15, 19, "eager", 'log "Ada Stone" --minutes 20 --asked p2,m2'),
    (17, 11, "eager", "story Three talks, one business idea and a new friend --to cohort"),
    (1, 11, "stall", "accept"),
    (1, 11, "stall", 'contact "Kenji Mori" --title Director --org Sony --decides'),
    (1, 12, "stall", 'outreach "Kenji Mori" --via email'),
    (2, 11, "steady", "accept"),
    (2, 11, "steady", 'contact "Maria Lopez" --title VP --org Globex --decides'),
    (2, 12, "steady", 'contact "Tom Hale" --title Engineer --org Hooli'),
    (3, 11, "steady", 'outreach "Maria Lopez" --via email'),
    (9, 11, "steady", 'outreach "Maria Lopez" --via email'),
    (15, 11, "steady", 'outreach "Maria Lopez" --via phone'),
    (22, 11, "steady", 'outreach "Tom Hale" --via linkedin'),
    (27, 11, "steady", 'reply "Tom Hale" --meeting 2026-11-12'),
    (31, 19, "steady", 'log "Tom Hale" --minutes 15 --asked v1'),
    (0, 14, "forget", "accept"),
    (0, 14, "forget", 'contact "Priya Shah" --title Head --org Initrode --decides'),
    (1, 11, "forget", 'outreach "Priya Shah"'),
    (3, 11, "forget", 'reply "Priya Shah" --meeting 2026-10-20'),
    (0, 15, "snooze", "accept"),
    (0, 15, "snooze", 'contact "Jo Bloggs" --title Manager --org Wayne'),
    (1, 11, "snooze", 'outreach "Jo Bloggs"'),
    (6, 20, "snooze", "settings snooze 7"),
    (20, 11, "snooze", "settings nudges off"),
    (30, 11, "snooze", "settings nudges on"),
    (0, 16, "declined", "accept"),
    (0, 16, "declined", 'contact "Ann Lee" --title Director --org Umbrella --decides'),
    (0, 16, "declined", 'contact "Bo Kim" --title Lead --org Stark'),
    (1, 11, "declined", 'outreach "Ann Lee"'),
    (4, 11, "declined", 'reply "Ann Lee" --declined'),
    (21, 11, "teach", "start cs101 --deadline 2026-11-23"),
    (33, 11, "teach", "reward @eager"),
]


@dataclass(frozen=True)
class Seen:
    """A DM and the truth at the moment it was sent."""

    user: str
    at: datetime
    local_day: date
    title: str
    text: str
    goal: int
    done: int
    deadline: date | None
    interviewed: frozenset[str]
    declined: frozenset[str]


@dataclass
class TruthMessenger:
    """Records each DM with a read of the database made while it is being sent."""

    db: Database
    clock: object
    seen: list[Seen] = field(default_factory=list)

    def send_dm(self, workspace_external_id: str, user_id: str, reply: Reply, **_kw: object) -> Sent:
        now = self.clock.now()  # type: ignore[attr-defined]
        with self.db.session() as s:
            person = s.execute(select(Person).where(Person.external_id == user_id)).scalars().one()
            dare = s.execute(select(Dare)).scalars().first()
            start = dare.starts_at.astimezone(ZoneInfo(TZ[user_id])).date() if dare else date.min
            held = s.execute(
                select(Interview.held_on, Contact.name)
                .join(Contact, Contact.id == Interview.contact_id)
                .where(Interview.person_id == person.id)
            ).all()
            declined = s.execute(
                select(Contact.name)
                .join(Outreach, Outreach.contact_id == Contact.id)
                .where(Outreach.person_id == person.id, Outreach.status == "declined")
            ).scalars()
            self.seen.append(
                Seen(
                    user_id,
                    now,
                    now.astimezone(ZoneInfo(TZ[user_id])).date(),
                    reply.title or "",
                    reply.plain_text(),
                    dare.goal if dare else 0,
                    sum(1 for d, _ in held if d >= start),
                    dare.deadline if dare else None,
                    frozenset(n for _, n in held),
                    frozenset(declined),
                )
            )
        return Sent(f"m{len(self.seen)}")


def _at(day: int, hour: int, user: str) -> datetime:
    local_start = START.astimezone(ZoneInfo(TZ[user])).date()
    return datetime.combine(local_start + timedelta(days=day), time(hour, 0), ZoneInfo(TZ[user])).astimezone(UTC)


def run_term(url: str) -> tuple[Room, TruthMessenger, list[tuple[str, str, str]]]:
    """Plays the term; returns the room, the recorded DMs and the commands that were refused."""
    db = open_database(url)
    room = Room(db, START)
    messenger = TruthMessenger(db, room.clock)
    room.messenger = messenger  # type: ignore[assignment]
    room.nudges.delivery.messenger = messenger
    refused: list[tuple[str, str, str]] = []

    def say(user: str, text: str) -> None:
        reply = room.engine.handle_text(
            room.ws, Actor(user, user.capitalize(), TZ[user] if user != "teach" else None), "/dare " + text
        )
        if reply.is_error:
            refused.append((user, text, reply.plain_text()))

    say("teach", f"cohort create cs101 --deadline {DEADLINE} --tz America/Chicago")
    for u in BEHAVIOUR:
        say(u, "cohort join cs101")
    say("teach", "start cs101 --reward 'a signed copy of the book'")
    for day, hour, user, text in sorted(SCRIPT, key=lambda e: _at(e[0], e[1], e[2])):
        when = _at(day, hour, user)
        if when > room.clock.now():
            room.until(when)
        say(user, text)
    room.until(START + timedelta(weeks=WEEKS))
    return room, messenger, refused


def per_week(seen: list[Seen]) -> dict[str, list[int]]:
    """DMs per person per week of the term."""
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for d in seen:
        counts[d.user][min(WEEKS - 1, (d.at - START).days // 7)] += 1
    return {u: [counts[u][w] for w in range(WEEKS)] for u in TZ}


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _, messenger, refused = run_term(f"sqlite:///{tmp}/term.sqlite3")
    print("behaviour   " + " ".join(f"w{w + 1:<2}" for w in range(WEEKS)) + "  total")
    for user, weeks in per_week(messenger.seen).items():
        print(f"{user:<11} " + " ".join(f"{n:<3}" for n in weeks) + f"  {sum(weeks)}")
    if "-v" in sys.argv:
        for d in messenger.seen:
            print(d.user, d.at.astimezone(ZoneInfo(TZ[d.user])).strftime("%a %m-%d %H:%M"), d.title)
        for r in refused:
            print("refused:", r)


if __name__ == "__main__":
    main()
