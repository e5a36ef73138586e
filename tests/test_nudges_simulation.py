"""A four-week cohort, simulated on the injected clock: exactly the expected DMs, in order, at the
expected local hours, none twice -- across time zones, two daylight-saving changes (Europe on
2026-10-25, the US on 2026-11-01), a quiet week, someone acting just before a planned nudge, and
someone whose DMs are refused."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.ports import PermanentSendError
from bot.zones import stored_zone as zone
from storage.db import open_database
from storage.models import Nudge, Person
from tests.fakes.room import Room

START = datetime(2026, 10, 19, 14, 0, tzinfo=UTC)  # a Monday: 10:00 New York, 16:00 Berlin, 23:00 Tokyo
TZ = {
    "ann": "America/New_York",
    "bob": "Europe/Berlin",
    "cy": "Asia/Tokyo",
    "dan": "America/New_York",
    "eve": "UTC",
    "teach": "America/Chicago",
}

DARED = "You're dared: 3 reverse interviews with cs101"
WAITING = "The dare is still waiting for you"
DIGEST = "cs101: your weekly digest"

EXPECTED = [
    ("ann", DARED, "2026-10-19 10:00"),
    ("bob", DARED, "2026-10-19 16:00"),
    ("dan", DARED, "2026-10-19 10:00"),
    ("cy", DARED, "2026-10-20 08:00"),  # 23:00 in Tokyo: held until quiet hours end
    ("cy", WAITING, "2026-10-21 10:00"),
    ("bob", WAITING, "2026-10-21 10:00"),  # 08:00 UTC, summer time
    ("dan", "Time to follow up with Max Roe", "2026-10-23 10:00"),
    # ann's follow-up, planned for 10:00 on the 23rd, was dropped: she followed up at 09:30
    ("cy", WAITING, "2026-10-25 10:00"),
    ("bob", WAITING, "2026-10-25 10:00"),  # 09:00 UTC: Berlin changed clocks that night
    ("ann", "Your week on the dare (cs101, week of Oct 26)", "2026-10-26 09:00"),
    ("dan", "Your week on the dare (cs101, week of Oct 26)", "2026-10-26 09:00"),
    ("teach", DIGEST, "2026-10-26 09:00"),
    ("dan", "Your talk with Max Roe is tomorrow", "2026-10-27 10:00"),
    ("ann", "Try Dana Lee another way", "2026-10-27 10:00"),  # two unanswered: the ladder's second rung
    ("dan", "Say thank you to Max Roe", "2026-10-28 18:00"),
    ("dan", "Tell your story", "2026-10-30 10:00"),
    ("teach", DIGEST, "2026-11-02 09:00"),  # 15:00 UTC now; participants' week is quiet (exams)
    ("ann", "Still with us?", "2026-11-09 08:00"),  # fell due in the quiet week: first allowed minute after
    ("dan", "Still with us?", "2026-11-09 08:00"),
    # no participant digests on Nov 9 or 16: nothing new since the last one
    ("teach", DIGEST, "2026-11-09 09:00"),
    ("dan", "Close the loop with Max Roe", "2026-11-11 10:00"),
    ("ann", "The deadline is close", "2026-11-15 10:00"),
    ("dan", "The deadline is close", "2026-11-15 10:00"),
]


def run_cohort(url: str) -> Room:
    db = open_database(url)
    r = Room(db, START)
    r.tz = {k: v for k, v in TZ.items() if k != "teach"}  # teach has none: the cohort's zone applies
    r.messenger.fail["eve"] = PermanentSendError("cannot_dm_bot")
    r.say("teach", "cohort create cs101 --deadline 2026-11-20 --tz America/Chicago")
    for u in ("ann", "bob", "cy", "dan", "eve"):
        r.say(u, "cohort join cs101")
    r.say("teach", "cohort quiet cs101 --from 2026-11-02 --to 2026-11-08 --note exams")
    r.say("teach", "start cs101 --reward 'lunch with the instructor'")
    r.say("ann", "accept")
    r.say("ann", 'contact "Dana Lee" --title CTO --org Acme --decides')
    r.say("ann", 'outreach "Dana Lee"')
    r.say("dan", "accept")
    r.say("dan", 'contact "Max Roe" --title "Staff engineer" --org Initech')
    r.say("dan", 'outreach "Max Roe" --via linkedin')
    r.until(datetime(2026, 10, 23, 13, 30, tzinfo=UTC))  # 09:30 in New York
    with db.session() as s:
        planned = set(s.execute(select(Nudge.key).where(Nudge.status == "pending")).scalars())
    assert "2:follow-up:1:a2" in planned  # ann's follow-up nudge is in the outbox for 10:00...
    r.say("ann", 'outreach "Dana Lee"')  # ...and she sends attempt 2 herself, half an hour before
    r.until(datetime(2026, 10, 24, 15, 0, tzinfo=UTC))
    r.say("dan", 'reply "Max Roe" --meeting 2026-10-28')
    r.until(datetime(2026, 10, 28, 20, 0, tzinfo=UTC))
    r.say("dan", 'log "Max Roe" --minutes 20')
    r.until(START + timedelta(days=28))
    return r


def check(r: Room) -> None:
    got = r.log(TZ)
    assert got == EXPECTED
    # none twice: every DM is one outbox row, sent once
    with r.db.session() as s:
        rows = list(s.execute(select(Nudge)).scalars())
        eve = s.execute(select(Person).where(Person.external_id == "eve")).scalars().one()
    by_key = {n.key: n for n in rows}
    assert len(by_key) == len(rows)
    sent = [n for n in rows if n.status == "sent"]
    assert len(sent) == len(r.messenger.sent) == len(EXPECTED)
    assert len({n.platform_message_id for n in sent}) == len(sent)
    assert by_key["2:follow-up:1:a2"].status == "dropped"
    assert by_key["2:follow-up:1:a2"].last_error == "reason gone"
    assert "2:digest:1:2026-W45" not in by_key  # nothing new that week: no digest planned
    # the unreachable participant is marked, and the instructor is told
    assert eve.unreachable_at is not None and eve.unreachable_reason == "cannot_dm_bot"
    assert {n.status for n in rows if n.person_id == eve.id} == {"unreachable"}
    digests = [d for d in r.messenger.sent if d.user == "teach"]
    assert all("Eve: can't be reached by DM" in d.text for d in digests)  # in "who needs a word", with why
    assert "5% baseline" in digests[0].text
    # nobody hears from the coach at night, and participants not during the quiet week
    for d in r.messenger.sent:
        local = d.at.astimezone(zone(TZ[d.user]))
        assert 8 <= local.hour < 21, d
        if d.user != "teach":
            assert not (datetime(2026, 11, 2).date() <= local.date() <= datetime(2026, 11, 8).date()), d
    # one DM a day per person, digests included; three coaching nudges a week (announcement and digests aside)
    per_day = Counter((d.user, d.at.astimezone(zone(TZ[d.user])).date()) for d in r.messenger.sent)
    assert max(per_day.values()) == 1
    coaching = [d for d in r.messenger.sent if "Your week" not in d.title and d.title not in (DARED, DIGEST)]
    for d in coaching:
        window = [e for e in coaching if e.user == d.user and d.at - timedelta(days=7) < e.at <= d.at]
        assert len(window) <= 3


def test_four_week_cohort_sqlite(tmp_path):
    check(run_cohort(f"sqlite:///{tmp_path / 'sim.sqlite3'}"))


@pytest.mark.postgres
def test_four_week_cohort_postgres(pg_url):
    check(run_cohort(pg_url))


def test_nudge_buttons_and_dm_text(tmp_path):
    r = run_cohort(f"sqlite:///{tmp_path / 'sim.sqlite3'}")
    dared = r.messenger.to("ann")[0].reply
    assert [(b.label, b.action, b.value, b.style) for b in dared.buttons] == [
        ("I'm in", "dare.accept", "cs101", "primary")
    ]
    assert "/dare accept cs101" in dared.plain_text() and "lunch with the instructor" in dared.plain_text()
    follow = next(d.reply for d in r.messenger.to("dan") if d.title.startswith("Time to follow up"))
    assert [(b.label, b.action, b.value, b.style) for b in follow.buttons] == [
        ("Log it", "nudge.log", "", None),
        ("Snooze 3 days", "nudge.snooze", "3", None),
        ("Stop these", "nudge.stop", "", "danger"),
    ]
    prep = next(d.text for d in r.messenger.to("dan") if d.title.startswith("Your talk"))
    assert "(v1)" in prep and "(m1)" in prep  # the must-ask questions
