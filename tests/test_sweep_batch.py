"""The set-based sweep plans exactly what planning one person at a time would.

A generated cohort mixes every shape the rules care about (accepted or not, contacts in every state,
meetings before and after today, interviews before the dare, stories, recruiter calls, own goals, people
in two cohorts, removed memberships, a closed cohort, two running dares in one cohort, instructors who
also take part, people without a zone, muted and unreachable people, another platform's workspace, gaps
in the person ids). The whole-population sweep, in batches of any size, must leave the same outbox and
the same `next_check_at` as a sweep run person by person, sweep after sweep; and the states it reads in
batches must equal the ones delivery reads for one person at send time (`load_states`).
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update

from bot.nudges import catalog, planner
from bot.nudges.policy import DEFAULT_POLICY
from bot.nudges.rules import ParticipantState
from storage.db import Database
from storage.models import (
    Acceptance,
    Cohort,
    Contact,
    Dare,
    Interview,
    Membership,
    Nudge,
    Outreach,
    Person,
    RecruiterCall,
    Story,
    Workspace,
)

START = datetime(2026, 10, 12, 14, 0, tzinfo=UTC)
NOW = datetime(2026, 10, 26, 15, 0, tzinfo=UTC)
# A first sweep, the next hour, the next day, a week on (a new digest week), and after most deadlines.
SWEEPS = (
    NOW,
    NOW + timedelta(hours=1),
    NOW + timedelta(hours=26),
    NOW + timedelta(days=7, hours=3),
    NOW + timedelta(days=30),
)
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney", "Mars/Olympus", None)


def _populate(db: Database, seed: int = 7) -> list[int]:
    """The generated cohort; returns the console participants' and instructors' person ids."""
    rnd = random.Random(seed)
    t: dict[str, list[dict[str, Any]]] = defaultdict(list)
    t["workspace"] += [
        dict(id=1, platform="console", external_id="w1", name="w1", created_at=START),
        dict(id=2, platform="slack", external_id="w2", name="w2", created_at=START),
    ]
    # ids with gaps, so batches are sparse as well as dense
    pids = sorted(rnd.sample(range(1, 400), 140))
    teachers, people, other = pids[:4], pids[4:130], pids[130:]
    for pid in pids:
        t["person"].append(
            dict(
                id=pid,
                workspace_id=2 if pid in other else 1,
                external_id=f"U{pid}",
                display_name=f"P{pid}",
                alias=f"A{pid}",
                tz=rnd.choice(ZONES),
                nudges_enabled=rnd.random() > 0.1,
                aim=rnd.choice((None, "job", "business")),
                unreachable_at=START if rnd.random() < 0.04 else None,
                created_at=START,
            )
        )
    cohorts = [  # (cohort id, workspace, zone, deadline, closed)
        (1, 1, "America/Chicago", date(2026, 11, 20), False),
        (2, 1, "Europe/London", date(2026, 10, 30), False),
        (3, 1, "Asia/Kolkata", None, False),
        (4, 1, "America/Chicago", date(2026, 11, 20), True),  # closed: no nudges
        (5, 1, "Pacific/Auckland", date(2026, 6, 1), False),  # long over
        (6, 2, "Europe/Paris", date(2026, 11, 20), False),  # another platform
    ]
    dare_id = 0
    for cid, ws, tz, deadline, closed in cohorts:
        t["cohort"].append(
            dict(
                id=cid,
                workspace_id=ws,
                name=f"c{cid}",
                name_key=f"c{cid}",
                tz=tz,
                goal=3,
                deadline=deadline,
                created_by=(teachers if ws == 1 else other)[0],
                created_at=START,
                closed_at=NOW - timedelta(days=1) if closed else None,
            )
        )
        for n in range(2 if cid == 1 else 1):  # cohort 1 runs two dares at once
            dare_id += 1
            t["dare"].append(
                dict(
                    id=dare_id,
                    cohort_id=cid,
                    goal=2 + n,
                    starts_at=START + timedelta(days=2 * n),
                    deadline=deadline,
                    reward=rnd.choice((None, "coffee")),
                    issued_by=teachers[0],
                    followup_days=3 + n,
                    stall_days=4 + n,
                    created_at=START,
                )
            )
    dares_of = defaultdict(list)
    for d in t["dare"]:
        dares_of[d["cohort_id"]].append(d)
    member_id = 0

    def join(
        pid: int, cid: int, *, part: bool = True, instr: bool = False, removed: bool = False, days: int = 0
    ) -> None:
        nonlocal member_id
        member_id += 1
        t["membership"].append(
            dict(
                id=member_id,
                cohort_id=cid,
                person_id=pid,
                is_participant=part,
                is_instructor=instr,
                joined_at=START + timedelta(hours=days),
                removed_at=START + timedelta(days=3) if removed else None,
            )
        )

    for i, pid in enumerate(teachers):
        join(pid, 1 + i % 3, part=False, instr=True)
        if i == 0:
            join(pid, 2, part=True, instr=True, days=1)  # teaches and takes part
    for pid in other:
        join(pid, 6)
    contact_id = outreach_id = interview_id = story_id = call_id = 0
    by_id = {p["id"]: p for p in t["person"]}
    for n, pid in enumerate(people):
        first = rnd.choice((1, 1, 2, 3, 4, 5))
        if n < 8:  # no zone of their own, and the first cohort they joined has removed them: its zone still counts
            by_id[pid]["tz"] = None
            join(pid, (2, 3)[n % 2], removed=True)
            join(pid, 1, days=50)
            first = 1
        else:
            join(pid, first, removed=rnd.random() < 0.08, days=rnd.randint(0, 48))
            if rnd.random() < 0.3:
                join(pid, rnd.choice([c for c in (1, 2, 3) if c != first]), days=rnd.randint(49, 96))
        for d in (d for c in (1, 2, 3, 4, 5) for d in dares_of[c]):
            if rnd.random() < 0.35:
                t["acceptance"].append(
                    dict(
                        dare_id=d["id"],
                        person_id=pid,
                        accepted_at=START + timedelta(hours=rnd.randint(1, 200)),
                        goal=rnd.choice((None, None, 4)),
                    )
                )
        for _ in range(rnd.choice((0, 1, 2, 3, 4))):
            contact_id += 1
            t["contact"].append(
                dict(
                    id=contact_id,
                    workspace_id=1,
                    person_id=pid,
                    name=f"C{contact_id}",
                    name_key=f"c{contact_id}",
                    kind=rnd.choice(("future-self", "recruiter")),
                    can_decide=rnd.random() < 0.3,
                    created_at=START + timedelta(hours=rnd.randint(-72, 300)),
                )
            )
            sent = date(2026, 10, 8) + timedelta(days=rnd.randint(0, 20))
            for attempt in range(1, rnd.randint(1, 4)):
                outreach_id += 1
                status = rnd.choice(("no-reply", "no-reply", "replied", "meeting", "declined"))
                meeting = sent + timedelta(days=rnd.randint(1, 12)) if status == "meeting" else None
                t["outreach"].append(
                    dict(
                        id=outreach_id,
                        contact_id=contact_id,
                        person_id=pid,
                        attempt_no=attempt,
                        channel=rnd.choice(("email", "linkedin", "phone")),
                        sent_on=sent,
                        status=status,
                        meeting_on=meeting,
                        replied_on=sent + timedelta(days=1) if status != "no-reply" else None,
                        created_at=START,
                    )
                )
                if status in ("replied", "meeting") and rnd.random() < 0.5:
                    interview_id += 1
                    t["interview"].append(
                        dict(
                            id=interview_id,
                            person_id=pid,
                            contact_id=contact_id,
                            held_on=sent + timedelta(days=rnd.randint(-9, 6)),
                            asked="v1",
                            created_at=START + timedelta(days=rnd.randint(0, 16)),
                        )
                    )
                if status != "no-reply":
                    break
                sent += timedelta(days=rnd.randint(2, 6))
        if rnd.random() < 0.15:
            story_id += 1
            t["story"].append(
                dict(
                    id=story_id,
                    person_id=pid,
                    cohort_id=first,
                    text="t",
                    created_at=START + timedelta(days=rnd.randint(-5, 12)),
                )
            )
        if rnd.random() < 0.15:
            call_id += 1
            t["recruitercall"].append(
                dict(
                    id=call_id,
                    person_id=pid,
                    company=f"Co{call_id}",
                    answer=rnd.choice(("no", "yes", None)),
                    occurred_on=date(2026, 7, 1) + timedelta(days=rnd.randint(0, 100)),
                    created_at=START,
                )
            )
    tables = (
        Workspace,
        Person,
        Cohort,
        Dare,
        Membership,
        Acceptance,
        Contact,
        Outreach,
        Interview,
        Story,
        RecruiterCall,
    )
    with db.engine.begin() as conn:
        for table in tables:
            rows = t[table.__tablename__]  # type: ignore[attr-defined]
            if rows:
                conn.execute(insert(table), rows)
        if db.is_postgres:  # explicit ids: move the sequences past them
            for name in (
                "workspace",
                "person",
                "cohort",
                "dare",
                "membership",
                "contact",
                "outreach",
                "interview",
                "story",
                "recruitercall",
            ):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {name}))"
                )
    return teachers + people


def _outbox(db: Database) -> tuple[set[tuple[Any, ...]], dict[int, Any]]:
    """Every outbox row (as stored: text, so a row written in another format would show) and every
    person's next_check_at."""
    with db.engine.connect() as conn:
        rows = {
            tuple(r)
            for r in conn.execute(
                select(
                    Nudge.key,
                    Nudge.workspace_id,
                    Nudge.person_id,
                    Nudge.rule,
                    Nudge.subject,  # type: ignore[call-overload]
                    func.cast(Nudge.due_at, Nudge.key.type),
                    func.cast(Nudge.planned_at, Nudge.key.type),  # type: ignore[attr-defined]
                    Nudge.status,
                    Nudge.attempts,
                    Nudge.last_error,
                    Nudge.instead_of,
                )
            ).all()
        }
        marks = dict(conn.execute(select(Person.id, func.cast(Person.next_check_at, Nudge.key.type))).all())  # type: ignore[call-overload, attr-defined]
    return rows, marks


