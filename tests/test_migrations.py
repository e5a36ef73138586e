"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from storage.db import Database


def test_upgrade_matches_the_models_and_is_idempotent(db_url: str) -> None:
    db = Database(db_url)
    db.upgrade()
    db.upgrade()  # every start runs it again: nothing to do the second time
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": conn.dialect.name == "sqlite"}
        )
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == []
    tables = set(inspect(db.engine).get_table_names())
    assert {"workspace", "person", "cohort", "nudge", "alembic_version"} <= tables
    db.dispose()


def test_db_upgrade_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/cli.sqlite3"
    env = {**os.environ, "DAREBOT_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    assert "nudge" in inspect(Database(url).engine).get_table_names()


def test_0012_drops_home_channel_while_rows_point_at_the_cohort(db_url: str) -> None:
    """A rebuilt `cohort` table would fail its foreign keys here: the column is dropped in place."""
    from alembic import command

    db = Database(db_url)
    cfg = db.alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0011_coach")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO workspace (platform, external_id, name, created_at) "
                "VALUES ('slack', 'T1', 't', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO person (workspace_id, external_id, display_name, alias, quiet_start, quiet_end, "
                "nudges_enabled, board_mode, created_at) "
                "VALUES (1, 'U1', 'u', 'u', '21:00', '08:00', true, 'named', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO cohort (workspace_id, name, name_key, tz, home_channel, goal, paused, "
                "retention_days, has_anonymous_totals, created_by, created_at) "
                "VALUES (1, 'C', 'c', 'UTC', 'C1', 3, false, 180, false, 1, '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO membership (cohort_id, person_id, is_instructor, is_participant, joined_at) "
                "VALUES (1, 1, true, false, '2026-01-01')"
            )
        )
    db.upgrade()
    assert "home_channel" not in {c["name"] for c in inspect(db.engine).get_columns("cohort")}
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM cohort")).all() == [("C",)]
        assert conn.execute(text("SELECT count(*) FROM membership")).scalar() == 1
    db.dispose()


def _at(db: Database, revision: str, step: Callable[..., None]) -> None:
    """Run an Alembic command (upgrade, downgrade) to `revision`, as storage.db runs migrations."""
    cfg = db.alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        step(cfg, revision)


# Columns today's models have and the revisions these tests start from do not. The busy class runs on
# today's engine, which reads and writes them: they are added for it and dropped again before the
# migration under test, and the comparisons leave them out.
_LATER = {"nudge": {"instead_of": "TEXT"}}


def _every_row(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    from sqlalchemy import select

    out = {}
    with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in _LATER.get(table.name, {})]
            rows = conn.execute(select(*columns).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
    return out


def _busy_class(db: Database) -> None:
    """A class with every kind of row, nudges planned and sent, on a database at 0012."""
    from datetime import UTC, datetime

    from tests.fakes.room import Room

    r = Room(db, datetime(2026, 9, 7, 14, 0, tzinfo=UTC))
    for line in (
        "teach: cohort create Spring --deadline 2026-11-30 --tz UTC",
        "ann: cohort join Spring",
        "bob: cohort join Spring",
        'teach: start Spring --reward "a coffee"',
        "ann: accept",
        'ann: contact "Zed Q" --org "Acme" --decides',
        'ann: outreach "Zed Q" --on yesterday',
        'ann: log "Zed Q" --outcome advice --asked v1 --learned "plenty"',
        "ann: story It went well",
        'ann: recruiter "Hire Co" --role Dev --answer no --connected',
        "teach: cohort quiet Spring --from 2026-10-05 --to 2026-10-09",
        "teach: reward @ann",
    ):
        who, said = line.split(": ", 1)
        r.say(who, said)
    r.wait(days=9)  # nudges sent, and some planned ahead still pending


def _busy_outbox_at(db: Database, revision: str) -> dict[str, Any]:
    """Migrate to `revision`, run a busy class on it, and return every row (the outbox holds sent and
    pending nudges)."""
    from alembic import command

    _at(db, revision, command.upgrade)
    with db.engine.begin() as conn:
        for table, columns in _LATER.items():
            for name, kind in columns.items():
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))
    _busy_class(db)
    before = _every_row(db)
    with db.engine.begin() as conn:
        for table, columns in _LATER.items():
            for name in columns:
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {name}"))
    status = list(SQLModel.metadata.tables["nudge"].c.keys()).index("status")
    statuses = {r[status] for r in before["nudge"]}
    assert {"sent", "pending"} <= statuses, statuses
    return before


