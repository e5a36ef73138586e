"""Which rows belong to a person or a workspace, found by walking the schema's foreign keys.

A column's edges are its foreign keys plus the reference it declares instead of one (the outbox's
`nudge.person_id`, see storage.models.refers_to); every walk here follows both alike. A table belongs
to a person when it has a `person_id` column pointing at `person.id`, or an edge to a table that
belongs to one (an outcome through its interview, say). Any other column that points at a person is
a reference, listed in REFERENCES with what erasure does to it; every table that belongs to nobody
is listed in NOT_PERSONAL with the reason. tests/test_privacy.py fails when a table or a person
column is in neither, so a new table cannot be forgotten by export or erasure.

This module knows tables only; the rules (who may ask, what the totals keep) live in bot.privacy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Column, ColumnElement, CursorResult, Result, Table, delete, exists, false, or_, select, update
from sqlalchemy.schema import sort_tables
from sqlmodel import Session, SQLModel, col

import storage.models  # noqa: F401  (every table on the metadata)
import storage.slack_store  # noqa: F401
from storage.models import REFERS_TO

PERSON = "person"
WORKSPACE = "workspace"
OWNER_COLUMN = "person_id"

# Columns that point at a person without the row being theirs. Erasure sets them to NULL, or, where
# the column cannot be empty, to the workspace's tombstone: a person row named "(deleted)" that
# stands for everyone erased and holds nothing else.
REFERENCES: dict[tuple[str, str], str] = {
    ("cohort", "created_by"): "the cohort belongs to the class; its creator is forgotten, the cohort stays",
    ("dare", "issued_by"): "the dare belongs to the class; who issued it is forgotten",
    ("story", "granted_by"): "someone else's story; who granted its reward is forgotten",
}
TOMBSTONE_COLUMNS = frozenset({("cohort", "created_by"), ("dare", "issued_by")})
TOMBSTONE_ID = "~deleted"

# Tables with no path to a person, and why.
NOT_PERSONAL: dict[str, str] = {
    "workspace": "the tenant (a Slack team or Discord guild): its id and name; deleted 30 days after uninstall",
    "cohort": "a class, shared by its members; kept with anonymous totals after retention",
    "dare": "the challenge issued to a class: goal, dates, reward",
    "quietweek": "a class's calendar (exam weeks)",
    "anonymous_totals": "counts per cohort with no person and no time: what erased people contributed",
    "processedevent": "idempotency keys of platform deliveries; keys naming a person's platform id are "
    "deleted with them (see delete_keys_naming)",
    "lease": "which worker runs the scheduler",
    "appsecret": "the random key that signs dashboard links; names nobody",
    "ratelimit": "a send budget per workspace (a token count and a time); deleted with the workspace",
    "slack_installation": "the app's encrypted tokens for a workspace; the installing user's id and token "
    "are cleared when that person is erased",
    "slack_oauth_state": "a random one-time value that lives ten minutes",
}


def _rows(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched."""
    return int(cast("CursorResult[Any]", result).rowcount)


def tables() -> dict[str, Table]:
    return dict(SQLModel.metadata.tables)


def edges(column: Column[Any]) -> Iterator[tuple[str, str]]:
    """(table, column) pairs the column points at: its foreign keys, then the reference it declares
    instead of one (Column.info[REFERS_TO], "table.column")."""
    for fk in column.foreign_keys:
        yield fk.column.table.name, fk.column.name
    declared = column.info.get(REFERS_TO)
    if declared is not None:
        parent, _, parent_col = str(declared).partition(".")
        if parent not in tables() or parent_col not in tables()[parent].c:
            raise ValueError(f"{column.table.name}.{column.name} refers to {declared!r}, which is no column")
        yield parent, parent_col


def sorted_tables() -> list[Table]:
    """Every table, parents before children, counting declared references as foreign keys (so a
    delete in reverse order removes an outbox row before the workspace its condition reads)."""
    extra = [
        (tables()[parent], table)
        for table in tables().values()
        for column in table.columns
        if REFERS_TO in column.info
        for parent, _ in edges(column)
        if parent != table.name
    ]
    return sort_tables([t for _, t in sorted(tables().items())], extra_dependencies=extra)


