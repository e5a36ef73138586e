"""Delivery limits: idempotent planning, caps, snooze, opt-out, pause, retries, unreachable, claims."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select, update

from bot.nudges.policy import local_at
from bot.ports import PermanentSendError, TransientSendError
from bot.scheduler import NudgeScheduler
from storage.db import Database, open_database
from storage.models import Nudge, Person
from tests.fakes.room import RecordingMessenger, Room

START = datetime(2026, 10, 19, 14, 0, tzinfo=UTC)  # Monday 10:00 in New York
NY = "America/New_York"


def ny(d: int, hh: int = 10, mm: int = 0, month: int = 10) -> datetime:
    return local_at(date(2026, month, d), time(hh, mm), NY)


def room(url: str, people=("ann", "bob"), **kw) -> Room:
    r = Room(open_database(url), START, **kw)
    r.tz = {p: NY for p in people}
    r.say("teach", "cohort create cs101 --deadline 2026-12-20 --tz America/New_York")
    for p in people:
        r.say(p, "cohort join cs101")
    r.say("teach", "start cs101")
    return r


def rows(r: Room) -> dict[str, Nudge]:
    with r.db.session() as s:
        return {n.key: n for n in s.execute(select(Nudge)).scalars()}


def test_planning_twice_plans_once(db_url):
    r = room(db_url)
    r.say("ann", "accept")
    r.clock.set(ny(25))
    first = r.nudges.sweep()
    assert first > 0
    assert r.nudges.sweep() == 0
    # two planners racing on separate connections still insert each key once
    other = NudgeScheduler(Database(db_url), r.clock, RecordingMessenger(r.clock), platform="console")
    r.clock.set(ny(27))
    results: list[int] = []
    threads = [threading.Thread(target=lambda c=c: results.append(c.sweep())) for c in (r.nudges, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [n.key for n in rows(r).values()]
    assert len(keys) == len(set(keys))
    assert r.nudges.sweep() == 0 and other.sweep() == 0


def test_caps_one_a_day_three_a_week(tmp_path):
    r = room(f"sqlite:///{tmp_path / 'db.sqlite3'}", people=("ann",))
    r.say("ann", "accept")
    for name in ("Ada", "Bo", "Cy", "Di"):
        r.say("ann", f'contact "{name} X"')
        r.say("ann", f'outreach "{name} X"')
    r.until(ny(2, month=11))
    follow = [(d.title, d.at) for d in r.messenger.to("ann") if d.title.startswith("Time to follow up")]
    # four follow-ups fall due at 10:00 on the 23rd: one that day, one each morning after, then the
    # weekly cap (3 in any 7 days) holds the fourth until a week after the first
    assert [at for _, at in follow] == [ny(23), ny(24, 8), ny(25, 8), ny(30)]
    coaching = [d for d in r.messenger.to("ann") if not d.title.startswith(("You're dared", "Your week"))]
    days = [d.at.astimezone(r.nudges.clock.now().tzinfo).date() for d in coaching]
    assert len(days) == len(set(days))


def test_snooze_postpones_and_stop_drops(tmp_path):
    r = room(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    r.clock.set(ny(20))
    r.say("ann", "settings snooze 3")  # until the 23rd, 10:00
    r.until(ny(20, 11))
    assert rows(r)["3:not-accepted:1:1"].status == "pending"  # planned a day ahead
    r.say("bob", "settings nudges off")
    r.until(ny(24))
    got = rows(r)
    ann_reminder = next(d for d in r.messenger.to("ann") if d.title == "The dare is still waiting for you")
    assert ann_reminder.at == ny(23)  # planned for the 21st, sent when the snooze ended
    assert got["3:not-accepted:1:1"].status == "dropped" and got["3:not-accepted:1:1"].last_error == "opted out"
    assert [d.title for d in r.messenger.to("bob")] == ["You're dared: 3 reverse interviews with cs101"]


def test_pause_until_a_date_resumes_on_its_own(tmp_path):
    r = room(f"sqlite:///{tmp_path / 'db.sqlite3'}", people=("ann",))
    r.say("teach", "cohort pause cs101 --until 2026-10-24")
    r.until(ny(26))
    titles = [(d.title, d.at) for d in r.messenger.to("ann")]
    # the announcement is not held back; the reminder due on the 21st waits for the pause to end
    # (midnight in New York), then for quiet hours to end
    assert titles[0][0].startswith("You're dared")
    assert ("The dare is still waiting for you", ny(24, 8)) in titles


def test_indefinite_pause_holds_until_resumed(tmp_path):
    r = room(f"sqlite:///{tmp_path / 'db.sqlite3'}", people=("ann",))
    r.say("teach", "cohort pause cs101")
    r.until(ny(28))
    assert [d.title for d in r.messenger.to("ann")] == ["You're dared: 3 reverse interviews with cs101"]
    r.say("teach", "cohort resume cs101")
    r.until(ny(30))
    # both reminders were held back; after the pause only the most relevant goes out, not a burst
    assert [d.title for d in r.messenger.to("ann")][1:] == ["The dare is still waiting for you"]
    held = [n for n in rows(r).values() if n.rule == "not-accepted"]
    assert sorted((n.status, n.last_error or "") for n in held) == [
        ("dropped", "superseded after a pause"),
        ("sent", ""),
    ]


def test_transient_failure_backs_off_and_retry_after_holds_the_workspace(tmp_path):
    r = room(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    r.messenger.sent.clear()
    with r.db.session() as s:  # undo the announcements so both go out together again
        s.execute(update(Nudge).values(status="pending", sent_at=None, attempts=0))
    r.messenger.fail["ann"] = [TransientSendError("ratelimited", retry_after=120)]
    assert r.nudges.deliver_due() == 0  # ann hit the rate limit; bob waits for the same workspace
    got = rows(r)
    assert got["2:dare-issued:1:-"].status == "pending" and got["2:dare-issued:1:-"].attempts == 1
    assert got["2:dare-issued:1:-"].due_at == START + timedelta(seconds=120)
    assert got["3:dare-issued:1:-"].due_at == START + timedelta(seconds=120)
    assert got["3:dare-issued:1:-"].attempts == 0
    r.clock.advance(timedelta(seconds=119))
    assert r.nudges.deliver_due() == 0
    r.clock.advance(timedelta(seconds=1))
    assert r.nudges.deliver_due() == 2
    # plain transient errors back off exponentially and give up after max_attempts
    r.messenger.fail["ann"] = [TransientSendError("timeout")] * 10
    with r.db.session() as s:
        s.execute(
            update(Nudge).where(Nudge.key == "2:dare-issued:1:-").values(status="pending", sent_at=None, attempts=0)
        )
    due = []
    for _ in range(10):
        r.nudges.deliver_due()
        n = rows(r)["2:dare-issued:1:-"]
        if n.status != "pending":
            break
        due.append((n.due_at - r.clock.now()).total_seconds())
        r.clock.set(n.due_at)
    assert due == [30, 60, 120, 240, 480]
    assert rows(r)["2:dare-issued:1:-"].status == "failed"


def test_permanent_failure_marks_the_person_unreachable(tmp_path):
    r = Room(open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}"), START)
    r.messenger.fail["ann"] = PermanentSendError("user_disabled")
    r.say("teach", "cohort create cs101")
    r.say("ann", "cohort join cs101")
    r.say("teach", "start cs101")
    r.until(START + timedelta(days=7))
    got = rows(r)
    assert {n.status for n in got.values() if n.person_id == 2} == {"unreachable"}
    assert len([n for n in got.values() if n.person_id == 2]) == 1  # nothing more planned for her
    with r.db.session() as s:
        ann = s.get(Person, 2)
    assert ann.unreachable_reason == "user_disabled" and ann.unreachable_at == START


def test_platform_message_id_is_recorded_and_only_own_platform_delivered(tmp_path):
    r = room(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    slack = NudgeScheduler(r.db, r.clock, RecordingMessenger(r.clock), platform="slack")
    slack.tick()
    assert slack.messenger.sent == []
    assert {n.platform_message_id for n in rows(r).values()} == {"m1", "m2"}


def test_sqlite_lease_one_runner_at_a_time(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    r = Room(open_database(url), START)
    r.say("teach", "cohort create cs101")
    r.say("ann", "cohort join cs101")
    r.engine.outbox_listener = None
    r.say("teach", "start cs101")
    other = NudgeScheduler(Database(url), r.clock, RecordingMessenger(r.clock), platform="console", worker_id="other")
    assert other.delivery._lease(r.clock.now())  # the other runner holds the lease
    assert r.nudges.deliver_due() == 0
    other.delivery._lease(r.clock.now(), release=True)
    assert r.nudges.deliver_due() == 1


def test_a_dead_workers_claim_expires_and_the_row_is_sent_once(tmp_path):
    r = room(f"sqlite:///{tmp_path / 'db.sqlite3'}", people=("ann",))
    with r.db.session() as s:
        s.execute(
            update(Nudge).values(
                status="claimed", claimed_by="dead", sent_at=None, claimed_until=START + timedelta(seconds=120)
            )
        )
    r.messenger.sent.clear()
    assert r.nudges.deliver_due() == 0
    r.clock.advance(timedelta(seconds=121))
    assert r.nudges.deliver_due() == 1
    assert r.nudges.deliver_due() == 0


@pytest.mark.parametrize(
    "act,gone",
    [
        ('outreach "Dana Lee"', "2:follow-up:3:a2"),
        ('reply "Dana Lee"', "2:follow-up:3:a2"),
    ],
)
def test_activity_after_planning_cancels_at_send_time(tmp_path, act, gone):
    r = room(f"sqlite:///{tmp_path / 'db.sqlite3'}", people=("ann",))
    r.say("ann", "accept")
    r.say("ann", 'contact "Dana Lee"')
    r.say("ann", 'outreach "Dana Lee"')
    r.until(ny(23, 9, 59))
    assert rows(r)[gone.replace(":3:", ":1:")].status == "pending"
    r.say("ann", act)
    r.until(ny(23, 12))
    n = rows(r)[gone.replace(":3:", ":1:")]
    assert (n.status, n.last_error) == ("dropped", "reason gone")


def test_real_time_scheduler_fixed_jobs_and_kick_delivers_in_the_background(tmp_path):
    from bot.clock import SystemClock
    from bot.engine import Engine
    from bot.identity import Actor, WorkspaceRef
    from bot.ports import Sent
    from bot.scheduler import DIGEST_JOB, PURGE_JOB, SWEEP_JOB

    got = threading.Event()

    class Signalling:
        def send_dm(self, ws, user, reply, **_kw):  # type: ignore[no-untyped-def]
            got.set()
            return Sent("x1")

    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    nudges = NudgeScheduler(db, SystemClock(), Signalling(), platform="console", sweep_seconds=3600)
    nudges.start()
    nudges.start()  # idempotent
    try:
        assert sorted(j.id for j in nudges._scheduler.get_jobs()) == sorted([SWEEP_JOB, DIGEST_JOB, PURGE_JOB])
        got.clear()
        engine = Engine(db, SystemClock())
        engine.outbox_listener = nudges.kick
        ws = WorkspaceRef("console", "T1")
        engine.handle_text(ws, Actor("teach", "Teach"), "cohort create rt")
        engine.handle_text(ws, Actor("ann", "Ann"), "cohort join rt")
        h = datetime.now(UTC).hour  # quiet hours well away from the hour of the test run
        engine.handle_text(ws, Actor("ann", "Ann"), f"settings quiet {(h + 3) % 24:02d}:00-{(h + 4) % 24:02d}:00")
        engine.handle_text(ws, Actor("teach", "Teach"), "start rt")  # plans a DM due now and kicks
        assert got.wait(20)
    finally:
        nudges.shutdown()
    assert nudges._scheduler is None


def test_a_dare_extended_after_its_end_brings_a_new_final_summary(db_url):
    r = Room(open_database(db_url), START)
    r.tz = {p: NY for p in ("ann", "teach")}
    r.say("teach", "cohort create cs101 --deadline 2026-10-30 --tz America/New_York")
    r.say("ann", "cohort join cs101")
    r.say("teach", "start cs101")
    r.until(ny(3, month=11))
    over = [d for d in r.messenger.to("teach") if d.title.endswith("the dare is over")]
    assert len(over) == 1
    # The instructor gives the class three more weeks: the dare runs again and ends again.
    assert "deadline" in r.say("teach", "start cs101 --deadline 2026-11-20")
    r.until(ny(27, month=11))
    over = [d for d in r.messenger.to("teach") if d.title.endswith("the dare is over")]
    assert len(over) == 2 and over[1].at > ny(20, month=11)
    r.until(ny(20, month=12))  # and only once for the new deadline
    assert len([d for d in r.messenger.to("teach") if d.title.endswith("the dare is over")]) == 2
