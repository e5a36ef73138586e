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
