"""`/dare log` written by hand on the bare driver: the floor bench.campus holds the engine's log against.

What a programmer writing this one command for sqlite3 or psycopg, with no framework, would run: the same
eight statements the engine sends, as literal SQL below (checked against what the engine sent, at every
run, so the two cannot drift apart), their parameters worked out in plain Python (the person's local day,
the stored text of a moment on SQLite, the double-submission key) and their rows read as the driver
returns them, then one commit. It checks what the engine checks (the contact exists, no interview with
them that day, a double submission) and answers what the engine's reply says (the interview's number,
whether a goal was met), but builds no reply and parses no text: those are the engine's own overhead.

bench.campus also replays the engine's recorded statements with their recorded parameters (no Python at
all between them): the lower bound on any implementation, reported beside this one.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WINDOW = timedelta(seconds=10)  # bot.dedupe.WINDOW: a repeat within it is a double submission


class Refused(Exception):
    """The log was refused (no such contact, already logged that day, a double submission)."""


@dataclass(frozen=True)
class Logged:
    number: int  # this person's interviews, this one included
    goal_met: bool  # a running dare's goal is met by it


def _one_line(sql: str) -> str:
    return " ".join(sql.split())


_ACTOR_COLUMNS = (
    "workspace.id, workspace.platform, workspace.external_id, workspace.name, workspace.created_at, "
    "workspace.closed_at, workspace.uninstalled_at, workspace.token_rejected_at, workspace.token_error, "
    "person.id AS id_1, person.workspace_id, person.external_id AS external_id_1, person.display_name, "
    "person.alias, person.tz, person.quiet_start, person.quiet_end, person.nudges_enabled, person.snoozed_until, "
    "person.board_mode, person.aim, person.unreachable_at, person.unreachable_reason, person.last_active_at, "
    "person.forget_requested_at, person.next_check_at, person.created_at AS created_at_1"
)
_CONTACT_COLUMNS = (
    "contact.id, contact.workspace_id, contact.person_id, contact.name, contact.name_key, "
    "contact.title, contact.org, contact.kind, contact.can_decide, contact.created_at"
)

SQLITE = tuple(
    _one_line(s)
    for s in (
        f"SELECT {_ACTOR_COLUMNS}, (SELECT cohort.tz FROM cohort JOIN membership ON membership.cohort_id = cohort.id "
        "WHERE membership.person_id = person.id ORDER BY membership.joined_at, membership.id LIMIT ? OFFSET "
        "?) AS anon_1 "
        "FROM workspace JOIN person ON person.workspace_id = workspace.id "
        "WHERE workspace.platform = ? AND workspace.external_id = ? AND person.external_id = ?",
        f"SELECT {_CONTACT_COLUMNS} FROM contact WHERE contact.person_id = ? AND contact.name_key = ?",
        "SELECT interview.contact_id, interview.held_on FROM interview WHERE interview.person_id = ?",
        "INSERT INTO interview (person_id, contact_id, held_on, minutes, asked, learned, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        "UPDATE outreach SET status=?, replied_on=?, meeting_on=? WHERE outreach.id = (SELECT outreach.id "
        "FROM outreach "
        "WHERE outreach.contact_id = ? ORDER BY outreach.attempt_no DESC LIMIT ? OFFSET ?) AND outreach.status = ?",
        "SELECT cohort.name, cohort.tz, dare.starts_at, dare.goal, acceptance.goal AS goal_1 FROM cohort "
        "JOIN membership ON membership.cohort_id = cohort.id JOIN dare ON dare.id = (SELECT dare_1.id FROM "
        "dare AS dare_1 "
        "WHERE dare_1.cohort_id = cohort.id ORDER BY dare_1.created_at DESC, dare_1.id DESC LIMIT ? OFFSET ?) "
        "LEFT OUTER JOIN acceptance ON acceptance.dare_id = dare.id AND acceptance.person_id = ? "
        "WHERE membership.person_id = ? AND cohort.workspace_id = ? AND cohort.closed_at IS NULL "
        "AND membership.is_participant IS 1 ORDER BY membership.joined_at",
        'INSERT INTO processedevent ("key", created_at) VALUES (?, ?) ON CONFLICT ("key") DO UPDATE '
        'SET created_at = excluded.created_at WHERE processedevent.created_at < ? RETURNING "key"',
        "UPDATE person SET last_active_at=?, next_check_at=? WHERE person.id = ?",
    )
)

POSTGRES = tuple(
    _one_line(s)
    for s in (
        f"SELECT {_ACTOR_COLUMNS}, (SELECT cohort.tz FROM cohort JOIN membership ON membership.cohort_id = cohort.id "
        "WHERE membership.person_id = person.id ORDER BY membership.joined_at, membership.id "
        "LIMIT %(param_1)s::INTEGER) AS anon_1 FROM workspace JOIN person ON person.workspace_id = workspace.id "
        "WHERE workspace.platform = %(platform)s::VARCHAR AND workspace.external_id = %(workspace)s::VARCHAR "
        "AND person.external_id = %(user)s::VARCHAR",
        f"SELECT {_CONTACT_COLUMNS} FROM contact "
        "WHERE contact.person_id = %(person)s::INTEGER AND contact.name_key = %(key)s::VARCHAR",
        "SELECT interview.contact_id, interview.held_on FROM interview WHERE interview.person_id = %(person)s::INTEGER",
        "INSERT INTO interview (person_id, contact_id, held_on, minutes, asked, learned, created_at) "
        "VALUES (%(person_id)s::INTEGER, %(contact_id)s::INTEGER, %(held_on)s::DATE, %(minutes)s::INTEGER, "
        "%(asked)s::VARCHAR, %(learned)s::VARCHAR, %(created_at)s::TIMESTAMP WITH TIME ZONE) RETURNING interview.id",
        "UPDATE outreach SET status=%(status)s::VARCHAR, replied_on=%(replied)s::DATE, meeting_on=%(meeting)s::DATE "
        "WHERE outreach.id = (SELECT outreach.id FROM outreach WHERE outreach.contact_id = %(contact)s::INTEGER "
        "ORDER BY outreach.attempt_no DESC LIMIT %(param_1)s::INTEGER) AND outreach.status = %(status_1)s::VARCHAR",
        "SELECT cohort.name, cohort.tz, dare.starts_at, dare.goal, acceptance.goal AS goal_1 FROM cohort "
        "JOIN membership ON membership.cohort_id = cohort.id JOIN dare ON dare.id = (SELECT dare_1.id FROM "
        "dare AS dare_1 "
        "WHERE dare_1.cohort_id = cohort.id ORDER BY dare_1.created_at DESC, dare_1.id DESC "
        "LIMIT %(param_1)s::INTEGER) LEFT OUTER JOIN acceptance ON acceptance.dare_id = dare.id "
        "AND acceptance.person_id = %(person)s::INTEGER WHERE membership.person_id = %(person)s::INTEGER "
        "AND cohort.workspace_id = %(workspace)s::INTEGER AND cohort.closed_at IS NULL "
        "AND membership.is_participant IS true ORDER BY membership.joined_at",
        "INSERT INTO processedevent (key, created_at) VALUES (%(new_key)s::VARCHAR, %(at)s::TIMESTAMP WITH TIME ZONE) "
        "ON CONFLICT (key) DO UPDATE SET created_at = excluded.created_at "
        "WHERE processedevent.created_at < %(cutoff)s::TIMESTAMP WITH TIME ZONE RETURNING processedevent.key",
        "UPDATE person SET last_active_at=%(new_last_active_at)s::TIMESTAMP WITH TIME ZONE, "
        "next_check_at=%(new_next_check_at)s::TIMESTAMP WITH TIME ZONE WHERE person.id = %(person)s::INTEGER",
    )
)


def differences(sent: list[str], mine: tuple[str, ...]) -> list[str]:
    """Where the statements the engine sent differ from the ones written here (whitespace aside)."""
    got = [_one_line(s) for s in sent]
    out = [f"the engine sent {len(got)} statements, {len(mine)} are written here"] if len(got) != len(mine) else []
    out += [
        f"statement {i + 1}:\n  engine: {a}\n  here:   {b}"
        for i, (a, b) in enumerate(zip(got, mine, strict=False))
        if a != b
    ]
    return out


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _key(ws_id: int, person_id: int, name: str, minutes: int, day: str) -> str:
    text = f"{ws_id}\x1f{person_id}\x1flog\x1f{name}\x1f{minutes}\x1f{day}"
    return "dedupe:" + hashlib.sha256(text.encode()).hexdigest()[:48]


_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a datetime in SQLite (text, UTC here)


def _goal_met(running: list[tuple[Any, int, int | None]], held: list[Any]) -> bool:
    """Whether this interview meets a running dare's goal: (start day, dare's goal, own goal) per dare, and
    the days of the person's earlier interviews (both as the driver gives them: text or date)."""
    return any(1 + sum(1 for day in held if day >= start) == (own or goal) for start, goal, own in running)


