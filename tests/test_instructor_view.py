"""The instructor's view through the engine, on SQLite and PostgreSQL: a term from start to close,
one student's record, who needs a word, cohorts compared, boards by period, charts and the dashboard link."""

from __future__ import annotations

import struct
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.charts import PIXELS, funnel_bars
from bot.clock import ManualClock
from bot.dashboard import DashboardConfig, LinkRefused, link_key, page_for, verify
from bot.insight import cohort_view, weekly
from bot.nudges.catalog import A_WORD as WORD_RULE
from bot.scheduler import NudgeScheduler
from storage.models import Cohort, Membership, Nudge, Person
from tests.fakes.chat import Chat


@pytest.fixture
def chat(db_url: str) -> Chat:
    return Chat.open(db_url)


@pytest.fixture
def term(chat: Chat) -> Chat:
    """CS101 with three students and a dare; Ann does an interview, Bob reaches out, Cy does nothing."""
    chat.ok("prof", "/dare cohort create CS101 --goal 2")
    for s in ("ann", "bob", "cy"):
        chat.ok(s, "/dare cohort join CS101")
    chat.ok("prof", "/dare start CS101")
    for s in ("ann", "bob"):
        chat.ok(s, "/dare accept")
    chat.ok("ann", '/dare contact "Ada Lovelace" --kind decision-maker --decides')
    chat.ok("ann", '/dare contact "Grace Hopper"')
    chat.ok("ann", '/dare outreach "Ada Lovelace"')
    chat.ok("ann", '/dare reply "Ada Lovelace" --meeting tomorrow')
    chat.wait(days=1)
    chat.ok("ann", '/dare log "Ada Lovelace" --outcome advice')
    chat.ok("bob", '/dare contact "Linus T"')
    chat.ok("bob", '/dare outreach "Linus T"')
    return chat


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# --- the term's life cycle --------------------------------------------------------------------


def test_closing_freezes_the_report_and_board_and_stops_nudges(term: Chat) -> None:
    reply = term.say("prof", "/dare cohort close CS101")
    assert not reply.is_error
    text = reply.plain_text()
    assert "CS101 is closed" in text and "Take-up: 1 of 3" in text
    assert reply.image is not None and png_size(reply.image.content) == PIXELS
    assert "Tried an interview 1 of 3" in reply.image.alt
    # Activity after the close is the student's own, but the frozen numbers don't move.
    term.wait(days=1)
    term.ok("bob", '/dare log "Linus T"')
    after = term.ok("prof", "/dare report CS101")
    assert "Closed on" in after and "Take-up: 1 of 3" in after
    assert "Ann" in term.ok("prof", "/dare board CS101")
    assert "was closed on" in term.err("prof", "/dare cohort close CS101")
    # The sweep plans nothing for a closed cohort.
    nudges = NudgeScheduler(term.db, term.clock, _Null(), platform="console")
    term.wait(days=10)
    with term.db.session() as s:
        before = len(s.exec(select(Nudge)).all())
    nudges.sweep()
    with term.db.session() as s:
        assert len(s.exec(select(Nudge)).all()) == before
    # Joining a closed cohort is refused; reopening brings the live numbers back.
    assert "closed" in term.err("dan", "/dare cohort join CS101")
    assert "open again" in term.ok("prof", "/dare cohort reopen CS101")
    assert "Take-up: 2 of 3" in term.ok("prof", "/dare report CS101")
    assert nudges.sweep() > 0


class _Null:
    def send_dm(self, ws: str, user: str, reply: object, **_kw: object) -> object:
        return None


def test_closing_twice_is_a_clear_error(term: Chat) -> None:
    term.ok("prof", "/dare cohort close CS101")
    assert "was closed on" in term.err("prof", "/dare cohort close CS101")


def test_removed_participant_leaves_the_totals_with_a_note(term: Chat) -> None:
    assert "no longer in CS101" in term.ok("prof", "/dare cohort remove CS101 @cy")
    report = term.ok("prof", "/dare report CS101")
    assert "Participants: 2" in report and "Take-up: 1 of 2" in report
    assert "No longer counted" in report and "Cy (removed" in report
    assert "Cy" not in term.ok("prof", "/dare board CS101")
    term.wait(minutes=10)  # the same line at once would be taken for a double submission
    assert "already left" in term.ok("prof", "/dare cohort remove CS101 @cy")
    assert "removed you" in term.err("cy", "/dare cohort join CS101")
    assert "teaches" in term.err("prof", "/dare cohort remove CS101 @prof")
    assert "isn't in CS101" in term.err("prof", "/dare cohort remove CS101 @zed")
    with term.db.session() as s:
        m = s.exec(
            select(Membership).join(Person, Person.id == Membership.person_id).where(Person.external_id == "cy")
        ).one()
        assert m.removed_at is not None and m.removed_how == "removed"


