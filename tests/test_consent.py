"""Consent in every output: a contact's name and details reach only their owner, an instructor-only story
only instructors, an anonymous story never its author's name. Every registered command and button,
the posted board, the CSV export, the chart, the App Home, the nudges and digests, and another
person's data export are checked, as an instructor and as a classmate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from bot import registry
from bot.privacy import CONFIRM_MINUTES, visible_stories
from bot.replies import Reply
from storage.db import open_database
from storage.models import Cohort, Person
from tests.test_privacy import ANN, Class

START = datetime(2026, 9, 7, 14, 0, tzinfo=UTC)
CONTACT_SECRETS = ("Zebulon Quaxworth", "Secretcorp Ltd", "Chief Hushness", "hushhush lesson", "Frobnitz Recruiting")
INSTRUCTOR_ONLY = "INSTRUCTORONLY tale"
ANONYMOUS = "ANONYMOUS tale"
SHARED = "SHARED tale"

# A line per command for a classmate (bob) and an instructor (ida). A command missing here is still
# run, bare and with the cohort's name, so a new command is checked from the day it is declared.
LINES: dict[str, tuple[str, ...]] = {
    "help": ("/dare help", "/dare help contact"),
    "cohort create": ("/dare cohort create Other-{who}",),
    "cohort join": ("/dare cohort join Spring",),
    "cohort instructor": ("/dare cohort instructor Spring @U0BOB2X",),
    "cohort pause": ("/dare cohort pause Spring --until 2027-01-05",),
    "cohort resume": ("/dare cohort resume Spring",),
    "cohort quiet": ("/dare cohort quiet Spring --from today --to tomorrow",),
    "start": ("/dare start Spring --goal 4",),
    "accept": ("/dare accept Spring",),
    "contact": ('/dare contact "Carla {who}"',),
    "outreach": ('/dare outreach "Carla {who}"',),
    "reply": ('/dare reply "Carla {who}" --meeting tomorrow',),
    "log": ('/dare log "Carla {who}" --outcome advice',),
    "story": ("/dare story mine from {who} --to cohort",),
    "recruiter": ('/dare recruiter "Acme" --answer later',),
    "progress": ("/dare progress", "/dare progress @U0ANN7Q Spring"),
    # the term's life cycle runs on a cohort of the speaker's own, so Spring stays as it is
    "cohort close": ("/dare cohort close Other-{who}",),
    "cohort reopen": ("/dare cohort reopen Other-{who}",),
    "cohort remove": ("/dare cohort remove Other-{who} @U0BOB2X",),
    "cohort rename": ("/dare cohort rename Other-{who} Renamed-{who}",),
    "cohort leave": ("/dare cohort leave Renamed-{who}",),
    "board": ("/dare board Spring", "/dare board Spring --page 2"),
    "report": ("/dare report Spring",),
    "export": ("/dare export Spring",),
    "questions": ("/dare questions",),
    "settings": ("/dare settings", "/dare settings board alias"),
    "reward": ("/dare reward @U0ANN7Q",),
    "mydata": ("/dare mydata",),
    "forget-me": ("/dare forget-me",),
    "cohort retention": ("/dare cohort retention Spring 200",),
}
ACTION_VALUES = {"board.page": "1:Spring", "board.post": "Spring", "dare.accept": "Spring", "nudge.snooze": "2"}


def outputs(reply: Reply) -> str:
    parts = [reply.plain_text()]
    for att in (reply.image, reply.file):
        if att is not None:
            parts.append(att.content.decode("utf-8", "replace"))
    return "\n".join(parts)


def check(text: str, viewer: str, where: str) -> None:
    for secret in CONTACT_SECRETS:
        assert secret not in text, f"{where}: {viewer} sees Ann's contact detail {secret!r}"
    if viewer != "ida":
        assert INSTRUCTOR_ONLY not in text, f"{where}: {viewer} sees an instructor-only story"
    for line in text.splitlines():
        if ANONYMOUS in line:
            assert ANN["name"] not in line and "Ann" not in line, f"{where}: an anonymous story with its author"


def classroom(tmp_path: Any) -> Class:
    room = Class(open_database(f"sqlite:///{tmp_path}/consent.sqlite3"), START, platform="slack")
    room.do("ida", "/dare cohort create Spring --deadline 2026-11-30")
    room.do("ann", "/dare cohort join Spring")
    room.do("bob", "/dare cohort join Spring")
    room.do("ida", '/dare start Spring --reward "a coffee"')
    room.do("ann", "/dare accept")
    room.do("ann", f'/dare contact "{CONTACT_SECRETS[0]}" --org "{CONTACT_SECRETS[1]}" --title "{CONTACT_SECRETS[2]}"')
    room.do("ann", f'/dare outreach "{CONTACT_SECRETS[0]}"')
    room.do("ann", f'/dare reply "{CONTACT_SECRETS[0]}" --meeting tomorrow')
    room.do("ann", f'/dare log "{CONTACT_SECRETS[0]}" --outcome referral --learned "{CONTACT_SECRETS[3]}"')
    room.do("ann", f'/dare recruiter "{CONTACT_SECRETS[4]}" --answer no')
    room.do("ann", f"/dare story {INSTRUCTOR_ONLY}")
    room.do("ann", f"/dare story {ANONYMOUS} --to anonymous")
    room.do("ann", f"/dare story {SHARED} --to cohort")
    room.do("bob", "/dare accept")
    return room


def test_no_output_shows_what_it_must_not(tmp_path: Any) -> None:
    room = classroom(tmp_path)
    room.wait(days=21)  # nudges, meeting prep, thank-yous and weekly digests go out
    dms = [d for d in room.messenger.sent if d.user != ANN["id"]]
    assert any("digest" in d.title for d in dms)
    for dm in dms:
        check(dm.text, "ida" if dm.user == "U0IDA9Z" else "bob", f"DM {dm.title!r}")
    # Ann's own nudges do name her contact: they are hers.
    assert any(CONTACT_SECRETS[0] in d.text for d in room.messenger.sent if d.user == ANN["id"])

    board = room.do("bob", "/dare board Spring").plain_text()
    assert f'"{SHARED}" - {ANN["name"]}' in board and f'"{ANONYMOUS}" - a classmate' in board

    seen: set[str] = set()
    for who in ("bob", "ida"):
        for spec in registry.commands():
            lines = LINES.get(spec.name) or (f"/dare {spec.name}", f"/dare {spec.name} Spring")
            for line in lines:
                reply = room.engine.handle_text(room.ws, room.actor(who), line.format(who=who))
                check(outputs(reply), who, line)
                seen.add(spec.name)
        for act in registry.actions():
            if act.name == "privacy.forget":  # pressed long after asking: refused, and checked all the same
                room.clock.advance(timedelta(minutes=CONFIRM_MINUTES + 1))
            reply = room.press(who, act.name, ACTION_VALUES.get(act.name, ""))
            check(outputs(reply), who, f"button {act.name}")
        check(room.engine.home(room.ws, room.actor(who)).plain_text(), who, "App Home")
        mine = outputs(room.do(who, "/dare mydata"))
        assert SHARED not in mine and ANN["id"] not in mine  # someone else's export holds nothing of Ann's
    assert seen == {s.name for s in registry.commands()}

    posted = room.do("ida", "/dare board Spring --post")
    assert not posted.ephemeral
    for text in (SHARED, ANONYMOUS, INSTRUCTOR_ONLY, *CONTACT_SECRETS):
        assert text not in outputs(posted)  # a channel may hold people outside the cohort
    report = outputs(room.do("ida", "/dare report Spring"))
    assert "referral 1" in report  # instructors see counts and kinds


def test_visible_stories_is_the_one_rule(tmp_path: Any) -> None:
    room = classroom(tmp_path)
    with room.db.session() as s:
        cohort = s.exec(select(Cohort).where(Cohort.name == "Spring")).one()
        people = {p.external_id: p for p in s.exec(select(Person))}
        by_ida = {v.text: v.author for v in visible_stories(s, cohort, people["U0IDA9Z"])}
        by_bob = {v.text: v.author for v in visible_stories(s, cohort, people["U0BOB2X"])}
        by_ann = {v.text: v.author for v in visible_stories(s, cohort, people[ANN["id"]])}
        assert by_ida == {INSTRUCTOR_ONLY: ANN["name"], ANONYMOUS: ANN["name"], SHARED: ANN["name"]}
        assert by_bob == {ANONYMOUS: None, SHARED: ANN["name"]}
        assert set(by_ann) == set(by_ida)
        assert visible_stories(s, cohort, None) == []
        outsider = Person(
            workspace_id=cohort.workspace_id, external_id="U0OUT", display_name="Out", alias="x", created_at=START
        )
        s.add(outsider)
        s.flush()
        assert visible_stories(s, cohort, outsider) == []


def test_the_board_shows_the_three_newest_stories_shared_with_the_cohort(tmp_path: Any) -> None:
    room = classroom(tmp_path)
    for i in range(4):
        room.clock.advance(timedelta(minutes=1))
        room.do("bob", f"/dare story Bob's talk number {i} --to cohort")
    room.clock.advance(timedelta(minutes=1))
    room.do("bob", "/dare story Bob's note for the instructor")  # the newest, and not the cohort's to read
    for who in ("ann", "ida"):
        board = room.do(who, "/dare board Spring").plain_text()
        assert [f"number {i}" in board for i in range(4)] == [False, True, True, True], who
        assert "note for the instructor" not in board and SHARED not in board