@contextmanager
def _transaction(conn: Any) -> Iterator[Any]:
    """A cursor, and the transaction committed when the block ends, rolled back if it raises."""
    cur = conn.cursor()
    try:
        yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        cur.close()


def log_sqlite(
    conn: sqlite3.Connection, platform: str, workspace: str, user: str, name: str, minutes: int, now: datetime
) -> Logged:
    """The log on sqlite3 (the driver's own transaction handling: BEGIN before the first write)."""
    with _transaction(conn) as cur:
        actor = cur.execute(SQLITE[0], (1, 0, platform, workspace, user)).fetchone()
        if actor is None:
            raise Refused("unknown person")
        ws_id, person_id, zone = actor[0], actor[9], actor[14] or actor[27] or "UTC"
        day = now.astimezone(ZoneInfo(zone)).date().isoformat()
        contact = cur.execute(SQLITE[1], (person_id, _name_key(name))).fetchone()
        if contact is None:
            raise Refused("no such contact")
        contact_id = contact[0]
        mine = cur.execute(SQLITE[2], (person_id,)).fetchall()
        if (contact_id, day) in mine:
            raise Refused("already logged that day")
        stamp = now.astimezone(UTC).strftime(_STAMP)
        cur.execute(SQLITE[3], (person_id, contact_id, day, minutes, "", None, stamp)).fetchone()
        cur.execute(SQLITE[4], ("meeting", day, day, contact_id, 1, 0, "no-reply"))
        running = [
            (
                datetime.fromisoformat(starts_at)
                .replace(tzinfo=UTC)
                .astimezone(ZoneInfo(cohort_tz or zone))
                .date()
                .isoformat(),
                dare_goal,
                own_goal,
            )
            for _cohort, cohort_tz, starts_at, dare_goal, own_goal in cur.execute(
                SQLITE[5], (1, 0, person_id, person_id, ws_id)
            ).fetchall()
        ]
        met = _goal_met(running, [held for _, held in mine])
        cutoff = (now - WINDOW).astimezone(UTC).strftime(_STAMP)
        if cur.execute(SQLITE[6], (_key(ws_id, person_id, name, minutes, day), stamp, cutoff)).fetchone() is None:
            raise Refused("a double submission")
        cur.execute(SQLITE[7], (stamp, stamp, person_id))
    return Logged(len(mine) + 1, met)