def test_a_student_leaves_and_may_come_back(term: Chat) -> None:
    assert "You've left CS101" in term.ok("bob", "/dare cohort leave")
    assert "Participants: 2" in term.ok("prof", "/dare report CS101")
    assert "Bob (left" in term.ok("prof", "/dare report CS101")
    assert "Welcome to CS101" in term.ok("bob", "/dare cohort join CS101")
    assert "Participants: 3" in term.ok("prof", "/dare report CS101")
    assert "only instructor" in term.err("prof", "/dare cohort leave CS101")


def test_rename_keeps_everything(term: Chat) -> None:
    assert "now called CS102" in term.ok("prof", "/dare cohort rename CS101 CS102")
    assert "Take-up: 1 of 3" in term.ok("prof", "/dare report CS102")
    term.ok("prof", "/dare cohort create Other")
    assert "already exists" in term.err("prof", "/dare cohort rename CS102 other")


def test_participants_are_refused_every_instructor_tool(term: Chat) -> None:
    for line in (
        "/dare cohort close CS101",
        "/dare cohort reopen CS101",
        "/dare cohort remove CS101 @bob",
        "/dare cohort rename CS101 X",
        "/dare report CS101 --compare CS101",
    ):
        assert "Only instructors of CS101" in term.err("ann", line)
    assert "Only instructors see someone else's progress" in term.err("ann", "/dare progress @bob")
    assert "for instructors" in term.err("ann", "/dare dashboard")


# --- one student's record ---------------------------------------------------------------------


def test_instructor_sees_one_students_record_in_counts_only(term: Chat) -> None:
    out = term.ok("prof", "/dare progress @ann CS101")
    assert "Ann: progress" in out and "interviewing (1 done)" in out
    assert "Interviews: 1 of 2" in out and "decision-maker 1 (1 can hire)" in out and "future self 1" in out
    assert "Outcomes: advice 1" in out and "Last acted" in out
    assert "Ada" not in out and "Grace" not in out  # contacts' names belong to the student
    assert "hasn't accepted" in term.ok("prof", "/dare progress @cy")
    assert "isn't a participant" in term.err("prof", "/dare progress @zed CS101")
    # Naming yourself, or only a cohort, is your own progress.
    assert "Your progress" in term.ok("ann", "/dare progress @ann")
    assert "CS101: ready for the next one" in term.ok("ann", "/dare progress CS101")


# --- who needs a word -------------------------------------------------------------------------


def test_stalled_list_says_why_and_a_word_goes_through_the_outbox(term: Chat) -> None:
    # the dare's announcement goes out on day 0
    NudgeScheduler(term.db, term.clock, _Recorder(), platform="console").deliver_due()
    term.wait(days=8)
    reply = term.say("prof", "/dare report CS101")
    text = reply.plain_text()
    assert "Who needs a word" in text
    assert "Cy: hasn't accepted the dare" in text
    assert "Bob: waiting on a reply for 8 days" in text
    word = next(b for b in reply.buttons if b.action == "word.send" and "Cy" in b.label)
    # A participant can't press it.
    assert term.engine.press(term.ws, _actor("ann"), word.action, word.value).is_error
    sent = term.engine.press(term.ws, _actor("prof"), word.action, word.value)
    assert not sent.is_error and "goes to Cy now" in sent.plain_text()
    again = term.engine.press(term.ws, _actor("prof"), word.action, word.value)
    assert "already has a word" in again.plain_text()
    with term.db.session() as s:
        rows = s.exec(select(Nudge).where(Nudge.rule == WORD_RULE)).all()
    assert len(rows) == 1 and rows[0].status == "pending" and rows[0].due_at <= term.clock.now()
    messenger = _Recorder()
    NudgeScheduler(term.db, term.clock, messenger, platform="console").deliver_due()
    words = [r for u, r in messenger.sent if u == "cy" and "A word from your instructor" in (r.title or "")]
    assert len(words) == 1
    assert "word from you" in term.ok("prof", "/dare progress @cy") or "a-word 1" in term.ok(
        "prof", "/dare progress @cy"
    )
    # Pressed at night, the reply says when it really goes, by the rules delivery applies.
    term.wait(days=1, hours=8)  # 22:00 in CS101's zone
    late = term.engine.press(term.ws, _actor("prof"), word.action, word.value).plain_text()
    assert "goes to Cy tomorrow at 08:00 their time (it's their quiet hours)" in late, late


