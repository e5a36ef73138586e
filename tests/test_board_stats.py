"""The board's lighter statement (board_stats) gives the same counts, score and order as participant_stats."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from bot.stats import board_stats, participant_stats, ranked
from storage.db import Database
from storage.models import (
    Cohort,
    Contact,
    Dare,
    ForgottenActivity,
    Interview,
    Membership,
    Outreach,
    Person,
    RecruiterCall,
    Story,
    Workspace,
)

START = datetime(2026, 9, 1, 14, 0, tzinfo=UTC)


def _populate(db: Database, seed: int) -> None:
    """Two cohorts with every kind of activity, spread over the weeks around the windows tested."""
    rnd = random.Random(seed)
    day = date(2026, 9, 1)
    with db.engine.begin() as conn:
        conn.execute(insert(Workspace), [dict(id=1, platform="console", external_id="w", name="w", created_at=START)])
        people = [
            dict(
                id=i,
                workspace_id=1,
                external_id=f"U{i}",
                display_name=f"P{i}",
                alias=f"A{i}",
                board_mode=rnd.choice(("named", "alias", "hidden")),
                created_at=START,
            )
            for i in range(1, 41)
        ]
        conn.execute(insert(Person), people)
        conn.execute(
            insert(Cohort),
            [
                dict(
                    id=c,
                    workspace_id=1,
                    name=f"C{c}",
                    name_key=f"c{c}",
                    tz="America/Chicago",
                    goal=3,
                    created_by=1,
                    created_at=START,
                )
                for c in (1, 2)
            ],
        )
        conn.execute(
            insert(Dare),
            [dict(id=c, cohort_id=c, goal=3, starts_at=START, created_at=START, issued_by=1) for c in (1, 2)],
        )
        members = [dict(cohort_id=1, person_id=1, is_instructor=True, is_participant=False, joined_at=START)]
        for pid in range(2, 41):
            cohort = 1 if pid < 30 else 2
            removed = START + timedelta(days=3) if pid % 11 == 0 else None
            members.append(
                dict(
                    cohort_id=cohort,
                    person_id=pid,
                    is_instructor=False,
                    is_participant=pid % 13 != 0,
                    removed_at=removed,
                    joined_at=START + timedelta(hours=rnd.randint(0, 3)),
                )
            )
        conn.execute(insert(Membership), members)
        contacts, outreach, interviews, stories, calls, kept = [], [], [], [], [], []
        cid = oid = 0
        for pid in range(2, 41):
            for k in range(rnd.randint(0, 4)):
                cid += 1
                contacts.append(
                    dict(
                        id=cid,
                        workspace_id=1,
                        person_id=pid,
                        name=f"K{k}",
                        name_key=f"k{k}",
                        can_decide=rnd.random() < 0.4,
                        created_at=START + timedelta(days=k),
                    )
                )
                sent = day + timedelta(days=rnd.randint(0, 40))
                for attempt in range(1, rnd.randint(1, 6) + 1):
                    oid += 1
                    outreach.append(
                        dict(
                            id=oid,
                            contact_id=cid,
                            person_id=pid,
                            attempt_no=attempt,
                            sent_on=sent + timedelta(days=3 * attempt),
                            status=rnd.choice(("no-reply", "replied", "meeting")),
                            created_at=START + timedelta(days=rnd.randint(0, 50)),
                        )
                    )
                if rnd.random() < 0.5:
                    interviews.append(
                        dict(
                            person_id=pid,
                            contact_id=cid,
                            held_on=sent + timedelta(days=20),
                            created_at=START + timedelta(days=rnd.randint(0, 50)),
                        )
                    )
            for _ in range(rnd.randint(0, 2)):
                stories.append(
                    dict(
                        person_id=pid,
                        cohort_id=rnd.choice((1, 2, None)),
                        text="t",
                        consent="cohort",
                        created_at=START + timedelta(days=rnd.randint(0, 50)),
                    )
                )
            if rnd.random() < 0.3:
                calls.append(
                    dict(
                        person_id=pid,
                        company="Co",
                        asked=rnd.choice(("", "v1")),
                        answer=rnd.choice((None, "yes", "no", "maybe")),
                        connected=rnd.random() < 0.5,
                        referred=rnd.random() < 0.5,
                        occurred_on=day + timedelta(days=rnd.randint(0, 40)),
                        created_at=START + timedelta(days=rnd.randint(0, 50)),
                    )
                )
            if rnd.random() < 0.3:
                kept.append(
                    dict(
                        person_id=pid,
                        counted_from=day + timedelta(days=rnd.randint(0, 40)),
                        attempts=3,
                        first_attempts=1,
                        follow_ups=1,
                        later_attempts=1,
                        reached=1,
                        interviews=rnd.randint(0, 1),
                        decider_interviews=rnd.randint(0, 1),
                        created_at=START + timedelta(days=rnd.randint(0, 50)),
                    )
                )
        for table, rows in (
            (Contact, contacts),
            (Outreach, outreach),
            (Interview, interviews),
            (Story, stories),
            (RecruiterCall, calls),
            (ForgottenActivity, kept),
        ):
            if rows:
                conn.execute(insert(table), rows)


@pytest.mark.parametrize("seed", [1, 2])
def test_board_stats_match_participant_stats(db_url: str, seed: int) -> None:
    db = Database(db_url)
    db.upgrade()
    _populate(db, seed)
    windows = [
        (None, None),
        (date(2026, 9, 20), None),
        (None, START + timedelta(days=25)),
        (date(2026, 9, 10), START + timedelta(days=30)),
    ]
    with db.session() as s:
        for cohort_id in (1, 2):
            cohort = s.get(Cohort, cohort_id)
            assert cohort is not None
            dare = s.get(Dare, cohort_id)
            for since, as_of in windows:
                full = participant_stats(s, cohort, since=since, dare=dare, detail=False, as_of=as_of)
                lean = board_stats(s, cohort, since=since, as_of=as_of)
                expected = [
                    (
                        st.person,
                        st.interviews,
                        st.decider_interviews,
                        st.attempts,
                        st.first_attempts,
                        st.follow_ups,
                        st.later_attempts,
                        st.stories,
                        st.recruiter_steps,
                        st.score,
                    )
                    for st in full
                ]
                assert [tuple(st) for st in lean] == expected, (cohort_id, since, as_of)
                assert [(r, st.person.id) for r, st in ranked(lean)] == [(r, st.person.id) for r, st in ranked(full)]
                assert any(st.score for st in lean)
    db.dispose()


def test_my_place_note_finds_me_not_a_name_ending_in_you(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.identity import Actor
    from tests.fakes.chat import Chat

    chat = Chat.open(f"sqlite:///{tmp_path}/you.sqlite3")
    chat.ok("prof", "/dare cohort create Big")
    chat.engine.handle_text(chat.ws, Actor("sam", "Sam (you)"), "/dare cohort join Big")
    for i in range(30):
        chat.ok(f"s{i:02d}", "/dare cohort join Big")
    chat.ok("prof", "/dare start")
    chat.engine.handle_text(chat.ws, Actor("sam", "Sam (you)"), '/dare contact "Ada"')
    chat.engine.handle_text(chat.ws, Actor("sam", "Sam (you)"), '/dare outreach "Ada"')  # Sam leads, on page 1
    text = chat.ok("s29", "/dare board")
    assert "Sam (you)  1" in text and "You are #2 with 0 points" in text
    assert "You are" not in chat.say("s29", "/dare board --post").plain_text()
