"""The coach's next-step advice: one rule, shared by /dare progress and the weekly digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.coaching import next_step, open_follow_ups

T0 = datetime(2026, 9, 1, tzinfo=UTC)


@dataclass
class C:
    id: int
    name: str
    can_decide: bool = False
    created_at: datetime = T0


@dataclass
class A:
    contact_id: int
    attempt_no: int
    sent_on: date
    status: str = "no-reply"


def test_no_contacts_means_name_someone() -> None:
    assert "Name one person" in next_step([], [], set(), today=date(2026, 9, 10), followup_days=4)


def test_an_overdue_follow_up_comes_first() -> None:
    contacts = [C(1, "Ada"), C(2, "Bo", can_decide=True)]
    attempts = [A(1, 1, date(2026, 9, 1))]
    advice = next_step(contacts, attempts, set(), today=date(2026, 9, 5), followup_days=4)
    # the ladder's first rung: silence is normal, follow up now
    assert advice.startswith("No answer from Ada since Sep 1. That's normal") and "follow-up today" in advice


def test_before_a_follow_up_is_due_a_decider_is_suggested() -> None:
    contacts = [C(1, "Ada"), C(2, "Bo"), C(3, "Cy", can_decide=True)]
    attempts = [A(1, 1, date(2026, 9, 4))]
    advice = next_step(contacts, attempts, set(), today=date(2026, 9, 5), followup_days=4)
    assert "Next on your list: Cy" in advice and "can hire" in advice


def test_waiting_on_everyone_says_when_to_follow_up() -> None:
    advice = next_step([C(1, "Ada")], [A(1, 2, date(2026, 9, 4))], set(), today=date(2026, 9, 5), followup_days=4)
    assert "Waiting on Ada: silence is normal for a few days. Follow up on Tuesday" in advice


def test_three_unanswered_attempts_or_an_interview_close_a_follow_up() -> None:
    attempts = [A(1, 3, date(2026, 9, 1)), A(2, 1, date(2026, 9, 1)), A(3, 1, date(2026, 9, 2), "replied")]
    assert [a.contact_id for a in open_follow_ups(attempts, interviewed=set())] == [2]
    assert open_follow_ups(attempts, interviewed={2}) == []


def test_every_nudge_rule_is_declared_once_with_a_message_and_a_priority() -> None:
    from bot.nudges import catalog

    names = [x.name for x in catalog.RULES]
    assert len(names) == len(set(names))
    for x in catalog.RULES:
        assert callable(x.message), x.name
        assert isinstance(x.priority, int) and 0 <= x.priority < 50, x.name
        assert x.exempt_from <= {"daily-cap", "weekly-cap", "opt-out", "pause"}, x.name
        assert catalog.priority(x.name) == x.priority
    assert catalog.priority("no-such-rule") == 50


def test_every_rule_function_and_message_builder_is_declared() -> None:
    """A rule function or message builder that no declaration uses is dead: nothing would run it."""
    import inspect

    from bot.nudges import catalog, messages, rules

    whens = {x.when for x in catalog.RULES if x.when is not None}
    builders = {x.message for x in catalog.RULES}
    for name, fn in inspect.getmembers(rules, inspect.isfunction):
        if (
            fn.__module__ == rules.__name__
            and not name.startswith("_")
            and "Iterator[Due]" in str(inspect.signature(fn).return_annotation)
        ):
            assert fn in whens, name
    for name, fn in inspect.getmembers(messages, inspect.isfunction):
        if (
            fn.__module__ == messages.__name__
            and not name.startswith("_")
            and inspect.signature(fn).return_annotation == "Reply"
            and list(inspect.signature(fn).parameters)[:2] == ["s", "subject"]
        ):
            assert fn in builders, name