def test_meeting_passed_unlogged_and_unreachable_are_named(chat: Chat) -> None:
    chat.ok("prof", "/dare cohort create C --goal 1")
    for s in ("ann", "bob"):
        chat.ok(s, "/dare cohort join C")
    chat.ok("prof", "/dare start C")
    chat.ok("ann", "/dare accept")
    chat.ok("ann", '/dare contact "Ada"')
    chat.ok("ann", '/dare outreach "Ada"')
    chat.ok("ann", '/dare reply "Ada" --meeting tomorrow')
    chat.wait(days=3)
    with chat.db.session() as s:
        bob = s.exec(select(Person).where(Person.external_id == "bob")).one()
        bob.unreachable_at = chat.clock.now()
    text = chat.ok("prof", "/dare report C")
    assert "isn't logged yet" in text and "Bob: can't be reached by DM" in text


def _actor(user: str):  # type: ignore[no-untyped-def]
    from bot.identity import Actor

    return Actor(user, user.capitalize())


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    def send_dm(self, ws: str, user: str, reply, **_kw):  # type: ignore[no-untyped-def]
        self.sent.append((user, reply))
        return None


# --- comparison -------------------------------------------------------------------------------


def test_compare_cohorts_side_by_side_against_the_baseline(term: Chat) -> None:
    term.ok("prof", "/dare cohort create Fall25 --goal 1")
    term.ok("dee", "/dare cohort join Fall25")
    term.ok("prof", "/dare start Fall25")
    term.ok("prof", "/dare cohort close Fall25")
    out = term.ok("prof", "/dare report CS101 --compare Fall25")
    assert "Side by side" in out and "Fall25 (closed)" in out
    assert "Take-up (1+ interview)" in out and "vs 5% baseline" in out and "6.7x" in out
    assert "Interviews per person" in out and "0.3" in out
    term.ok("eve", "/dare cohort create Theirs")
    assert "only cohorts you teach" in term.err("prof", "/dare report CS101 --compare Theirs")
    assert "no cohort called" in term.err("prof", "/dare report CS101 --compare Nope")
    assert "at most 4" in term.err("prof", "/dare report CS101 --compare a,b,c,d,e")


# --- boards -----------------------------------------------------------------------------------


def test_board_periods_and_what_a_posted_board_shows(term: Chat) -> None:
    term.ok("cy", "/dare settings board hidden")
    term.ok("bob", "/dare settings board alias")
    term.wait(days=10)
    term.ok("bob", '/dare outreach "Linus T"')
    week = term.ok("ann", "/dare board CS101 --period week")
    assert "last 7 days" in week
    dare = term.ok("ann", "/dare board CS101")
    assert "Ann (you)" in dare and "Bob" not in dare and "Cy" not in dare
    # The instructor's private board names everyone, marked with their setting.
    mine = term.ok("prof", "/dare board CS101")
    assert "Shown as" in mine and "Cy" in mine and "hidden" in mine and "alias" in mine
    posted = term.say("prof", "/dare board CS101 --post --show ranks")
    assert not posted.ephemeral
    table = posted.sections[0].table
    assert table is not None and table.headers == ("#", "Name")
    assert all("Cy" not in r[1] and r[1] != "Bob" for r in table.rows)
    top = term.say("prof", "/dare board CS101 --post --show top").sections[0].table
    assert top is not None and "Points" in top.headers
    assert "--show goes with --post" in term.err("prof", "/dare board CS101 --show top")
    assert "must be one of" in term.err("prof", "/dare board CS101 --period year")


# --- charts -----------------------------------------------------------------------------------


def test_charts_draw_the_reports_numbers_at_2x(term: Chat) -> None:
    from bot.charts import funnel_alt, funnel_chart, weekly_alt, weekly_chart

    term.wait(days=15)
    reply = term.say("prof", "/dare report CS101")
    with term.db.session() as s:
        cohort = s.exec(select(Cohort)).one()
        view = cohort_view(s, cohort, term.clock.now())
        series = weekly(s, view)
    # The chart's bars are the report's funnel: same query, same numbers.
    assert [n for _, n in funnel_bars(view.funnel, view.goal)] == [2, 2, 1, 0]
    assert "Take-up: 1 of 3" in reply.plain_text()
    assert reply.image is not None and png_size(reply.image.content) == PIXELS == (1280, 720)
    assert reply.image.alt == funnel_alt("CS101", view.funnel, view.goal, view.day)
    assert series is not None and series.interviews[-1] == 1 and series.first_attempts[-1] == 2
    assert len(series.week_ends) == 3 and series.interviews == (1, 1, 1)
    assert png_size(weekly_chart("CS101", series)) == PIXELS
    assert "week 1" in weekly_alt("CS101", series)
    long_name = "A very long cohort name " * 8
    assert png_size(funnel_chart(long_name, view.funnel, goal=2)) == PIXELS
    assert funnel_chart("CS101", view.funnel, goal=2, fmt="svg").lstrip().startswith(b"<?xml")


