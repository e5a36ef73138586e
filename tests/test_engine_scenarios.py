"""User stories through the engine, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, update
from sqlmodel import col, select

from bot.context import BOOKKEEPING
from bot.identity import Actor
from bot.nudges import marks
from storage.models import Interview, Nudge, Outreach, Person
from tests.fakes.chat import Chat


@pytest.fixture
def chat(db_url: str) -> Chat:
    return Chat.open(db_url)


@pytest.fixture
def cohort(chat: Chat) -> Chat:
    chat.ok("prof", "/dare cohort create CS101 --goal 2")
    for s in ("ann", "bob", "cy"):
        chat.ok(s, "/dare cohort join CS101")
    return chat


def test_instructor_creates_a_cohort_and_students_join(chat: Chat) -> None:
    out = chat.ok("prof", "/dare cohort create CS101 --goal 2 --tz America/Chicago")
    assert "You're its instructor" in out and "America/Chicago" in out
    assert "Welcome to CS101" in chat.ok("ann", "/dare cohort join cs101")
    assert "already in CS101" in chat.ok("ann", "/dare cohort join CS101")
    assert "already exists" in chat.err("bob", "/dare cohort create cs101")
    assert "no cohort called 'Nope'" in chat.err("bob", "/dare cohort join Nope")


def test_issuing_the_dare_plans_one_dm_per_participant_once(cohort: Chat) -> None:
    reply = cohort.say("prof", "/dare start --reward 'a book'")
    assert not reply.is_error and not reply.ephemeral
    assert "out to 3 participants" in reply.plain_text()
    with cohort.db.session() as s:
        rows = s.exec(select(Nudge).where(Nudge.rule == "dare-issued")).all()
    assert len(rows) == 3 and len({r.key for r in rows}) == 3


def test_only_instructors_issue_report_export_and_reward(cohort: Chat) -> None:
    for line in (
        "/dare start CS101",
        "/dare report CS101",
        "/dare export CS101",
        "/dare cohort instructor CS101 @bob",
        "/dare cohort pause CS101",
    ):
        assert "Only instructors of CS101" in cohort.err("ann", line)
    assert "Only instructors grant rewards" in cohort.err("ann", "/dare reward @bob")
    cohort.ok("prof", "/dare cohort instructor CS101 @bob")
    assert "take-up report" in cohort.ok("bob", "/dare report CS101")


def test_a_student_reports_the_whole_journey(cohort: Chat) -> None:
    cohort.ok("prof", "/dare start CS101 --reward book")
    cohort.ok("ann", "/dare accept")
    cohort.ok("ann", '/dare contact "Ada Lovelace" --title CTO --org Analytical --decides')
    assert "First attempt" in cohort.ok("ann", '/dare outreach "Ada Lovelace" --via linkedin')
    cohort.wait(days=4)
    assert "Follow-up recorded" in cohort.ok("ann", '/dare outreach "ada lovelace"')
    cohort.wait(days=4)
    assert "Third try" in cohort.ok("ann", '/dare outreach "Ada Lovelace" --via phone')
    out = cohort.ok("ann", '/dare reply "Ada Lovelace" --meeting tomorrow')
    assert "Meeting with Ada Lovelace" in out and "What makes someone really valuable" in out
    cohort.wait(days=1)
    out = cohort.ok("ann", '/dare log "Ada Lovelace" --minutes 20 --outcome referral --asked v1,m1 --learned "Persist"')
    assert "Reverse interview #1 logged" in out and "(can hire)" in out
    cohort.ok("ann", "/dare story She answered on my third try --to cohort")
    progress = cohort.ok("ann", "/dare progress")
    assert "1/2 reverse interviews" in progress and "2 follow-ups" in progress
    board = cohort.ok("ann", "/dare board")
    # 10 interview + 5 decider + 1 first attempt + 2x2 follow-ups + 5 story = 25
    assert "Ann (you)  25" in board
    report = cohort.ok("prof", "/dare report CS101")
    assert "Take-up: 1 of 3 (33%)" in report and "6.7x the 5% baseline" in report
    assert "Attempts before a reply: median 3" in report and "referral 1" in report
    assert "rewards pending for: Ann" in report
    assert "Reward granted to Ann" in cohort.ok("prof", "/dare reward @ann")
    assert "no rewards pending" in cohort.ok("prof", "/dare report CS101")


def test_board_ranks_effort_not_luck_and_ties_share_a_rank(cohort: Chat) -> None:
    cohort.ok("prof", "/dare start")
    for who in ("ann", "bob"):
        cohort.ok(who, '/dare contact "Pat Doe"')
        cohort.ok(who, '/dare outreach "Pat Doe"')
        cohort.ok(who, '/dare log "Pat Doe"' + (" --outcome job-offer" if who == "bob" else ""))
    board = cohort.ok("cy", "/dare board")
    lines = [line for line in board.splitlines() if line[:1].isdigit()]
    assert lines[0].startswith("1  Ann") and lines[1].startswith("1  Bob")  # a job offer earns nothing extra
    assert lines[2].startswith("3  Cy (you)")


def test_the_actors_new_name_and_marks_are_stored_and_seen_at_once(cohort: Chat) -> None:
    cohort.ok("prof", "/dare start")
    cohort.ok("ann", '/dare contact "Pat Doe"')
    cohort.ok("ann", '/dare outreach "Pat Doe"')
    cohort.wait(days=1)
    # A new name from the platform: the command's own reads of people already show it.
    reply = cohort.engine.handle_text(cohort.ws, Actor("ann", "Annie B"), "/dare board")
    assert "Annie B (you)" in reply.plain_text()
    cohort.wait(hours=1)
    for line in ('/dare log "Pat Doe" --minutes 15', '/dare log "Pat Doe" --on yesterday --outcome advice'):
        cohort.wait(minutes=1)
        with cohort.db.session() as s:
            s.exec(update(Person).where(col(Person.external_id) == "ann").values(next_check_at=None))
        cohort.ok("ann", line)  # the Core writes and the ORM's (an outcome) alike mark the person
        with cohort.db.session() as s:
            ann = s.exec(select(Person).where(Person.external_id == "ann")).one()
            assert ann.display_name == "Ann" and ann.last_active_at == cohort.clock.now()
            assert ann.next_check_at == cohort.clock.now()
            last = s.exec(select(Outreach).where(Outreach.person_id == ann.id)).one()
            assert last.status == "meeting"


def test_the_actors_bookkeeping_is_what_the_planner_ignores() -> None:
    # The actor's bookkeeping is written past the ORM's flush, so the change marks must not need to see it.
    assert BOOKKEEPING <= marks._QUIET_COLUMNS


def test_board_respects_alias_and_hidden(cohort: Chat) -> None:
    cohort.ok("prof", "/dare start")
    cohort.ok("ann", "/dare settings board alias")
    cohort.ok("bob", "/dare settings board hidden")
    board = cohort.ok("cy", "/dare board")
    assert "Ann" not in board and "Bob" not in board
    assert "1 person keeps their place private" in board
    assert "Bob (you)" in cohort.ok("bob", "/dare board")


def test_export_is_csv_with_one_row_per_participant(cohort: Chat) -> None:
    cohort.ok("prof", "/dare start")
    cohort.ok("ann", '/dare contact "=HYPERLINK(1)"')
    cohort.say("ann", "/dare settings tz Europe/Berlin")
    reply = cohort.say("prof", "/dare export CS101 --since yesterday")
    assert reply.file is not None and reply.file.mime == "text/csv"
    rows = list(csv.DictReader(io.StringIO(reply.file.content.decode())))
    assert [r["name"] for r in rows] == ["Ann", "Bob", "Cy"]
    assert rows[0]["contacts"] == "1"


def test_bad_input_changes_nothing(cohort: Chat) -> None:
    cohort.ok("prof", "/dare start")
    cohort.ok("ann", '/dare contact "Ada"')
    cohort.ok("ann", '/dare outreach "Ada"')
    with cohort.db.session() as s:
        before = (
            s.exec(select(func.count()).select_from(Outreach)).one(),
            s.exec(select(func.count()).select_from(Interview)).one(),
        )
    errors = {
        '/dare log "Ada" --on 2999-01-01': "can't be in the future",
        '/dare log "Ada" --on someday': "isn't a date",
        '/dare log "Nobody"': "no contact called 'Nobody'",
        '/dare log "Ada" --outcome fame': "--outcome must be one of",
        '/dare log "Ada" --asked zz9': "Unknown question id",
        '/dare log "Ada': "quote was left open",
        "/dare fly": "isn't a /dare command",
        '/dare outreach "Ada" --via pigeon': "--via must be one of",
        '/dare outreach "Ada" extra': "Unexpected 'extra'",
        '/dare contact "Ada"': "already have a contact",
        "/dare contact " + '"' + "x" * 81 + '"': "the limit is 80",
        '/dare contact "bad\x07name"': "control characters",
        "/dare reply Ada --declined --meeting today": "not both",
        "/dare settings tz Mars/Olympus": "isn't a time zone",
        "/dare settings quiet 25:00-07:00": "isn't a time",
        "/dare cohort create X --goal 0": "between 1 and 50",
    }
    for line, expected in errors.items():
        out = cohort.err("ann", line)
        assert expected in out, (line, out)
        assert len(out.splitlines()) <= 2, out  # short: the problem, and the right form
    with cohort.db.session() as s:
        after = (
            s.exec(select(func.count()).select_from(Outreach)).one(),
            s.exec(select(func.count()).select_from(Interview)).one(),
        )
    assert before == after


def test_name_is_optional_only_when_unambiguous(cohort: Chat) -> None:
    cohort.ok("prof", "/dare cohort create CS102")
    cohort.ok("ann", "/dare cohort join CS102")
    assert "several cohorts (CS101, CS102)" in cohort.err("ann", "/dare board")
    assert "CS102 leaderboard" in cohort.ok("ann", "/dare board CS102")


def test_workspaces_never_see_each_other(db_url: str) -> None:
    a = Chat.open(db_url, workspace="A")
    b = Chat(a.db, workspace="B")
    a.ok("prof", "/dare cohort create Shared")
    assert "no cohort called 'Shared'" in b.err("prof", "/dare cohort join Shared")
    b.ok("prof", "/dare cohort create Shared")  # the same name is free in another workspace


def test_mentions_typed_as_text_stay_text(cohort: Chat) -> None:
    out = cohort.ok("ann", '/dare contact "<!channel> @everyone <@U123>"')
    assert "<!channel> @everyone <@U123>" in out  # stored verbatim; each renderer escapes it


def test_recruiter_call_follows_the_playbook(cohort: Chat) -> None:
    out = cohort.ok("ann", '/dare recruiter "Acme" --asked why-open,why-me --answer no --connected --referred')
    assert "All four steps" in out and "isn't a no forever" in out
    out = cohort.ok("bob", '/dare recruiter "Acme"')
    assert out.count("[ ]") == 4


def test_settings_snooze_and_quiet_hours(cohort: Chat) -> None:
    cohort.ok("ann", "/dare settings quiet 22:30-07:15")
    cohort.ok("ann", "/dare settings snooze 3")
    out = cohort.ok("ann", "/dare settings")
    assert "22:30-07:15" in out and "until 2026-09-10" in out
    cohort.ok("ann", "/dare settings nudges off")
    assert "Nudges: off" in cohort.ok("ann", "/dare settings")


def test_quiet_weeks_and_pause_are_instructor_tools(cohort: Chat) -> None:
    assert "No nudges" in cohort.ok("prof", "/dare cohort quiet CS101 --from 2026-10-12 --to 2026-10-16 --note exams")
    assert "paused until" in cohort.ok("prof", "/dare cohort pause CS101 --until 2026-09-20")
    assert "back on" in cohort.ok("prof", "/dare cohort resume CS101")
    assert "--to comes before --from" in cohort.err(
        "prof", "/dare cohort quiet CS101 --from 2026-10-12 --to 2026-10-01"
    )


def test_help_lists_every_command_and_each_has_its_own(chat: Chat) -> None:
    from bot.registry import commands

    SUBCOMMANDS = sorted({s.words[0] for s in commands()})
    out = chat.ok("ann", "/dare help")
    for sub in SUBCOMMANDS:
        assert f"/dare {sub}" in out
        assert "/dare" in chat.ok("ann", f"/dare help {sub}")


def test_forms_validate_like_commands_and_record_once(cohort: Chat) -> None:
    from bot.errors import UsageError
    from bot.identity import Actor

    ann = Actor("ann", "Ann")
    form = cohort.engine.form(cohort.ws, ann, "log")
    assert [f.name for f in form.fields][:2] == ["contact", "on"]
    cohort.ok("ann", '/dare contact "Ada"')
    bad = {"contact": "Ada", "on": "someday"}
    for _ in range(2):  # a refused submission writes nothing, so the same one can come again
        with pytest.raises(UsageError) as err:
            cohort.engine.submit_form(cohort.ws, ann, "log", bad, idempotency_key="view-1:bad")
        assert err.value.field == "on"
    good = {"contact": "Ada", "minutes": "20", "outcomes": ["advice"]}
    first = cohort.engine.submit_form(cohort.ws, ann, "log", good, idempotency_key="view-1:good")
    assert first is not None and "logged" in first.plain_text()
    assert cohort.engine.submit_form(cohort.ws, ann, "log", good, idempotency_key="view-1:good") is None
    with cohort.db.session() as s:
        assert s.exec(select(func.count()).select_from(Interview)).one() == 1
    with pytest.raises(UsageError) as err:
        cohort.engine.submit_form(cohort.ws, ann, "outreach", {"contact": "Nobody"})
    assert err.value.field == "contact"


def test_the_dare_sets_the_nudges_pace(cohort: Chat) -> None:
    from storage.models import Dare

    assert "between 1 and 30" in cohort.err("prof", "/dare start --followup-days 0")
    assert "can't be below" in cohort.err("prof", "/dare start --daily-cap 3 --weekly-cap 2")
    cohort.ok("prof", "/dare start --followup-days 3 --weekly-cap 2")
    with cohort.db.session() as s:
        dare = s.exec(select(Dare)).one()
    assert (dare.followup_days, dare.stall_days, dare.weekly_cap) == (3, 5, 2)


def test_long_boards_page_and_keep_my_place(chat: Chat) -> None:
    chat.ok("prof", "/dare cohort create Big")
    for i in range(60):
        chat.ok(f"s{i:02d}", "/dare cohort join Big")
    chat.ok("prof", "/dare start")
    chat.ok("s59", '/dare contact "Ada"')
    chat.ok("s59", '/dare outreach "Ada"')  # s59 leads with 1 point; everyone else ties at 0
    first = chat.say("s30", "/dare board")
    text = first.plain_text()
    assert "Page 1 of 3 (60 people)" in text and "You are #2 with 0 points" in text
    assert [b.label for b in first.buttons] == ["Next page", "Post to channel"]
    second = chat.engine.press(chat.ws, Actor("s30", "S30"), "board.page", first.buttons[0].value)
    assert "Page 2 of 3" in second.plain_text() and "S30 (you)" in second.plain_text()
    assert [b.label for b in second.buttons] == ["Previous page", "Next page", "Post to channel"]
    public = chat.say("s30", "/dare board --post").plain_text()
    assert "Top 25 of 60" in public and "(you)" not in public


def test_starting_again_updates_the_dare_and_keeps_what_was_logged(cohort: Chat) -> None:
    from storage.models import Dare

    cohort.ok("prof", "/dare start")
    cohort.ok("ann", "/dare accept")
    cohort.ok("ann", '/dare contact "Ada"')
    cohort.ok("ann", '/dare outreach "Ada"')
    cohort.ok("ann", '/dare log "Ada"')
    cohort.wait(days=2)
    out = cohort.ok("prof", "/dare start --deadline 2026-12-01 --reward book")
    assert "Dare updated" in out and "deadline, reward" in out and "one DM about the change" in out
    assert "already on" in cohort.ok("prof", "/dare start")
    with cohort.db.session() as s:
        assert len(s.exec(select(Dare)).all()) == 1
        assert len(s.exec(select(Nudge).where(Nudge.rule == "dare-issued")).all()) == 3
        assert len(s.exec(select(Nudge).where(Nudge.rule == "dare-changed")).all()) == 3  # once each
    assert "Take-up: 1 of 3" in cohort.ok("prof", "/dare report")
    assert "1/2 reverse interviews" in cohort.ok("ann", "/dare progress")


def test_a_deadline_years_away_is_a_typo(cohort: Chat) -> None:
    assert "more than a year away" in cohort.err("prof", "/dare start --deadline 9999-12-30")
    assert "more than a year away" in cohort.err("prof", "/dare cohort create Far --deadline 2030-01-01")


def test_dates_are_read_on_the_cohorts_clock_until_a_person_sets_their_own(db_url: str) -> None:
    from datetime import UTC, datetime

    chat = Chat.open(db_url, start=datetime(2026, 9, 8, 3, 0, tzinfo=UTC))  # 20:00 on the 7th in Los Angeles
    chat.ok("prof", "/dare cohort create West --tz America/Los_Angeles")
    chat.ok("ann", "/dare cohort join West")
    chat.ok("ann", '/dare contact "Ada"')
    assert "2026-09-07" in chat.ok("ann", '/dare outreach "Ada"')
    assert "tomorrow (2026-09-08)" in chat.ok("ann", '/dare reply "Ada" --meeting tomorrow')
    assert "can't be in the future" in chat.err("ann", '/dare log "Ada" --on 2026-09-08')
    assert "America/Los_Angeles (your cohort's" in chat.ok("ann", "/dare settings")


def test_missing_parts_of_a_quiet_week_are_named(cohort: Chat) -> None:
    assert "needs --from and --to" in cohort.err("prof", "/dare cohort quiet CS101 --to 2026-10-01")
    assert "needs --from and --to" in cohort.err("prof", "/dare cohort quiet --from 2026-10-01")


def test_file_names_are_safe_whatever_the_cohort_is_called(chat: Chat) -> None:
    chat.ok("prof", '/dare cohort create "CS/../101 é"')
    chat.ok("ann", '/dare cohort join "CS/../101 é"')
    reply = chat.say("prof", '/dare export "CS/../101 é"')
    assert reply.file is not None and "/" not in reply.file.filename and not reply.file.filename.startswith(".")


def test_a_second_attempt_the_same_day_is_not_a_follow_up(cohort: Chat) -> None:
    cohort.ok("ann", '/dare contact "Ada"')
    cohort.ok("ann", '/dare outreach "Ada"')
    assert "a follow-up counts from the next day" in cohort.err("ann", '/dare outreach "Ada"')
    cohort.wait(days=1)
    assert "Follow-up recorded" in cohort.ok("ann", '/dare outreach "Ada"')


def test_stories_stay_with_their_cohort_and_off_posted_boards(cohort: Chat) -> None:
    cohort.ok("prof", "/dare start --reward book")
    cohort.ok("ann", "/dare story It went well --to cohort")
    assert "It went well" in cohort.ok("bob", "/dare board")
    assert "It went well" not in cohort.ok("bob", "/dare board --post")
    cohort.ok("prof", "/dare cohort create Other")
    cohort.ok("ann", "/dare cohort join Other")
    assert "It went well" not in cohort.ok("ann", "/dare board Other")
    assert "rewards pending for: Ann" in cohort.ok("prof", "/dare report CS101")
