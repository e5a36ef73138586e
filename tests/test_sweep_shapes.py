"""The sweep calls only the rules a state's shape can trigger (rules.NEEDS): skipping the others must change
nothing, neither the Dues nor whether a person's rules fail (an odd date raises in the rule that works it
out, and the rules of one state fail together)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.nudges import catalog
from bot.nudges import rules as r
from bot.nudges.policy import DEFAULT_POLICY

START = datetime(2026, 10, 12, 14, 0, tzinfo=UTC)
DAY = date(2026, 10, 12)
ZONES = ("UTC", "America/New_York", "Asia/Tokyo", "Pacific/Kiritimati")

days = st.integers(-40, 60).map(lambda n: DAY + timedelta(days=n))
moments = st.integers(-40 * 24, 60 * 24).map(lambda h: START + timedelta(hours=h))
# far-off and edge dates: working them out in local time can overflow
odd_moments = st.sampled_from((datetime(9999, 12, 31, 23, tzinfo=UTC), datetime(1, 1, 1, 1, tzinfo=UTC)))
odd_days = st.sampled_from((date(9999, 12, 31), date(1, 1, 1)))


@st.composite
def states(draw: st.DrawFn) -> r.ParticipantState:
    odd = draw(st.booleans())
    deadline = draw(st.none() | days | (odd_days if odd else days))
    dare = r.DareInfo(
        id=7,
        cohort_id=1,
        cohort_name="c",
        goal=draw(st.integers(1, 3)),
        starts_at=draw(odd_moments if odd and draw(st.booleans()) else moments),
        deadline=deadline,
        reward=None,
        followup_days=draw(st.integers(1, 6)),
        stall_days=draw(st.integers(1, 6)),
        daily_cap=1,
        weekly_cap=3,
    )
    contacts = {cid: r.ContactInfo(cid, f"C{cid}", "future-self", False, draw(moments)) for cid in range(1, 4)}
    outreaches = []
    for n in range(draw(st.integers(0, 4))):
        sent = draw(days)
        status = draw(st.sampled_from(("no-reply", "replied", "meeting", "declined")))
        outreaches.append(
            r.OutreachInfo(
                n + 1,
                draw(st.integers(1, 3)),
                draw(st.integers(1, 3)),
                sent,
                status,
                sent + timedelta(days=1) if status != "no-reply" else None,
                draw(st.none() | days) if status == "meeting" else None,
            )
        )
    outreaches.sort(key=lambda o: (o.sent_on, o.id))
    interviews = sorted(
        (
            r.InterviewInfo(n + 1, draw(st.integers(1, 3)), draw(days), draw(moments))
            for n in range(draw(st.integers(0, 2)))
        ),
        key=lambda i: (i.held_on, i.id),
    )
    calls = [
        r.RecruiterInfo(n + 1, "Acme", draw(st.sampled_from(("no", "yes", None))), draw(days))
        for n in range(draw(st.integers(0, 2)))
    ]
    return r.ParticipantState(
        person_id=1,
        workspace_id=1,
        tz=draw(st.sampled_from(ZONES)),
        dare=dare,
        accepted_at=draw(st.none() | moments),
        contacts=contacts if outreaches or draw(st.booleans()) else {},
        outreaches=outreaches,
        interviews=interviews,
        story_times=draw(st.lists(moments, max_size=1)),
        recruiter_calls=calls,
        own_goal=draw(st.none() | st.integers(1, 5)),
    )


def _every_rule(s: r.ParticipantState, now: datetime) -> list[tuple[str, r.Due]] | type[Exception]:
    """What the sweep gave before it skipped rules: each participant rule in turn, on shared Facts."""
    p = DEFAULT_POLICY.for_dare(s.dare)
    facts = r.Facts(s, now, p)
    try:
        return [(name, d) for name, when in catalog._SWEPT[False] for d in when(s, now, p, facts)]
    except (ArithmeticError, ValueError) as e:
        return type(e)


def _sweep(s: r.ParticipantState, now: datetime) -> list[tuple[str, r.Due]] | type[Exception]:
    try:
        return catalog.dues(s, now, DEFAULT_POLICY.for_dare(s.dare))
    except (ArithmeticError, ValueError) as e:
        return type(e)


@settings(max_examples=400, deadline=None)
@given(states(), moments)
def test_skipping_the_rules_a_shape_cannot_trigger_changes_nothing(s: r.ParticipantState, now: datetime) -> None:
    got, want = _sweep(s, now), _every_rule(s, now)
    assert got == want or (isinstance(got, type) and isinstance(want, type))


@settings(max_examples=400, deadline=None)
@given(states(), moments)
def test_a_rule_without_what_it_needs_yields_nothing(s: r.ParticipantState, now: datetime) -> None:
    """...and when it fails instead, the rules the sweep runs for that state fail as well."""
    flags = r.shape(s)
    p = DEFAULT_POLICY.for_dare(s.dare)
    for _name, when in catalog._SWEPT[False]:
        needs = r.NEEDS.get(when, 0)
        if needs & flags != needs:
            try:
                found = list(when(s, now, p, r.Facts(s, now, p)))
            except (ArithmeticError, ValueError):
                assert isinstance(_sweep(s, now), type)
                continue
            assert found == []


def test_every_participant_rule_declares_what_it_needs() -> None:
    """A new rule left out of NEEDS would run for every state (safe, but the table should be kept whole)."""
    assert {when for _name, when in catalog._SWEPT[False]} == set(r.NEEDS)
    assert all(0 < needs < r.SHAPES for needs in r.NEEDS.values())