def _reset(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(delete(Nudge))
        conn.execute(update(Person).values(next_check_at=None))


def _sweeps(db: Database, *, one_by_one: bool) -> Iterator[tuple[set[tuple[Any, ...]], dict[int, Any]]]:
    for now in SWEEPS:
        with db.session() as s:
            if one_by_one:
                for pid, _ in planner.due_people(s, now, platform="console"):
                    planner.plan(s, now, DEFAULT_POLICY, platform="console", person_ids=[pid])
            else:
                planner.plan(s, now, DEFAULT_POLICY, platform="console")
        yield _outbox(db)


@pytest.fixture
def cohort(db_url: str) -> Iterator[tuple[Database, list[int]]]:
    db = Database(db_url)
    db.upgrade()
    ids = _populate(db)
    yield db, ids
    db.dispose()


@pytest.mark.parametrize("chunk", [planner.CHUNK, 16])
def test_a_sweep_plans_what_planning_person_by_person_would(
    cohort: tuple[Database, list[int]], monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    db, _ = cohort
    monkeypatch.setattr(planner, "CHUNK", chunk)
    one_by_one = list(_sweeps(db, one_by_one=True))
    _reset(db)
    batched = list(_sweeps(db, one_by_one=False))
    planned = [r for r in one_by_one[0][0]] + [key for r in one_by_one[0][0] for key in json.loads(r[-1] or "[]")]
    assert len(planned) > 150, "the cohort should give the rules plenty to plan"
    assert any(r[-1] for r in one_by_one[0][0]), "and some overdue nudges that go instead of others"
    assert {r[3] for r in one_by_one[-1][0]} >= {
        "dare-issued",
        "follow-up",
        "meeting-check",
        "digest",
        "instructor-digest",
        "thank-you",
        "gone-quiet",
    }
    for now, (want_rows, want_marks), (got_rows, got_marks) in zip(SWEEPS, one_by_one, batched, strict=True):
        assert got_rows == want_rows, f"sweep at {now}: {sorted(got_rows ^ want_rows)[:5]}"
        assert got_marks == want_marks, f"sweep at {now}"


def test_rows_are_stored_as_sqlalchemy_stores_them(cohort: tuple[Database, list[int]]) -> None:
    """The batch insert bypasses SQLAlchemy's parameter handling: SQL comparisons must still hold."""
    db, _ = cohort
    with db.session() as s:
        assert planner.plan(s, NOW, DEFAULT_POLICY, platform="console") > 0
        due = s.execute(select(Nudge.due_at)).scalars().all()
        cut = sorted(due)[len(due) // 2]
        assert s.execute(select(func.count()).where(Nudge.due_at <= cut)).scalar_one() == sum(  # type: ignore[arg-type]
            1 for d in due if d <= cut
        )
        marked = s.execute(select(Person.next_check_at).where(Person.next_check_at.is_not(None))).scalars().all()  # type: ignore[union-attr]
        assert marked and len(planner.due_people(s, NOW + timedelta(hours=1), platform="console")) == sum(
            1 for m in marked if m <= NOW + timedelta(hours=1)
        )


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo"])
def test_batched_states_are_the_states_delivery_reads(cohort: tuple[Database, list[int]], zone: str) -> None:
    """Value for value and type for type (compared by repr: a datetime in another zone, or 1 for True, would
    show), in whatever time zone the PostgreSQL session hands timestamps back."""
    db, ids = cohort
    for now in SWEEPS[::2]:
        with db.session() as s:
            if db.is_postgres:
                s.connection().exec_driver_sql(f"SET TIME ZONE '{zone}'")
            dares = planner._active_dares(s, now, DEFAULT_POLICY, platform="console")
            by_cohort = defaultdict(list)
            for info, _ in dares:
                by_cohort[info.cohort_id].append(info)
            batched, _persons = planner._sweep_states(
                s.connection(), sorted(ids), by_cohort, {info.id for info, _ in dares}
            )
            one = [
                st
                for pid in sorted(ids)
                for chunk, _ in planner.load_states(s, now, DEFAULT_POLICY, person_ids=[pid])
                for st in chunk
            ]
        assert len(batched) > 100

        # One person's states may come in another order (the sweep reads memberships in id order).
        def order(st: Any) -> tuple[int, str, int]:
            return st.person_id, type(st).__name__, st.dare.id

        assert sorted(batched, key=order) == sorted(one, key=order)

        def exact(states: list[Any]) -> str:  # contacts in id order: neither read orders them
            return repr(
                [
                    dataclasses.replace(st, contacts=dict(sorted(st.contacts.items())))
                    if isinstance(st, ParticipantState)
                    else st
                    for st in sorted(states, key=order)
                ]
            )

        assert exact(batched) == exact(one)


def test_a_batch_racing_another_planner_inserts_only_the_rows_it_adds(cohort: tuple[Database, list[int]]) -> None:
    """Two planners may write the same keys: the second batch keeps the first's rows and adds its own."""
    db, ids = cohort
    rows = [
        catalog.OutboxRow(f"{pid}:gone-quiet:1:{n}", 1, pid, "gone-quiet", "1", NOW + timedelta(hours=n), NOW)
        for pid in ids[4:10]
        for n in range(3)
    ]
    with db.session() as s:
        assert planner.insert_nudges(s, rows[:9]) == 9
        s.commit()
    with db.session() as s:
        assert planner.insert_nudges(s, rows) == len(rows) - 9
        s.commit()
        assert s.execute(select(func.count()).select_from(Nudge)).scalar_one() == len(rows)


def test_a_clock_shared_by_a_dare_and_zone_gives_each_rule_what_it_gives_alone(
    cohort: tuple[Database, list[int]],
) -> None:
    """The sweep works out each (dare, zone)'s Clock once and hands it to everyone on that pair; delivery
    runs one rule on its own at send time. Both must yield the same Dues, in the same order, at every
    sweep moment (the digest weeks, the deadline's warning and the final summary included)."""
    db, ids = cohort
    seen: set[str] = set()
    for now in SWEEPS:
        with db.session() as s:
            states = [
                st for chunk, _ in planner.load_states(s, now, DEFAULT_POLICY, platform="console") for st in chunk
            ]
        clocks = planner._Clocks(now, DEFAULT_POLICY)
        for st in states:
            clock = clocks.get((st.dare.id, st.tz)) or clocks.make(st.dare, st.tz)
            shared = catalog.dues(st, now, clock.p, clock)
            alone = [
                (rule.name, due)
                for rule in catalog.RULES
                if rule.when is not None and rule.fits(st)
                for due in rule.when(st, now, clock.p, None)
            ]
            assert shared == alone, (st.person_id, st.dare.id, now)
            seen |= {name for name, _ in shared}
    assert {"not-accepted", "deadline-near", "digest", "instructor-digest", "final-summary", "follow-up"} <= seen
