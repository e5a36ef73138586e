"""Rules are plain functions of state and time; local-time arithmetic survives DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from bot.nudges.catalog import candidates as participant_candidates
from bot.nudges.catalog import still_valid
from bot.nudges.policy import DEFAULT_POLICY, after_quiet_hours, in_quiet_hours, local_at
from bot.nudges.rules import (
    ContactInfo,
    DareInfo,
    InstructorState,
    InterviewInfo,
    OutreachInfo,
    ParticipantState,
    RecruiterInfo,
)

P = DEFAULT_POLICY
NY = "America/New_York"
START = datetime(2026, 10, 19, 14, 0, tzinfo=UTC)


def dare(**kw) -> DareInfo:
    base = dict(
        id=7,
        cohort_id=1,
        cohort_name="cs101",
        goal=3,
        starts_at=START,
        deadline=date(2026, 11, 20),
        reward="coffee",
        followup_days=4,
        stall_days=5,
        daily_cap=1,
        weekly_cap=3,
    )
    base.update(kw)
    return DareInfo(**base)


def state(**kw) -> ParticipantState:
    base = dict(person_id=1, workspace_id=1, tz=NY, dare=dare())
    base.update(kw)
    return ParticipantState(**base)


def keys(s, now=START) -> dict[str, datetime]:
    return {c.key: c.due_at for c in participant_candidates(s, now, P.for_dare(s.dare))}


def ny(y, m, d, hh=10, mm=0) -> datetime:
    return local_at(date(y, m, d), time(hh, mm), NY)


DANA = ContactInfo(3, "Dana", "decision-maker", True, START)
MAX = ContactInfo(4, "Max", "future-self", False, START)


def test_not_accepted_reminders_then_gone_once_accepted():
    s = state()
    k = keys(s)
    assert k["1:dare-issued:7:-"] == START
    assert k["1:not-accepted:7:1"] == ny(2026, 10, 21)
    assert k["1:not-accepted:7:2"] == ny(2026, 10, 25)
    s.accepted_at = START + timedelta(hours=1)
    k = keys(s)
    assert not any(":not-accepted:" in x or ":dare-issued:" in x for x in k)
    # accepted, no outreach: stall_days later, twice
    assert k["1:no-outreach:7:1"] == ny(2026, 10, 24) and k["1:no-outreach:7:2"] == ny(2026, 10, 29)


def test_follow_up_spacing_from_the_dare_and_try_another_after_the_third():
    o1 = OutreachInfo(10, 3, 1, date(2026, 10, 19), "no-reply", None, None)
    s = state(accepted_at=START, contacts={3: DANA, 4: MAX}, outreaches=[o1])
    assert keys(s)["1:follow-up:3:a2"] == ny(2026, 10, 23)
    s.dare = dare(followup_days=2)
    assert keys(s)["1:follow-up:3:a2"] == ny(2026, 10, 21)
    s.dare = dare()
    o2 = OutreachInfo(11, 3, 2, date(2026, 10, 23), "no-reply", None, None)
    o3 = OutreachInfo(12, 3, 3, date(2026, 10, 27), "no-reply", None, None)
    s.outreaches = [o1, o2, o3]
    k = keys(s)
    assert "1:follow-up:3:a2" not in k and "1:follow-up:3:a3" not in k
    assert k["1:try-another:3:a3"] == ny(2026, 10, 31)
    # the ladder replaces the old "encourage" nudge: no separate DM for a run of silence
    assert not [key for key in k if "encourage" in key]
    # a reply cancels both
    s.outreaches = [o1, o2, OutreachInfo(12, 3, 3, date(2026, 10, 27), "replied", date(2026, 10, 28), None)]
    k = keys(s)
    assert not any(":try-another:" in x or ":encourage:" in x for x in k)


def test_meeting_prep_the_day_before_and_expires_after_the_meeting():
    o = OutreachInfo(10, 3, 1, date(2026, 10, 19), "meeting", date(2026, 10, 20), date(2026, 10, 28))
    s = state(accepted_at=START, contacts={3: DANA}, outreaches=[o])
    key = "1:meeting-prep:3:2026-10-28"
    assert keys(s)[key] == ny(2026, 10, 27)
    assert still_valid(key, "meeting-prep", [s], ny(2026, 10, 27), P) is s
    assert still_valid(key, "meeting-prep", [s], ny(2026, 10, 28, 13), P) is None  # too late
    s.interviews = [InterviewInfo(5, 3, date(2026, 10, 27), ny(2026, 10, 27, 15))]  # met early
    assert still_valid(key, "meeting-prep", [s], ny(2026, 10, 27, 16), P) is None


def test_interview_brings_thank_you_story_and_close_the_loop():
    iv = InterviewInfo(5, 3, date(2026, 10, 28), ny(2026, 10, 28, 16))
    s = state(
        accepted_at=START,
        contacts={3: DANA},
        interviews=[iv],
        outreaches=[OutreachInfo(10, 3, 1, date(2026, 10, 19), "meeting", None, date(2026, 10, 28))],
    )
    k = keys(s)
    assert k["1:thank-you:5:-"] == ny(2026, 10, 28, 18)
    assert k["1:story-invite:7:-"] == ny(2026, 10, 30)
    assert k["1:close-loop:5:-"] == ny(2026, 11, 11)
    s.story_times = [ny(2026, 10, 29)]
    assert "1:story-invite:7:-" not in keys(s)
    # logged late at night: the thank-you falls due at once, and stops making sense two days on
    late = InterviewInfo(5, 3, date(2026, 10, 28), ny(2026, 10, 28, 20))
    s.interviews = [late]
    assert keys(s)["1:thank-you:5:-"] == ny(2026, 10, 28, 20)
    assert still_valid("1:thank-you:5:-", "thank-you", [s], ny(2026, 10, 30, 0, 1), P) is None


def test_two_talks_on_one_day_bring_one_thank_you_naming_both():
    from bot.nudges import messages

    dana = InterviewInfo(5, 3, date(2026, 10, 28), ny(2026, 10, 28, 12))
    max_ = InterviewInfo(6, 4, date(2026, 10, 28), ny(2026, 10, 28, 19))
    later = InterviewInfo(8, 4, date(2026, 11, 2), ny(2026, 11, 2, 12))
    s = state(accepted_at=START, contacts={3: DANA, 4: MAX}, interviews=[dana, max_, later])
    thanks = {k: v for k, v in keys(s).items() if ":thank-you:" in k}
    # the day's reminder keeps the first talk's key and waits for the day's last log
    assert thanks == {"1:thank-you:5:-": ny(2026, 10, 28, 19), "1:thank-you:8:-": ny(2026, 11, 2, 18)}
    both = messages.thank_you(s, "5", "-", ny(2026, 10, 28, 19)).plain_text()
    assert "Say thank you to Dana and Max" in both and "each of them" in both
    one = messages.thank_you(s, "8", "-", ny(2026, 11, 2, 18)).plain_text()
    assert "Say thank you to Max" in one and "Thank you, Max," in one and "Dana" not in one


def test_deadline_gone_quiet_and_recruiter_revisit():
    o = OutreachInfo(10, 3, 1, date(2026, 10, 20), "replied", date(2026, 10, 22), None)
    s = state(
        accepted_at=START,
        contacts={3: DANA},
        outreaches=[o],
        recruiter_calls=[
            RecruiterInfo(9, "Initech", "no", date(2026, 10, 20)),
            RecruiterInfo(8, "Acme", "yes", date(2026, 10, 20)),
        ],
    )
    k = keys(s, ny(2026, 11, 1))
    assert k["1:deadline-near:7:-"] == ny(2026, 11, 15)
    assert k["1:gone-quiet:7:2026-10-22"] == ny(2026, 11, 1)  # last step: the reply on the 22nd
    assert k["1:recruiter-revisit:9:-"] == ny(2027, 1, 18)
    assert not any(":recruiter-revisit:8:" in x for x in k)
    # acting moves "gone quiet" to a new period: the planned one is no longer valid
    s.outreaches = [o, OutreachInfo(11, 4, 1, date(2026, 10, 30), "no-reply", None, None)]
    assert still_valid("1:gone-quiet:7:2026-10-22", "gone-quiet", [s], ny(2026, 11, 1), P) is None
    # goal met: no deadline or gone-quiet nudges
    s.interviews = [InterviewInfo(i, 3, date(2026, 10, 25), START) for i in (1, 2, 3)]
    k = keys(s, ny(2026, 11, 1))
    assert "1:deadline-near:7:-" not in k and not any(":gone-quiet:" in x for x in k)


def test_weekly_digests_at_nine_local_across_the_dst_change():
    s = state(accepted_at=START, outreaches=[OutreachInfo(1, 3, 1, date(2026, 10, 27), "no-reply", None, None)])
    # Sunday 2026-11-01 (US clocks go back that night): next digest Monday 09:00 EST = 14:00 UTC
    k = keys(s, ny(2026, 11, 1, 12))
    assert k["1:digest:7:2026-W45"] == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    assert k["1:digest:7:2026-W44"] == datetime(2026, 10, 26, 13, 0, tzinfo=UTC)  # EDT the week before
    i = InstructorState(2, 1, "America/Chicago", dare())
    got = {c.key: c.due_at for c in participant_candidates(i, ny(2026, 11, 1, 12), P)}
    assert got["2:instructor-digest:7:2026-W45"] == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def test_quiet_hours_move_to_the_next_allowed_minute_in_local_time():
    q0, q1 = time(21, 0), time(8, 0)
    late = ny(2026, 10, 31, 22, 30)  # Saturday night; the clocks go back at 02:00 on Sunday
    assert in_quiet_hours(late, NY, q0, q1)
    assert after_quiet_hours(late, NY, q0, q1) == ny(2026, 11, 1, 8, 0)
    assert after_quiet_hours(late, NY, q0, q1) - late == timedelta(hours=10, minutes=30)  # 9h30 + the extra hour
    early = ny(2026, 11, 2, 7, 59)
    assert after_quiet_hours(early, NY, q0, q1) == ny(2026, 11, 2, 8, 0)
    noon = ny(2026, 11, 2, 12, 0)
    assert after_quiet_hours(noon, NY, q0, q1) == noon
    # a daytime quiet span (13:00-14:00) and none at all (equal ends)
    assert after_quiet_hours(ny(2026, 11, 2, 13, 30), NY, time(13), time(14)) == ny(2026, 11, 2, 14)
    assert after_quiet_hours(late, NY, time(0), time(0)) == late
    # spring forward: 02:30 does not exist in New York on 2027-03-14; 02:00-03:00 quiet ends just after
    gap_night = ny(2027, 3, 14, 1, 30)
    assert after_quiet_hours(gap_night, NY, time(1), time(2, 30)) > gap_night


def test_rules_are_pure_and_keys_stable():
    s = state(
        accepted_at=START,
        contacts={3: DANA},
        outreaches=[OutreachInfo(10, 3, 1, date(2026, 10, 19), "no-reply", None, None)],
    )
    a = keys(s, ny(2026, 10, 20))
    b = keys(s, ny(2026, 10, 22))
    # the same reasons give the same keys whatever the moment (digest weeks aside)
    strip = lambda k: {x for x in k if ":digest:" not in x}  # noqa: E731
    assert strip(a) == strip(b)


def test_after_the_deadline_only_the_recruiter_revisit_remains():
    o = OutreachInfo(10, 3, 1, date(2026, 11, 10), "no-reply", None, None)
    s = state(
        accepted_at=START,
        contacts={3: DANA, 4: MAX},
        outreaches=[o],
        interviews=[InterviewInfo(5, 4, date(2026, 11, 18), START)],
        recruiter_calls=[RecruiterInfo(9, "Initech", "no", date(2026, 10, 20))],
    )
    during = keys(s, ny(2026, 11, 12))
    assert "1:follow-up:3:a2" in during and "1:close-loop:5:-" in during
    months_later = keys(s, ny(2027, 1, 18))
    assert set(months_later) == {"1:recruiter-revisit:9:-"}


def test_no_digest_in_the_first_days_of_a_dare():
    sunday = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)
    s = state(accepted_at=sunday, dare=dare(starts_at=sunday))
    k = keys(s, sunday)
    assert not any(":digest:" in x for x in k)  # not the very next morning
    assert keys(s, datetime(2026, 11, 8, 16, 0, tzinfo=UTC))["1:digest:7:2026-W46"] == ny(2026, 11, 9, 9)


def test_a_digest_with_nothing_new_is_not_planned_and_none_after_the_deadline():
    quiet = state(accepted_at=START)
    k = keys(quiet, ny(2026, 11, 1, 12))
    assert "1:digest:7:2026-W44" in k  # the first one always goes
    assert "1:digest:7:2026-W45" not in k  # nothing happened since
    busy = state(accepted_at=START, outreaches=[OutreachInfo(1, 3, 1, date(2026, 11, 16), "no-reply", None, None)])
    after = keys(busy, ny(2026, 11, 22, 12))  # the deadline was the 20th
    assert "1:digest:7:2026-W47" in after and "1:digest:7:2026-W48" not in after