def _person_fks(table: Table) -> list[str]:
    return [column.name for column in table.columns for parent, _ in edges(column) if parent == PERSON]


def owner_paths() -> dict[str, list[tuple[str, str, str]]]:
    """For each table that belongs to a person: the edges (column, parent table, parent column) that
    lead towards the person. `person` itself maps to []."""
    all_tables = tables()
    paths: dict[str, list[tuple[str, str, str]]] = {PERSON: []}
    changed = True
    while changed:
        changed = False
        for name, table in all_tables.items():
            if name in paths:
                continue
            found = []
            for column in table.columns:
                for parent, parent_col in edges(column):
                    if parent == PERSON and column.name != OWNER_COLUMN:
                        continue  # a reference, not ownership
                    if parent in paths:
                        found.append((column.name, parent, parent_col))
            if found:
                paths[name] = found
                changed = True
    return paths


def unclassified() -> list[str]:
    """Tables and person columns that are neither owned, referenced, nor declared not personal."""
    owned = owner_paths()
    problems = []
    for name, table in tables().items():
        if name in owned and name in NOT_PERSONAL:
            problems.append(f"{name}: both personal and declared not personal")
        elif name not in owned and name not in NOT_PERSONAL:
            problems.append(f"{name}: no path to a person and not declared in NOT_PERSONAL")
        for column in _person_fks(table):
            if column != OWNER_COLUMN and (name, column) not in REFERENCES:
                problems.append(f"{name}.{column}: points at a person but is not in REFERENCES")
    return problems


def _belongs(
    table_name: str, person_ids: list[int], paths: dict[str, list[tuple[str, str, str]]]
) -> ColumnElement[bool]:
    """A condition on `table_name` true for rows belonging to any of `person_ids`."""
    table = tables()[table_name]
    if table_name == PERSON:
        return table.c.id.in_(person_ids)
    conds: list[ColumnElement[bool]] = []
    for column, parent, parent_col in paths[table_name]:
        if parent == PERSON:
            conds.append(table.c[column].in_(person_ids))
        else:
            ptable = tables()[parent]
            conds.append(table.c[column].in_(select(ptable.c[parent_col]).where(_belongs(parent, person_ids, paths))))
    return or_(*conds) if conds else false()


