"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from storage.db import Database


def test_upgrade_matches_the_models_and_is_idempotent(db_url: str) -> None:
    db = Database(db_url)
    db.upgrade()
    db.upgrade()  # every start runs it again: nothing to do the second time
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "render_as_batch": conn.dialect.name == "sqlite"})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == []
    tables = set(inspect(db.engine).get_table_names())
    assert {"workspace", "person", "cohort", "nudge", "alembic_version"} <= tables
    db.dispose()


def test_db_upgrade_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/cli.sqlite3"
    env = {**os.environ, "DAREBOT_DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "db", "upgrade"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    assert "nudge" in inspect(Database(url).engine).get_table_names()


def test_0012_drops_home_channel_while_rows_point_at_the_cohort(db_url: str) -> None:
    """A rebuilt `cohort` table would fail its foreign keys here: the column is dropped in place."""
    from alembic import command
    from sqlalchemy import text

    db = Database(db_url)
    cfg = db.alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0011_coach")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO workspace (platform, external_id, name, created_at) "
                          "VALUES ('slack', 'T1', 't', '2026-01-01')"))
        conn.execute(text("INSERT INTO person (workspace_id, external_id, display_name, alias, quiet_start, quiet_end, "
                          "nudges_enabled, board_mode, created_at) "
                          "VALUES (1, 'U1', 'u', 'u', '21:00', '08:00', true, 'named', '2026-01-01')"))
        conn.execute(text("INSERT INTO cohort (workspace_id, name, name_key, tz, home_channel, goal, paused, "
                          "retention_days, has_anonymous_totals, created_by, created_at) "
                          "VALUES (1, 'C', 'c', 'UTC', 'C1', 3, false, 180, false, 1, '2026-01-01')"))
        conn.execute(text("INSERT INTO membership (cohort_id, person_id, is_instructor, is_participant, joined_at) "
                          "VALUES (1, 1, true, false, '2026-01-01')"))
    db.upgrade()
    assert "home_channel" not in {c["name"] for c in inspect(db.engine).get_columns("cohort")}
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM cohort")).all() == [("C",)]
        assert conn.execute(text("SELECT count(*) FROM membership")).scalar() == 1
    db.dispose()
