"""The coach in replies: meetings, goal met, recruiter calls, rewards, aims, own goals, help, small fixes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from adapters.console import parse_wait
from bot.questions import suggest
from storage.models import Nudge, RecruiterCall
from tests.fakes.chat import Chat


@pytest.fixture
def cohort(tmp_path) -> Chat:
    chat = Chat.open(f"sqlite:///{tmp_path}/c.db")
    chat.ok("prof", '/dare cohort create "Spring 2027" --goal 2')
    chat.ok("ann", '/dare cohort join "Spring 2027"')
    chat.ok("prof", "/dare start --reward 'a book'")
    chat.ok("ann", "/dare accept")
    chat.ok("ann", '/dare contact "Ada Lovelace" --kind decision-maker')
    chat.ok("ann", '/dare contact "Bo Chen"')
    return chat


def test_a_meeting_in_the_past_is_refused_with_the_way_to_log_it(cohort: Chat) -> None:
    cohort.ok("ann", '/dare outreach "Ada Lovelace"')
    cohort.wait(days=3)
    err = cohort.err("ann", '/dare reply "Ada Lovelace" --meeting yesterday')
    assert "has passed" in err and '/dare log "Ada Lovelace"' in err
    out = cohort.ok("ann", '/dare reply "Ada Lovelace" --meeting tomorrow')
    assert "tomorrow" in out and "(v1)" in out  # a decision-maker: what they value comes first


def test_meeting_the_goal_is_congratulated_at_once_and_progress_switches(cohort: Chat) -> None:
    cohort.ok("ann", '/dare outreach "Ada Lovelace"')
    first = cohort.ok("ann", '/dare log "Ada Lovelace" --asked v1')
    assert "Congratulations" not in first
    cohort.ok("ann", '/dare outreach "Bo Chen"')
    met = cohort.say("ann", '/dare log "Bo Chen"')
    out = met.plain_text()
    assert "2 of 2: you met your goal" in out and "Congratulations" in out
    # The channel cheers too, under the name Ann shows on the board.
    assert met.public is not None and not met.public.ephemeral
    assert "Ann just met the goal of 2 reverse interviews in Spring 2027" in met.public.plain_text()
    progress = cohort.ok("ann", "/dare progress")
    assert "goal met" in progress and "Add someone" not in progress and "/dare contact" not in progress
    assert "/dare settings goal 3" in progress
    assert "Your goal is now 3" in cohort.ok("ann", "/dare settings goal 3")
    assert "only be higher" in cohort.err("ann", "/dare settings goal 1")
    assert "goal met" not in cohort.ok("ann", "/dare progress")


def test_one_recruiter_call_per_company_with_advice_for_yes_and_no(cohort: Chat) -> None:
    first = cohort.ok("ann", '/dare recruiter "Acme" --asked why-open')
    assert "recorded" in first and "selling" in first
    again = cohort.ok("ann", '/dare recruiter "acme" --answer yes --connected')
    assert "updated" in again and "confidential" in again and "travel" in again and "job description" in again
    assert again.count("[x]") == 3  # asked (kept from the first), answer, connected
    with cohort.db.session() as s:
        assert len(s.exec(select(RecruiterCall)).all()) == 1
    no = cohort.ok("ann", '/dare recruiter "Globex" --answer no')
    assert "I'd consider one that" in no and "few months" in no


def test_a_reward_needs_a_logged_interview_unless_anyway_and_the_student_is_told(cohort: Chat) -> None:
    cohort.ok("ann", "/dare story I froze, then I asked the first question and it went fine")
    assert "isn't tied to a logged interview" in cohort.err("prof", "/dare reward @ann")
    assert "They'll get a DM" in cohort.ok("prof", "/dare reward @ann --anyway")
    with cohort.db.session() as s:
        assert [n.rule for n in s.exec(select(Nudge).where(Nudge.rule == "reward-granted"))] == ["reward-granted"]


def test_changing_the_goal_tells_each_participant_once(cohort: Chat) -> None:
    cohort.ok("prof", "/dare start --goal 3")
    cohort.wait(minutes=1)
    cohort.ok("prof", "/dare start --goal 4")  # a second change before the first DM went out
    cohort.ok("prof", "/dare start --goal 5")  # and a third in the same minute
    with cohort.db.session() as s:
        rows = list(s.exec(select(Nudge).where(Nudge.rule == "dare-changed")))
    assert sorted(n.status for n in rows) == ["dropped", "pending"]


def test_aim_shapes_the_questions_and_asked_ones_are_not_suggested_again(cohort: Chat) -> None:
    assert "Your aim: growing where you are" in cohort.ok("ann", "/dare settings aim growth")
    assert "aim takes job, growth or business" in cohort.err("ann", "/dare settings aim fame")
    assert "growing where you are" in cohort.ok("ann", "/dare settings")
    assert [q.id for q in suggest("decision-maker", "job", set())][0] == "v1"
    assert [q.id for q in suggest("future-self", "growth", set())][0] == "p2"
    assert "v1" not in [q.id for q in suggest("decision-maker", "job", {"v1"})]
    assert len(suggest(None, None, {"v1", "v2", "v3", "p1", "p2", "p3", "m1"})) == 2


def test_help_explains_tags_question_ids_and_gives_examples(cohort: Chat) -> None:
    log = cohort.ok("ann", "/dare help log")
    assert "job-offer" in log and "v1  What makes someone really valuable" in log and "Example: /dare log" in log
    from bot.registry import commands

    for spec in commands():
        assert spec.examples, spec.name
        assert spec.details, spec.name


def test_small_fixes(cohort: Chat) -> None:
    report = cohort.ok("prof", "/dare report")
    assert "Reply rate: nobody reached yet" in report and "0 of 0" not in report
    assert '/dare cohort join "Spring 2027"' in cohort.err("bob", '/dare board "Spring 2027"')
    # an outreach dated before the dare is kept but said not to count
    cohort.ok("ann", '/dare contact "Cy Ode"')
    out = cohort.ok("ann", '/dare outreach "Cy Ode" --on 2026-09-01')
    assert "doesn't count toward the dare" in out
    assert parse_wait("1w") == timedelta(weeks=1) and parse_wait("3d15h") == timedelta(days=3, hours=15)
    assert parse_wait("0m") is None and parse_wait("soon") is None


def test_after_the_deadline_the_report_lists_who_fell_short_without_word_buttons(tmp_path) -> None:
    chat = Chat.open(f"sqlite:///{tmp_path}/d.db")
    chat.ok("prof", "/dare cohort create C --goal 1")
    for s in ("ann", "bob"):
        chat.ok(s, "/dare cohort join C")
    chat.ok("prof", "/dare start C --deadline tomorrow")
    before = chat.say("prof", "/dare report C")
    word = next(b for b in before.buttons if b.action == "word.send")
    chat.wait(days=3)
    after = chat.say("prof", "/dare report C")
    text = after.plain_text()
    assert "Still short of the goal when the dare ended (2)" in text and "Who needs a word" not in text
    assert not [b for b in after.buttons if b.action == "word.send"]
    from bot.identity import Actor

    late = chat.engine.press(chat.ws, Actor("prof", "Prof"), word.action, word.value)
    assert late.is_error and "dare ended on" in late.plain_text()


@pytest.mark.parametrize(("mode", "shown"), [("alias", "alias"), ("hidden", None)])
def test_the_channel_cheer_follows_the_board_setting(cohort: Chat, mode: str, shown: str | None) -> None:
    cohort.ok("ann", f"/dare settings board {mode}")
    for name in ("Ada Lovelace", "Bo Chen"):
        cohort.ok("ann", f'/dare outreach "{name}"')
        met = cohort.say("ann", f'/dare log "{name}"')
    if shown is None:
        assert met.public is None  # kept off the board, kept out of the channel
    else:
        assert met.public is not None and "Ann" not in met.public.plain_text()
        assert "just met the goal" in met.public.plain_text()
