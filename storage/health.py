"""Liveness of the storage: a real query, and on SQLite that the file opened is still the one at its path."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlmodel import col

from storage.db import Database
from storage.models import Workspace


def check_database(db: Database) -> tuple[bool, str]:
    """(healthy, a short detail). Never raises."""
    problem = db.file_problem()
    if problem is not None:
        return False, problem
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM workspace")).scalar_one()
    except Exception as err:  # any failure is the answer, not an exception for the health endpoint
        return False, f"query failed: {err.__class__.__name__}"
    problem = db.file_problem()  # the query may have been the first connection
    if problem is not None:
        return False, problem
    return True, "ok"


def held_workspaces(db: Database) -> list[dict[str, str]]:
    """Workspaces whose token the platform rejected (their DMs are held), for health details."""
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(
                select(
                    col(Workspace.platform),
                    col(Workspace.external_id),
                    col(Workspace.token_error),
                    col(Workspace.token_rejected_at),
                ).where(col(Workspace.token_rejected_at).is_not(None))
            ).all()
    except Exception:
        return []
    return [
        {
            "platform": r.platform,
            "workspace": r.external_id,
            "error": r.token_error or "",
            "since": r.token_rejected_at.isoformat() if r.token_rejected_at else "",
        }
        for r in rows
    ]


def release_held(db: Database, platform: str, external_id: str) -> bool:
    """A new token works for this workspace: its held DMs go out again. True when it was held."""
    from sqlalchemy import update

    with db.session() as s:
        res = s.exec(
            update(Workspace)
            .where(
                col(Workspace.platform) == platform,
                col(Workspace.external_id) == external_id,
                col(Workspace.token_rejected_at).is_not(None),
            )
            .values(token_rejected_at=None, token_error=None)
        )
        return bool(res.rowcount)