def log_postgres(conn: Any, platform: str, workspace: str, user: str, name: str, minutes: int, now: datetime) -> Logged:
    """The log on psycopg (its own transaction: BEGIN before the first statement)."""
    with _transaction(conn) as cur:
        cur.execute(POSTGRES[0], {"param_1": 1, "platform": platform, "workspace": workspace, "user": user})
        actor = cur.fetchone()
        if actor is None:
            raise Refused("unknown person")
        ws_id, person_id, zone = actor[0], actor[9], actor[14] or actor[27] or "UTC"
        day: date = now.astimezone(ZoneInfo(zone)).date()
        cur.execute(POSTGRES[1], {"person": person_id, "key": _name_key(name)})
        contact = cur.fetchone()
        if contact is None:
            raise Refused("no such contact")
        contact_id = contact[0]
        cur.execute(POSTGRES[2], {"person": person_id})
        mine = cur.fetchall()
        if (contact_id, day) in mine:
            raise Refused("already logged that day")
        cur.execute(
            POSTGRES[3],
            {
                "person_id": person_id,
                "contact_id": contact_id,
                "held_on": day,
                "minutes": minutes,
                "asked": "",
                "learned": None,
                "created_at": now,
            },
        )
        cur.fetchone()
        cur.execute(
            POSTGRES[4],
            {
                "status": "meeting",
                "replied": day,
                "meeting": day,
                "contact": contact_id,
                "param_1": 1,
                "status_1": "no-reply",
            },
        )
        cur.execute(POSTGRES[5], {"param_1": 1, "person": person_id, "workspace": ws_id})
        running = [
            (starts_at.astimezone(ZoneInfo(cohort_tz or zone)).date(), dare_goal, own_goal)
            for _cohort, cohort_tz, starts_at, dare_goal, own_goal in cur.fetchall()
        ]
        met = _goal_met(running, [held for _, held in mine])
        cur.execute(
            POSTGRES[6],
            {"new_key": _key(ws_id, person_id, name, minutes, day.isoformat()), "at": now, "cutoff": now - WINDOW},
        )
        if cur.fetchone() is None:
            raise Refused("a double submission")
        cur.execute(POSTGRES[7], {"new_last_active_at": now, "new_next_check_at": now, "person": person_id})
    return Logged(len(mine) + 1, met)