def _in_workspace(table_name: str, workspace_id: int, seen: frozenset[str] = frozenset()) -> ColumnElement[bool] | None:
    """A condition true for rows reachable from the workspace through any edge (see `edges`)."""
    table = tables()[table_name]
    if table_name == WORKSPACE:
        return table.c.id == workspace_id
    conds: list[ColumnElement[bool]] = []
    for column in table.columns:
        for parent, parent_col in edges(column):
            if parent in seen or parent == table_name:
                continue
            inner = _in_workspace(parent, workspace_id, seen | {table_name})
            if inner is not None:
                ptable = tables()[parent]
                conds.append(column.in_(select(ptable.c[parent_col]).where(inner)))
    return or_(*conds) if conds else None


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def person_rows(session: Session, person_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every row that belongs to the person, by table, as JSON-ready dicts (rows in id order)."""
    paths = owner_paths()
    out: dict[str, list[dict[str, Any]]] = {}
    for table in sorted_tables():
        if table.name not in paths:
            continue
        order = [c for c in table.primary_key.columns]
        rows = session.execute(select(table).where(_belongs(table.name, [person_id], paths)).order_by(*order))
        out[table.name] = [{k: _json(v) for k, v in row._mapping.items()} for row in rows]
    return out


def references_to(session: Session, person_id: int) -> dict[str, list[int]]:
    """Ids of others' rows that mention the person (`cohort.created_by`: the cohorts they created)."""
    out: dict[str, list[int]] = {}
    for (tname, column), _why in REFERENCES.items():
        table = tables()[tname]
        ids = list(
            session.execute(select(table.c.id).where(table.c[column] == person_id).order_by(table.c.id)).scalars()
        )
        if ids:
            out[f"{tname}.{column}"] = ids
    return out


@dataclass(frozen=True)
class Deleted:
    rows: int


def tombstone(session: Session, workspace_id: int, now: datetime) -> int:
    """The workspace's "(deleted)" person, created on first need."""
    from storage.models import Person, pk

    found = session.execute(
        select(col(Person.id)).where(col(Person.workspace_id) == workspace_id, col(Person.external_id) == TOMBSTONE_ID)
    ).scalar()
    if found is not None:
        return int(found)
    person = Person(
        workspace_id=workspace_id,
        external_id=TOMBSTONE_ID,
        display_name="(deleted)",
        alias="(deleted)",
        nudges_enabled=False,
        created_at=now,
    )
    session.add(person)
    session.flush()
    return pk(person)


def delete_people(session: Session, person_ids: list[int], *, tombstone_id: int | None = None) -> Deleted:
    """Delete every row that belongs to these people, children first, and clear references to them
    (pointing the ones that cannot be empty at `tombstone_id`)."""
    if not person_ids:
        return Deleted(0)
    paths = owner_paths()
    for tname, col_name in REFERENCES:
        table = tables()[tname]
        if (tname, col_name) in TOMBSTONE_COLUMNS:
            if tombstone_id is None:
                raise ValueError("erasing people who created cohorts needs the workspace's tombstone")
            value: int | None = tombstone_id
        else:
            value = None
        session.execute(update(table).where(table.c[col_name].in_(person_ids)).values({col_name: value}))
    counts: dict[str, int] = {}
    for table in reversed(sorted_tables()):
        if table.name in paths:
            n = _rows(session.execute(delete(table).where(_belongs(table.name, person_ids, paths))))
            if n:
                counts[table.name] = n
    return Deleted(sum(counts.values()))


def delete_dangling(session: Session) -> int:
    """Rows whose declared reference (storage.models.refers_to) points at a row that is gone. The database
    does not check those references, so a sweep that wrote while a person was erased or a workspace purged
    can leave such a row; it holds nothing but ids, and nothing would ever claim it."""
    n = 0
    for table in sorted_tables():
        for column in table.columns:
            if REFERS_TO not in column.info:
                continue
            for parent, parent_col in edges(column):
                target = tables()[parent].c[parent_col]
                n += _rows(session.execute(delete(table).where(~exists().where(target == column))))
    return n


def delete_keys_naming(session: Session, platform_ids: list[str], *, model: Any = None) -> int:
    """Rows of `model` (idempotency keys by default) whose `key` carries one of these platform ids as a
    `:`-separated part."""
    from storage.models import ProcessedEvent

    model = model or ProcessedEvent
    n = 0
    for pid in platform_ids:
        if not pid:
            continue
        key = col(model.key)
        n += _rows(
            session.execute(
                delete(model).where(
                    or_(
                        key.like(f"%:{_like(pid)}:%", escape="\\"),
                        key.like(f"%:{_like(pid)}", escape="\\"),
                        key.like(f"{_like(pid)}:%", escape="\\"),
                    )
                )
            )
        )
    return n


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def clear_installer(session: Session, team_id: str, user_id: str) -> int:
    """Forget which person installed the Slack app (their user token goes with it; the bot's stays)."""
    from storage.slack_store import SlackInstallation

    return _rows(
        session.execute(
            update(SlackInstallation)
            .where(col(SlackInstallation.team_id) == team_id, col(SlackInstallation.user_id) == user_id)
            .values(user_id="", user_token_enc="", user_scopes="")
        )
    )


def delete_workspace(session: Session, workspace_id: int, team_id: str) -> Deleted:
    """Every row reachable from the workspace, the workspace itself, its Slack tokens and event keys."""
    from storage.slack_store import SlackInstallation

    counts: dict[str, int] = {}
    for table in reversed(sorted_tables()):
        cond = _in_workspace(table.name, workspace_id)
        if cond is None:
            continue
        n = _rows(session.execute(delete(table).where(cond)))
        if n:
            counts[table.name] = n
    from storage.models import RateLimit

    if team_id:
        n = _rows(session.execute(delete(SlackInstallation).where(col(SlackInstallation.team_id) == team_id)))
        n += delete_keys_naming(session, [team_id])
        n += delete_keys_naming(session, [team_id], model=RateLimit)
        if n:
            counts["other"] = n
    return Deleted(sum(counts.values()))