def test_0013_rebuilds_the_outbox_without_its_foreign_keys_and_keeps_every_row(db_url: str) -> None:
    """On SQLite the table is rebuilt while foreign keys are enforced (nothing points at `nudge`)."""
    from alembic import command

    db = Database(db_url)
    before = _busy_outbox_at(db, "0012_tidy")
    assert all(
        before[t]
        for t in (
            "person",
            "membership",
            "contact",
            "outreach",
            "interview",
            "outcome",
            "story",
            "recruitercall",
            "quietweek",
            "acceptance",
            "nudge",
        )
    )
    assert {fk["referred_table"] for fk in inspect(db.engine).get_foreign_keys("nudge")} == {"person", "workspace"}

    db.upgrade()
    assert _every_row(db) == before
    assert inspect(db.engine).get_foreign_keys("nudge") == []
    assert "ix_nudge_workspace_id" not in {ix["name"] for ix in inspect(db.engine).get_indexes("nudge")}
    with db.engine.begin() as conn:  # the row a sweep racing an erasure can now write
        conn.execute(
            text(
                "INSERT INTO nudge (key, workspace_id, person_id, rule, subject, due_at, planned_at, "
                "status, attempts) VALUES ('999:not-accepted:1:1', 1, 999, 'not-accepted', '1', "
                "'2026-09-20 10:00:00', '2026-09-20 09:00:00', 'pending', 0)"
            )
        )

    # Back to 0012: the keys return, the row they would refuse goes first, everything else stays.
    _at(db, "0012_tidy", command.downgrade)
    assert _every_row(db) == before
    assert {fk["referred_table"] for fk in inspect(db.engine).get_foreign_keys("nudge")} == {"person", "workspace"}
    assert "ix_nudge_workspace_id" in {ix["name"] for ix in inspect(db.engine).get_indexes("nudge")}
    db.upgrade()  # and up again, from the keys the downgrade named
    assert _every_row(db) == before and inspect(db.engine).get_foreign_keys("nudge") == []
    db.dispose()


def _nudge_indexes(db: Database) -> dict[str, dict[str, Any]]:
    return {ix["name"]: ix for ix in inspect(db.engine).get_indexes("nudge")}


def test_0015_swaps_the_due_index_for_partial_ones_and_back(db_url: str) -> None:
    """0014 -> 0015 -> 0014 -> 0015 on an outbox holding pending, sent and dropped rows: every row stays."""
    from alembic import command

    db = Database(db_url)
    before = _busy_outbox_at(db, "0014_lean")
    where = "sqlite_where" if db.is_sqlite else "postgresql_where"

    def partial() -> None:
        found = _nudge_indexes(db)
        assert "ix_nudge_due" not in found
        assert found["ix_nudge_pending"]["column_names"] == ["due_at"]
        assert "'pending'" in str(found["ix_nudge_pending"]["dialect_options"][where])
        assert found["ix_nudge_claimed"]["column_names"] == ["claimed_until"]
        assert "'claimed'" in str(found["ix_nudge_claimed"]["dialect_options"][where])

    assert _nudge_indexes(db)["ix_nudge_due"]["column_names"] == ["status", "due_at"]
    db.upgrade()
    partial()
    assert _every_row(db) == before
    _at(db, "0014_lean", command.downgrade)
    found = _nudge_indexes(db)
    assert found["ix_nudge_due"]["column_names"] == ["status", "due_at"]
    assert not {"ix_nudge_pending", "ix_nudge_claimed"} & set(found)
    assert _every_row(db) == before
    db.upgrade()
    partial()
    assert _every_row(db) == before
    db.dispose()