# --- the dashboard link -----------------------------------------------------------------------


def test_dashboard_link_is_signed_expires_and_opens_only_my_cohorts(term: Chat) -> None:
    from bot.dashboard import serve_links

    serve_links(None)  # no dashboard served by this process
    assert "isn't switched on" in term.err("prof", "/dare dashboard")
    term.engine.dashboard = DashboardConfig(base_url="https://darebot.example/", secret_key="s3cret")
    out = term.ok("prof", "/dare dashboard")
    url = next(w for w in out.split() if w.startswith("https://"))
    assert url.startswith("https://darebot.example/dashboard/")
    token = url.rsplit("/", 1)[1]
    with term.db.session() as s:
        page = page_for(s, "s3cret", token, term.clock.now())
        assert [p.view.cohort.name for p in page.cohorts] == ["CS101"]
        assert page.cohorts[0].board[0][1] == "Ann"
        with pytest.raises(LinkRefused, match="changed"):
            page_for(s, "s3cret", token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), term.clock.now())
        with pytest.raises(LinkRefused, match="changed"):
            page_for(s, "other key", token, term.clock.now())
        with pytest.raises(LinkRefused, match="expired"):
            verify(link_key(s, "s3cret", term.clock.now()), token, term.clock.now() + timedelta(hours=25))
    # Removed from the workspace: links stop opening; asking for a link there again (a reinstall) reopens them.
    term.engine.close_workspace(term.ws)
    with term.db.session() as s, pytest.raises(LinkRefused, match="removed from this workspace"):
        page_for(s, "s3cret", token, term.clock.now())
    term.ok("ann", "/dare progress")
    with term.db.session() as s, pytest.raises(LinkRefused, match="removed from this workspace"):
        page_for(s, "s3cret", token, term.clock.now())
    term.ok("prof", "/dare dashboard")
    with term.db.session() as s:
        assert page_for(s, "s3cret", token, term.clock.now()).person.display_name == "Prof"
    # Without a configured secret a key is generated once and kept.
    term.engine.dashboard = DashboardConfig(base_url="http://localhost:8080")
    token2 = term.ok("prof", "/dare dashboard").split("/dashboard/")[1].split()[0]
    with term.db.session() as s:
        assert page_for(s, None, token2, term.clock.now()).person.display_name == "Prof"


def test_dates_move_on_any_clock(db_url: str) -> None:
    """The stalled reasons count days on the cohort's calendar, whatever the clock's zone."""
    chat = Chat.open(db_url, tz="Pacific/Kiritimati")
    chat.clock = ManualClock(chat.clock.now())
    chat.engine.clock = chat.clock
    chat.ok("prof", "/dare cohort create Z --tz Pacific/Kiritimati")
    chat.ok("ann", "/dare cohort join Z")
    chat.ok("prof", "/dare start Z")
    chat.wait(days=8)
    assert "Ann: hasn't accepted the dare" in chat.ok("prof", "/dare report Z")


def test_the_reports_chart_is_drawn_after_the_answer_on_first_read(term: Chat) -> None:
    reply = term.say("prof", "/dare report CS101")
    assert reply.image is not None and callable(reply.image.source)  # nothing drawn inside the transaction
    png = reply.image.content
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and reply.image.content is png  # drawn once, then kept


def test_the_word_reply_names_the_limit_or_pause_that_holds_it(chat: Chat) -> None:
    chat.ok("prof", "/dare cohort create C --goal 1")
    chat.ok("cy", "/dare cohort join C")
    chat.ok("prof", "/dare start C")
    NudgeScheduler(chat.db, chat.clock, _Recorder(), platform="console").deliver_due()  # Cy's DM for today
    with chat.db.session() as s:
        cohort = s.exec(select(Cohort)).one()
        cy = s.exec(select(Person).where(Person.external_id == "cy")).one()
        value = f"{cohort.id}:{cy.id}"
    held = chat.engine.press(chat.ws, _actor("prof"), "word.send", value).plain_text()
    assert "goes to Cy tomorrow at 08:00 their time (they've had today's DM)" in held, held
    chat.wait(days=1)
    chat.ok("prof", "/dare cohort pause C")
    paused = chat.engine.press(chat.ws, _actor("prof"), "word.send", value)
    text = paused.plain_text()
    assert paused.is_error and "nudges are paused" in text and "/dare cohort resume C" in text
