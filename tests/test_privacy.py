"""A person's own data: export and erasure found by walking the schema, totals that keep their counts,
retention and the uninstall purge on the injected clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, Table, select
from sqlmodel import SQLModel

from bot.identity import Actor
from bot.replies import Reply
from storage import personal
from storage.db import open_database
from storage.models import Person, ProcessedEvent, Workspace
from storage.slack_store import SlackInstallation
from tests.fakes.room import Room

START = datetime(2026, 9, 7, 14, 0, tzinfo=UTC)  # a Monday

# Strings that belong to Ann alone: none may survive her erasure, none may reach Bob's export.
ANN = {"id": "U0ANN7Q", "name": "Annabel Quixote"}
ANN_SECRETS = (
    "Zebulon Quaxworth",
    "Secretcorp Ltd",
    "Marguerite Vantablack",
    "hushhush lesson",
    "INSTRUCTORONLY tale of Ann",
    "ANONYMOUS tale of Ann",
    "Frobnitz Recruiting",
    "Seniorsneak",
)
BOB_SECRETS = ("Bartholomew Kettleby", "Bobcorp Works", "BOBS OWN tale")


class Class(Room):
    """A room whose people have platform ids distinct from their names, on a Slack workspace."""

    names: dict[str, str] = {"ann": ANN["name"], "bob": "Bob Builder", "ida": "Ida Instructor"}
    ids: dict[str, str] = {"ann": ANN["id"], "bob": "U0BOB2X", "ida": "U0IDA9Z"}

    def actor(self, user: str) -> Actor:
        return Actor(self.ids[user], self.names[user])

    def do(self, user: str, text: str) -> Reply:
        reply = self.engine.handle_text(self.ws, self.actor(user), text)
        assert not reply.is_error, f"{user}: {text!r} failed: {reply.plain_text()}"
        return reply

    def press(self, user: str, action: str, value: str = "") -> Reply:
        return self.engine.press(self.ws, Actor(self.ids[user], self.names[user]), action, value)


def build(url: str) -> Class:
    """Ida teaches Spring; Ann and Bob each report every kind of thing; nudges go out for two weeks."""
    room = Class(open_database(url), START, platform="slack")
    room.do("ida", "/dare cohort create Spring --deadline 2026-11-30 --tz UTC")
    for who in ("ann", "bob"):
        room.do(who, "/dare cohort join Spring")
    room.do("ida", '/dare start Spring --reward "a coffee"')
    room.do("ann", "/dare accept")
    room.do("ann", f'/dare contact "{ANN_SECRETS[0]}" --org "{ANN_SECRETS[1]}" --decides')
    room.do("ann", f'/dare contact "{ANN_SECRETS[2]}" --title Director')
    room.do("ann", f'/dare outreach "{ANN_SECRETS[0]}" --on yesterday')
    room.do("ann", f'/dare outreach "{ANN_SECRETS[2]}"')
    room.do(
        "ann",
        f'/dare log "{ANN_SECRETS[0]}" --outcome advice --outcome referral --asked v1 --learned "{ANN_SECRETS[3]}"',
    )
    room.do("ann", f"/dare story {ANN_SECRETS[4]}")
    room.do("ann", f"/dare story {ANN_SECRETS[5]} --to anonymous")
    room.do("ann", f'/dare recruiter "{ANN_SECRETS[6]}" --role {ANN_SECRETS[7]} --answer no --connected')
    room.do("ann", "/dare settings quiet 22:00-07:00")
    room.do("bob", "/dare accept")
    room.do("bob", f'/dare contact "{BOB_SECRETS[0]}" --org "{BOB_SECRETS[1]}"')
    room.do("bob", f'/dare outreach "{BOB_SECRETS[0]}"')
    room.do("bob", f"/dare story {BOB_SECRETS[2]} --to cohort")
    room.do("ida", "/dare reward @U0ANN7Q")
    room.wait(days=8)  # nudges planned and sent, a weekly digest too
    with room.db.session() as s:
        ws = s.exec(select(Workspace)).one()[0]
        s.add(
            SlackInstallation(
                team_id=ws.external_id,
                user_id=ANN["id"],
                user_token_enc="secret-user-token",
                bot_token_enc="bot-token",
                installed_at=START,
            )
        )
        s.add(ProcessedEvent(key=f"slack:view:{ws.external_id}:{ANN['id']}:abc", created_at=START))
        s.add(ProcessedEvent(key=f"slack:view:{ws.external_id}:U0BOB2X:abc", created_at=START))
    return room


def person_id(room: Class, who: str) -> int:
    with room.db.session() as s:
        return s.exec(select(Person).where(Person.external_id == room.ids[who])).one()[0].id  # type: ignore[no-any-return]


def owners(room: Class) -> dict[str, dict[Any, int]]:
    """Independently of storage.personal's queries: each owned row's person, following the foreign
    keys in Python, table by table."""
    paths = personal.owner_paths()
    owner: dict[str, dict[Any, int]] = defaultdict(dict)
    with room.db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:  # parents before children
            if table.name not in paths:
                continue
            pk = list(table.primary_key.columns)[0].name
            for row in conn.execute(select(table)).mappings():
                if table.name == personal.PERSON:
                    owner[table.name][row["id"]] = row["id"]
                    continue
                for col, parent, _pcol in paths[table.name]:
                    if row[col] is None:
                        continue
                    pid = row[col] if parent == personal.PERSON else owner[parent].get(row[col])
                    if pid is not None:
                        owner[table.name][row[pk]] = pid
                        break
    return owner


def test_every_table_is_exported_or_declared_not_personal() -> None:
    assert personal.unclassified() == []
    owned = set(personal.owner_paths())
    assert {
        "person",
        "membership",
        "acceptance",
        "contact",
        "outreach",
        "interview",
        "outcome",
        "story",
        "recruitercall",
        "nudge",
        "forgottenactivity",
    } <= owned
    assert not owned & set(personal.NOT_PERSONAL)


def test_a_new_table_is_caught() -> None:
    """A table added tomorrow is either found through its foreign keys or flagged."""
    md = SQLModel.metadata
    owned = Table(
        "tmp_private_note",
        md,
        Column("id", Integer, primary_key=True),
        Column("person_id", Integer, ForeignKey("person.id")),
    )
    stray = Table("tmp_stray", md, Column("id", Integer, primary_key=True), Column("payload", Integer))
    sneaky = Table(
        "tmp_sneaky", md, Column("id", Integer, primary_key=True), Column("author", Integer, ForeignKey("person.id"))
    )
    try:
        assert "tmp_private_note" in personal.owner_paths()
        problems = personal.unclassified()
        assert any(p.startswith("tmp_stray:") for p in problems)
        assert any(p.startswith("tmp_sneaky.author:") for p in problems)
        assert not any(p.startswith("tmp_private_note") for p in problems)
    finally:
        for t in (owned, stray, sneaky):
            md.remove(t)


def test_mydata_holds_every_row_of_the_person_and_nothing_of_anyone_else(db_url: str) -> None:
    room = build(db_url)
    ann = person_id(room, "ann")
    reply = room.do("ann", "/dare mydata")
    assert reply.file is not None and reply.file.filename.endswith(".json") and reply.ephemeral
    data = json.loads(reply.file.content)
    assert data["you"]["external_id"] == ANN["id"]
    exported = {
        t: {r[list(personal.tables()[t].primary_key.columns)[0].name] for r in rows}
        for t, rows in data["tables"].items()
    }
    exported["person"] = {data["you"]["id"]}
    truth = owners(room)
    for table in personal.owner_paths():
        mine = {k for k, pid in truth[table].items() if pid == ann}
        assert exported.get(table, set()) == mine, table
        # the scenario reaches every kind of personal row (else this test would prove nothing for it)
        if table != "forgottenactivity":
            assert mine, f"the scenario stores nothing of Ann's in {table}"
    text = reply.file.content.decode()
    for secret in ANN_SECRETS[:4] + ANN_SECRETS[4:]:
        assert secret in text
    for secret in BOB_SECRETS + ("U0BOB2X", "Bob Builder"):
        assert secret not in text
    sent = [n for n in data["tables"]["nudge"] if n["status"] == "sent"]
    assert sent and all(n["sent_at"] for n in sent)
    summary = reply.plain_text()
    assert "Contacts: 2" in summary and "Spring (participant)" in summary and "sent" in summary


def funnel_and_effort(room: Class) -> dict[str, str]:
    reply = room.do("ida", "/dare report Spring")
    out = {}
    for section in reply.sections:
        if section.title in ("The funnel", "Effort and results"):
            for f in section.fields:
                if f.label != "Attempts before a reply":  # a median cannot be kept without the rows
                    out[f.label] = f.value
    out["headline"] = reply.sections[0].text
    out["stories"] = next(s.text for s in reply.sections if s.title == "Stories").split(";")[0]
    return out


def scan(room: Class, needles: tuple[str, ...], person: int) -> list[str]:
    """Every stored value that names the person: their id in a person column, any of the strings."""
    found = []
    with room.db.engine.connect() as conn:
        for name, table in personal.tables().items():
            person_cols = {c.name for c in table.columns for parent, _ in personal.edges(c) if parent == "person"}
            if name == "person":
                person_cols.add("id")
            for row in conn.execute(select(table)).mappings():
                for col, value in row.items():
                    if col in person_cols and value == person:
                        found.append(f"{name}.{col}={value}")
                    elif isinstance(value, str) and any(n.lower() in value.lower() for n in needles):
                        found.append(f"{name}.{col}={value[:60]!r}")
    return found


def test_forget_me_leaves_nothing_that_names_the_person_and_the_totals_unchanged(db_url: str) -> None:
    room = build(db_url)
    ann = person_id(room, "ann")
    with room.db.session() as s:
        alias = s.get(Person, ann).alias  # type: ignore[union-attr]
    needles = (ANN["id"], ANN["name"], alias, *ANN_SECRETS)
    assert scan(room, needles, ann)  # the scan sees her before
    before = funnel_and_effort(room)
    bob_before = json.loads(room.do("bob", "/dare mydata").file.content)["tables"]  # type: ignore[union-attr]

    # Confirming without asking first deletes nothing.
    refused = room.press("ann", "privacy.forget")
    assert refused.is_error and "Nothing was deleted" in refused.plain_text()
    ask = room.do("ann", "/dare forget-me")
    assert [b.style for b in ask.buttons] == ["danger"] and ask.buttons[0].label == "Delete everything"
    room.clock.advance(timedelta(minutes=11))  # too late: ask again
    assert room.press("ann", "privacy.forget").is_error
    room.do("ann", "/dare forget-me")
    done = room.press("ann", ask.buttons[0].action, ask.buttons[0].value)
    assert not done.is_error and done.replaces_message, done.plain_text()

    assert scan(room, needles, ann) == []
    after = funnel_and_effort(room)
    assert after == before
    assert "1 person whose data was deleted" in room.do("ida", "/dare report Spring").plain_text()
    # Off the board and the export; Bob's data untouched.
    board = room.do("ida", "/dare board Spring").plain_text()
    assert ANN["name"] not in board and "Bob Builder" in board
    csv_text = room.do("ida", "/dare export Spring").file.content.decode()  # type: ignore[union-attr]
    assert ANN["id"] not in csv_text and csv_text.count("\n") == 2
    bob_after = json.loads(room.do("bob", "/dare mydata").file.content)["tables"]  # type: ignore[union-attr]
    assert {k: len(v) for k, v in bob_after.items() if k != "nudge"} == {
        k: len(v) for k, v in bob_before.items() if k != "nudge"
    }
    with room.db.session() as s:
        assert s.get(SlackInstallation, 1).bot_token_enc == "bot-token"  # type: ignore[union-attr]
        assert s.query(ProcessedEvent).filter(ProcessedEvent.key.contains("U0BOB2X")).count() == 1  # type: ignore[attr-defined]
    # The coach keeps running without her: nothing planned for a person who is gone.
    room.wait(days=8)
    assert scan(room, needles, ann) == []


def test_forget_me_on_the_console_is_the_command_typed_again(tmp_path: Any) -> None:
    from tests.test_console import run_console

    script = (
        '@ann /dare cohort create Solo\n@ann /dare contact "Quentin Zorblatt"\n/dare forget-me confirm\n'
        "/dare forget-me\n/dare mydata\n/dare forget-me confirm\n/dare mydata\n"
    )
    done = run_console(tmp_path, script, "--start", "2026-09-07T13:00:00+00:00")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Nothing was deleted" in out and "type /dare forget-me confirm within 10 minutes" in out
    assert "Done: darebot deleted everything" in out
    files = sorted(p for p in tmp_path.rglob("darebot-mydata-*.json"))
    assert files, out
    assert "Quentin Zorblatt" not in files[-1].read_text()  # the second export, after erasure, is empty


def test_forgetting_a_contact_deletes_its_history_and_keeps_the_counts(db_url: str) -> None:
    room = build(db_url)
    ann = person_id(room, "ann")
    before = funnel_and_effort(room)
    board_before = room.do("ida", "/dare board Spring").plain_text()
    room.do("ann", f'/dare contact "{ANN_SECRETS[0]}" --forget')
    assert scan(room, (ANN_SECRETS[0], ANN_SECRETS[1], ANN_SECRETS[3]), -1) == []
    assert funnel_and_effort(room) == before
    assert room.do("ida", "/dare board Spring").plain_text() == board_before
    # The other contact stays.
    assert (
        ANN_SECRETS[2] in room.do("ann", "/dare progress").plain_text()
        or ANN_SECRETS[2] in room.do("ann", "/dare mydata").file.content.decode()
    )  # type: ignore[union-attr]
    with room.db.session() as s:
        from storage.models import Nudge

        subjects = {
            n.subject
            for n in s.query(Nudge).filter(Nudge.person_id == ann, Nudge.rule.in_(("follow-up", "meeting-prep")))
        }  # type: ignore[attr-defined]
    assert subjects.isdisjoint({"1"})  # Zebulon was contact 1
    bad = room.engine.handle_text(room.ws, Actor(ANN["id"], ANN["name"]), f'/dare contact "{ANN_SECRETS[0]}" --forget')
    assert bad.is_error and "no contact called" in bad.plain_text()
    mixed = room.engine.handle_text(
        room.ws, Actor(ANN["id"], ANN["name"]), f'/dare contact "{ANN_SECRETS[2]}" --forget --org X'
    )
    assert mixed.is_error and "--forget takes only the name" in mixed.plain_text()


def test_retention_purges_on_the_injected_clock(db_url: str) -> None:
    room = build(db_url)
    ann, bob = person_id(room, "ann"), person_id(room, "bob")
    room.do("bob", "/dare cohort create Autumn")  # Bob is also in another cohort: he stays, Spring's data goes
    room.do("ida", "/dare cohort retention Spring 10")
    before = funnel_and_effort(room)
    deadline_end = datetime(2026, 12, 1, tzinfo=UTC)
    room.clock.set(deadline_end + timedelta(days=10) - timedelta(minutes=1))
    assert room.nudges.purge().cohorts == 0
    assert scan(room, (ANN["id"],), ann)
    room.clock.set(deadline_end + timedelta(days=10))
    done = room.nudges.purge()
    assert (done.cohorts, done.people) == (1, 1)
    assert scan(room, (ANN["id"], ANN["name"], *ANN_SECRETS), ann) == []
    assert funnel_and_effort(room) == before  # the instructor still compares: anonymous totals only
    report = room.do("ida", "/dare report Spring").plain_text()
    assert "Bob Builder" not in report and "2 people whose data was deleted" in report
    bob_data = json.loads(room.do("bob", "/dare mydata").file.content)  # type: ignore[union-attr]
    assert BOB_SECRETS[0] in json.dumps(bob_data) and BOB_SECRETS[2] not in json.dumps(bob_data)
    assert set(bob_data["cohort_names"].values()) == {"Autumn"}
    with room.db.session() as s:
        assert s.get(Person, bob) is not None
    assert room.nudges.purge().cohorts == 0  # once


def test_an_uninstalled_workspace_is_deleted_after_30_days(db_url: str) -> None:
    room = build(db_url)
    other = Class(room.db, START, workspace="T2", platform="slack")
    other.clock = room.clock
    other.engine.clock = room.clock
    other.do("ida", "/dare cohort create Elsewhere")
    room.engine.uninstalled(room.ws)
    room.clock.advance(timedelta(days=29))
    assert room.nudges.purge().workspaces == 0
    room.clock.advance(timedelta(days=2))
    assert room.nudges.purge().workspaces == 1
    with room.db.engine.connect() as conn:
        for name, table in personal.tables().items():
            rows = list(conn.execute(select(table)).mappings())
            if "workspace_id" in table.c:
                assert {r["workspace_id"] for r in rows} <= {2}, name
            for r in rows:
                assert not any(isinstance(v, str) and "T1" in v.split(":") for v in r.values()), name
    assert "Elsewhere" in other.do("ida", "/dare report Elsewhere").plain_text()


def test_coming_back_cancels_the_uninstall_purge(tmp_path: Any) -> None:
    room = build(f"sqlite:///{tmp_path}/back.sqlite3")
    room.engine.uninstalled(room.ws)
    room.clock.advance(timedelta(days=3))
    room.do("ann", "/dare progress")  # reinstalled and used again
    room.clock.advance(timedelta(days=40))
    assert room.nudges.purge().workspaces == 0
    with room.db.session() as s:
        assert s.query(Workspace).one().uninstalled_at is None


@pytest.mark.parametrize(
    "line,message",
    [
        ("/dare cohort retention Spring -3", "DAYS is a whole number"),
        ("/dare cohort retention Spring 99999", "DAYS is a whole number"),
        ("/dare forget-me now", "confirm"),
    ],
)
def test_bad_privacy_input_is_refused_and_changes_nothing(tmp_path: Any, line: str, message: str) -> None:
    room = Class(open_database(f"sqlite:///{tmp_path}/bad.sqlite3"), START)
    room.do("ida", "/dare cohort create Spring")
    reply = room.engine.handle_text(room.ws, Actor("U0IDA9Z", "Ida"), line)
    assert reply.is_error and message in reply.plain_text()
    with room.db.session() as s:
        from storage.models import Cohort

        assert s.query(Cohort).one().retention_days == 180
    refused = room.engine.handle_text(room.ws, Actor("U0BOB2X", "Bob"), "/dare cohort retention Spring 30")
    assert refused.is_error


def test_idempotency_keys_of_others_survive_whatever_the_ids(tmp_path: Any) -> None:
    """`%`, `_` and `\\` in a platform id are not wildcards: only keys naming exactly that id go."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    db = open_database(f"sqlite:///{tmp_path}/keys.sqlite3")
    ident = st.text(alphabet="ab%_\\:U1", min_size=1, max_size=6).filter(lambda t: ":" not in t)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(target=ident, others=st.lists(ident, max_size=4))
    def check(target: str, others: list[str]) -> None:
        keys = {f"slack:view:T1:{target}:x", f"discord:{target}", f"{target}:dm:1"}
        kept = {f"slack:view:T1:{o}:x" for o in others if o != target}
        with db.session() as s:
            s.execute(ProcessedEvent.__table__.delete())  # type: ignore[attr-defined]
            for k in keys | kept:
                s.add(ProcessedEvent(key=k, created_at=START))
        with db.session() as s:
            personal.delete_keys_naming(s, [target])
        with db.session() as s:
            left = set(s.exec(select(ProcessedEvent.key)).scalars())  # type: ignore[call-overload]
        assert left == kept

    check()
    db.dispose()


def test_an_instructor_forgotten_leaves_the_cohort_and_its_dare_in_place(tmp_path: Any) -> None:
    room = build(f"sqlite:///{tmp_path}/ida.sqlite3")
    ida = person_id(room, "ida")
    room.do("ida", "/dare forget-me")
    room.do("ida", "/dare forget-me confirm")
    assert scan(room, ("U0IDA9Z", "Ida Instructor"), ida) == []
    from storage.models import Cohort, Dare, Story

    with room.db.session() as s:
        cohort = s.exec(select(Cohort)).one()[0]
        stone = s.get(Person, cohort.created_by)
        assert stone is not None and (stone.external_id, stone.display_name) == ("~deleted", "(deleted)")
        assert s.exec(select(Dare)).one()[0].issued_by == stone.id
        assert {st.granted_by for (st,) in s.exec(select(Story)).all()} == {None}
    assert "Annabel Quixote" in room.do("bob", "/dare board Spring").plain_text()
