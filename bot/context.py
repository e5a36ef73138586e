"""One command's world: the session, the moment, the workspace and the person acting, and lookups."""

from __future__ import annotations

import difflib
import hashlib
from collections import namedtuple
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING, Any, NoReturn, TypeVarTuple, cast, overload

from sqlalchemy import ClauseElement, Integer, String, Table, Update, bindparam
from sqlalchemy import Select as SaSelect
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select as sa_select
from sqlalchemy import update as sa_update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import TypedReturnsRows
from sqlalchemy.sql.util import find_tables
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.errors import NotAllowed, NotFound, UsageError
from bot.identity import Actor, WorkspaceRef
from bot.ports import Directory
from bot.validate import NAME_MAX, name_key
from bot.zones import effective_zone, local_today
from storage import direct
from storage.db import Unit
from storage.models import Cohort, Contact, Membership, Person, Workspace, pk

if TYPE_CHECKING:
    from bot.dashboard import DashboardConfig

_Ts = TypeVarTuple("_Ts")

_ADJ = ("Brave", "Curious", "Steady", "Bold", "Keen", "Quiet", "Swift", "Bright", "Patient", "Candid", "Nimble", "Calm")
_ANIMAL = ("Otter", "Falcon", "Heron", "Lynx", "Badger", "Fox", "Owl", "Wren", "Marten", "Ibex", "Puffin", "Hare")


def alias_for(workspace_id: int, external_id: str) -> str:
    """A stable pseudonym for the board, derived so it never needs storing twice."""
    h = int.from_bytes(hashlib.sha256(f"{workspace_id}:{external_id}".encode()).digest()[:4], "big")
    return f"{_ADJ[h % len(_ADJ)]} {_ANIMAL[(h // 12) % len(_ANIMAL)]} {h % 90 + 10}"


def get_workspace(session: Session, ref: WorkspaceRef, now: datetime) -> Workspace:
    ws = session.exec(
        select(Workspace).where(Workspace.platform == ref.platform, Workspace.external_id == ref.external_id)
    ).first()
    if ws is None:
        ws = Workspace(platform=ref.platform, external_id=ref.external_id, name=ref.name[:200], created_at=now)
        try:
            with session.begin_nested():
                session.add(ws)
                session.flush()
        except IntegrityError:  # created by a concurrent request a moment ago
            ws = session.exec(
                select(Workspace).where(Workspace.platform == ref.platform, Workspace.external_id == ref.external_id)
            ).one()
    elif ws.uninstalled_at is not None:  # the app is back before the purge: nothing gets deleted
        ws.uninstalled_at = None
    return ws


def get_person(
    session: Session,
    ws: Workspace,
    user_id: str,
    display_name: str,
    now: datetime,
    tz: str | None = None,
    *,
    rename: bool = True,
) -> Person:
    """The person behind a platform id, created on first sight; `rename` refreshes a changed name."""
    person = session.exec(select(Person).where(Person.workspace_id == ws.id, Person.external_id == user_id)).first()
    name = " ".join(display_name.split())[:NAME_MAX] or user_id
    if person is None:
        person = Person(
            workspace_id=pk(ws),
            external_id=user_id,
            display_name=name,
            alias=alias_for(pk(ws), user_id),
            tz=tz,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(person)
                session.flush()
        except IntegrityError:
            person = session.exec(
                select(Person).where(Person.workspace_id == ws.id, Person.external_id == user_id)
            ).one()
    else:
        _refresh(person, user_id, display_name, tz, rename=rename)
    return person


def _refresh(person: Person, user_id: str, display_name: str, tz: str | None, *, rename: bool) -> None:
    """A known person: take a changed display name, and a zone when they had none."""
    name = _new_name(person, user_id, display_name)
    if rename and name is not None:
        person.display_name = name
    _take_zone(person, tz)


def _take_zone(person: Person, tz: str | None) -> None:
    """The platform's zone, when the person has none (an ORM change: the planner's marks see it)."""
    if tz and not person.tz:
        person.tz = tz


def _new_name(person: Person, user_id: str, display_name: str) -> str | None:
    """The name to take when the platform's differs from the stored one."""
    return _renamed(person.display_name, user_id, display_name)


def _renamed(stored: str, user_id: str, display_name: str) -> str | None:
    name = " ".join(display_name.split())[:NAME_MAX] or user_id
    return name if display_name and stored != name else None


# A person's bookkeeping: the nudge planner's change marks ignore these columns (bot.nudges.marks), so
# writing them with a Core UPDATE, past the ORM's flush and its before_flush hook, misses no mark.
BOOKKEEPING = frozenset({"display_name", "last_active_at", "next_check_at"})


@lru_cache(maxsize=8)
def _bookkeeping_update(columns: tuple[str, ...]) -> Update:
    return (
        sa_update(Person)
        .where(col(Person.id) == bindparam("person", type_=Integer()))
        .values({c: bindparam(f"new_{c}") for c in columns})
    )


def keep_books(session: Session, person: Person, **values: Any) -> None:
    """Write some of a person's BOOKKEEPING columns now, and show them on the object as stored.

    When the ORM will flush anyway (anything pending in the session), they go in its UPDATE of the person
    (or INSERT). Otherwise one Core UPDATE writes them: the ORM's flush of a person alone, its unit of work
    and hooks, cost several times the statement.
    """
    changed = {k: v for k, v in values.items() if getattr(person, k) != v}
    if not changed:
        return
    if not changed.keys() <= BOOKKEEPING:
        raise ValueError(f"not bookkeeping: {sorted(changed.keys() - BOOKKEEPING)}")
    if session.new or session.dirty or session.deleted:
        for key, value in changed.items():
            setattr(person, key, value)
        return
    if not sa_inspect(person).persistent:  # erased during the command (forget-me): nothing to write
        return
    columns = tuple(sorted(changed))
    direct.run(
        session.connection(),
        _bookkeeping_update(columns),
        {"person": person.id, **{f"new_{k}": changed[k] for k in columns}},
    )
    for key, value in changed.items():
        set_committed_value(person, key, value)


@lru_cache(maxsize=1)
def _actor_query() -> SaSelect[Any]:
    """Every command's first statement, built once with bound parameters: the workspace's columns, the
    person's, and their first cohort's zone (columns, not objects: the ORM's loading of the two objects
    cost several times the statement; see get_actor)."""
    first_zone = (
        select(col(Cohort.tz))
        .join(Membership, col(Membership.cohort_id) == col(Cohort.id))
        .where(Membership.person_id == Person.id)
        .order_by(col(Membership.joined_at), col(Membership.id))
        .limit(1)
        .scalar_subquery()
    )
    return (
        sa_select(*direct.columns_of(Workspace), *direct.columns_of(Person), first_zone)
        .join_from(Workspace, Person, col(Person.workspace_id) == Workspace.id)
        .where(
            col(Workspace.platform) == bindparam("platform", type_=String()),
            col(Workspace.external_id) == bindparam("workspace", type_=String()),
            col(Person.external_id) == bindparam("user", type_=String()),
        )
    )


_WS_COLUMNS = len(direct.columns_of(Workspace))
# A stored workspace's and person's columns, by their attribute names (in `direct.columns_of` order).
WorkspaceRow = namedtuple("WorkspaceRow", direct.keys_of(Workspace))  # type: ignore[misc]
PersonRow = namedtuple("PersonRow", direct.keys_of(Person))  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class Found:
    """The actor as stored, read in one statement, and their first cohort's zone."""

    ws: Any  # a WorkspaceRow
    me: Any  # a PersonRow
    cohort_tz: str | None


def find_actor(conn: Connection, ref: WorkspaceRef, actor: Actor) -> Found | None:
    """The workspace and person behind a platform's ids, when both are stored: one statement on the
    driver's cursor (storage.direct), no ORM objects (see Context.me)."""
    rows = direct.run(
        conn, _actor_query(), {"platform": ref.platform, "workspace": ref.external_id, "user": actor.user_id}
    )
    if not rows:
        return None
    row = rows[0]
    return Found(WorkspaceRow._make(row[:_WS_COLUMNS]), PersonRow._make(row[_WS_COLUMNS:-1]), row[-1])


def needs_objects(found: Found, actor: Actor) -> bool:
    """Whether the platform's view of the actor changes what is stored (a new name or zone, an app
    back before its purge): those changes go through the ORM objects (see objects_of)."""
    return (
        found.ws.uninstalled_at is not None
        or bool(actor.tz and not found.me.tz)
        or _renamed(found.me.display_name, actor.user_id, actor.display_name) is not None
    )


def objects_of(session: Session, found: Found, actor: Actor, now: datetime) -> tuple[Workspace, Person]:
    """The actor's rows as the session's objects, as if the ORM had loaded them (storage.direct.as_loaded),
    with what the platform says of them taken."""
    ws = direct.as_loaded(session, Workspace, found.ws)
    person = direct.as_loaded(session, Person, found.me)
    take_platform_view(session, ws, person, actor, now)
    return ws, person


def new_actor(session: Session, ref: WorkspaceRef, actor: Actor, now: datetime) -> tuple[Workspace, Person]:
    """The workspace and person of someone not stored yet (either may exist: a new workspace, a new person)."""
    ws = get_workspace(session, ref, now)
    return ws, get_person(session, ws, actor.user_id, actor.display_name, now, actor.tz)


def take_platform_view(session: Session, ws: Workspace, person: Person, actor: Actor, now: datetime) -> None:
    """Store what the platform says of a known actor: the app is back, a zone, a changed name."""
    if ws.uninstalled_at is not None:  # the app is back before the purge: nothing gets deleted
        ws.uninstalled_at = None
    _take_zone(person, actor.tz)
    name = _new_name(person, actor.user_id, actor.display_name)
    if name is not None:
        # Written at once, so the command's reads of people see it, and the activity mark with it (one
        # write now rather than another at the end).
        keep_books(session, person, display_name=name, last_active_at=now)


@lru_cache(maxsize=1)
def _contact_query() -> SelectOfScalar[Contact]:
    """A contact of the person by name: built once with bound parameters, as most write commands start here."""
    return select(Contact).where(
        Contact.person_id == bindparam("person", type_=Integer()), Contact.name_key == bindparam("key", type_=String())
    )


@lru_cache(maxsize=64)
def _tables_of(statement: Executable) -> frozenset[Table]:
    """The tables a (prebuilt) statement names anywhere, subqueries and aliases included."""
    return frozenset(
        t
        for t in find_tables(cast(ClauseElement, statement), include_crud=True, include_aliases=True)
        if isinstance(t, Table)
    )


class Context:
    """One command's world: its unit of work, the moment, the workspace and the person acting, and lookups.

    The workspace and person are the rows read when the command began (`find_actor`); `ws` and `me`
    make them the session's objects on first use, and `ws_id`, `me_id` and the zone never need to: a
    command that runs only Core statements (a log) builds neither a Session nor an object.
    """

    def __init__(
        self,
        *,
        now: datetime,
        actor: Actor,
        default_tz: str,
        directory: Directory,
        unit: Unit | None = None,
        session: Session | None = None,
        ws: Workspace | None = None,
        me: Person | None = None,
        found: Found | None = None,
        cohort_zone: str | None = None,
        dashboard: DashboardConfig | None = None,
    ) -> None:
        if unit is None:
            assert session is not None, "a unit or a session"
            unit = Unit.around(session)
        assert (ws is not None and me is not None) or found is not None, "the actor's objects or rows"
        self.unit = unit
        self.now = now
        self.actor = actor
        self.default_tz = default_tz
        self.directory = directory
        self._ws = ws
        self._me = me
        self._found = found
        self.cohort_zone = cohort_zone  # the first cohort's zone, when the engine read it with the person
        self.dashboard = dashboard  # where /dare dashboard links point, when it is served
        self.planned_dms = 0  # DMs this command put in the outbox, due now
        # A Core write changed what the nudge rules read of this person (the ORM's change marks saw nothing):
        # their planner mark is written at the end, with the activity mark.
        self.replan = False

    @property
    def session(self) -> Session:
        return self.unit.session

    @property
    def _rows(self) -> Found:
        """The actor's rows, as read when the command began (and as `finish` wrote them since)."""
        assert self._found is not None, "a context made from objects has no rows"
        return self._found

    @property
    def ws(self) -> Workspace:
        if self._ws is None:
            self._ws = direct.as_loaded(self.session, Workspace, self._rows.ws)
        return self._ws

    @property
    def me(self) -> Person:
        if self._me is None:
            self._me = direct.as_loaded(self.session, Person, self._rows.me)
        return self._me

    @property
    def ws_id(self) -> int:
        return pk(self._ws) if self._ws is not None else cast(int, self._rows.ws.id)

    @property
    def me_id(self) -> int:
        return pk(self._me) if self._me is not None else cast(int, self._rows.me.id)

    def finish(self) -> None:
        """The person's activity mark (and planner mark, after Core writes), written last, in one statement."""
        values: dict[str, Any] = {"last_active_at": self.now}
        if self.replan:
            values["next_check_at"] = self.now
        pending = self.unit.has_session and bool(self.session.new or self.session.dirty or self.session.deleted)
        if self._me is not None or pending:  # the ORM flushes anyway: in its UPDATE of the person
            keep_books(self.session, self.me, **values)
            return
        row = self._rows.me  # the person was never made an object: the row is what is stored
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            columns = tuple(sorted(changed))
            direct.run(
                self.unit.conn,
                _bookkeeping_update(columns),
                {"person": row.id, **{f"new_{k}": changed[k] for k in columns}},
            )
            self._found = replace(self._rows, me=row._replace(**changed))

    def effective_zone(self) -> str:
        """The person's zone, else their first cohort's (a query, unless the engine read it with the
        person), else the default: a method, not a property, because it may cost a statement."""
        tz: str | None = self._me.tz if self._me is not None else self._rows.me.tz
        if tz:
            return tz
        # A cohort joined during this command may set the zone: look again then.
        if self.cohort_zone is None or (
            self.unit.has_session and any(isinstance(o, Membership) for o in self.session.new)
        ):
            self.cohort_zone = effective_zone(self.session, self.me, self.default_tz)[0]
        return self.cohort_zone

    def local_today(self) -> date:
        """Today's date where the person is (see effective_zone)."""
        return local_today(self.now, self.effective_zone(), self.default_tz)

    def person_for(self, user_id: str, name_hint: str = "") -> Person:
        known = self.directory.display_name(self.ws.external_id, user_id)
        return get_person(
            self.session, self.ws, user_id, known or name_hint or user_id, self.now, rename=known is not None
        )

    def memberships(self, *, include_closed: bool = False) -> list[tuple[Cohort, Membership]]:
        """The person's current memberships; closed cohorts only with `include_closed` (report, board, compare)."""
        query = (
            select(Cohort, Membership)
            .join(Membership, col(Membership.cohort_id) == col(Cohort.id))
            .where(Membership.person_id == self.me.id, Cohort.workspace_id == self.ws.id, Membership.removed_at == None)  # noqa: E711
            .order_by(col(Membership.joined_at))
        )
        if not include_closed:
            query = query.where(Cohort.closed_at == None)  # noqa: E711
        return list(self.session.exec(query).all())

    def cohort_by_name(self, name: str) -> Cohort:
        cohort = self.session.exec(
            select(Cohort).where(Cohort.workspace_id == self.ws.id, Cohort.name_key == name_key(name))
        ).first()
        if cohort is None:
            mine = [c.name for c, _ in self.memberships()]
            hint = f" Yours: {', '.join(mine)}." if mine else " Ask your instructor for the exact name."
            raise NotFound(f"There's no cohort called '{name[:NAME_MAX]}' here.{hint}")
        return cohort

    def cohort(
        self, name: str | None, *, instructor: bool = False, example: str = "", include_closed: bool = False
    ) -> Cohort:
        """The named cohort, or the only one the person is in (as instructor when `instructor`).

        Left out, the name is guessed among open cohorts, or closed ones too with `include_closed`
        when no open one fits.
        """
        if name:
            cohort = self.cohort_by_name(name)
            if instructor:
                self.require_instructor(cohort)
            return cohort
        mine = [(c, m) for c, m in self.memberships() if (m.is_instructor if instructor else True)]
        if not mine and include_closed:
            mine = [
                (c, m) for c, m in self.memberships(include_closed=True) if (m.is_instructor if instructor else True)
            ]
        if len(mine) == 1:
            return mine[0][0]
        if not mine:
            if instructor:
                raise NotAllowed("You don't teach a cohort here. Create one with /dare cohort create NAME.")
            raise UsageError("You're not in a cohort yet. Join one with /dare cohort join NAME.")
        names = ", ".join(c.name for c, _ in mine)
        raise UsageError(f"You're in several cohorts ({names}): name one{', e.g. ' + example if example else ''}.")

    def membership(self, cohort: Cohort, person: Person | None = None, *, removed: bool = False) -> Membership | None:
        """The person's current membership; with `removed`, also one they left or were removed from."""
        person = person or self.me
        m = self.session.exec(
            select(Membership).where(Membership.cohort_id == cohort.id, Membership.person_id == person.id)
        ).first()
        return m if m is None or removed or m.removed_at is None else None

    def is_instructor(self, cohort: Cohort) -> bool:
        m = self.membership(cohort)
        return bool(m and m.is_instructor)

    def require_instructor(self, cohort: Cohort) -> None:
        if not self.is_instructor(cohort):
            raise NotAllowed(f"Only instructors of {cohort.name} can do that.")

    @overload
    def sql(self, statement: TypedReturnsRows[*_Ts], **params: Any) -> list[tuple[*_Ts]]: ...

    @overload
    def sql(self, statement: Executable, **params: Any) -> list[Any]: ...

    def sql(self, statement: Executable, **params: Any) -> list[Any]:
        """A Core statement (built once, with bound parameters) on the command's connection: its rows
        (a SELECT's, a RETURNING's) as named tuples.

        It skips the ORM and SQLAlchemy's execution, which were most of a statement's cost: it runs on the
        driver's cursor (storage.direct), and what is pending is flushed first only when it is a row of a
        table the statement names (an ORM query flushes everything). A write here passes no change mark
        (bot.nudges.marks hooks the ORM's flush), nor updates objects the session holds: the caller marks
        the person as that hook would, and writes no row the command has loaded as an object.
        """
        if self.pending_in(statement):
            self.session.flush()
        return direct.run(self.unit.conn, statement, params)

    def pending_in(self, statement: Executable) -> bool:
        """Whether anything not yet flushed is a row of a table the statement reads or writes."""
        if not self.unit.has_session:
            return False
        s = self.session
        if not (s.new or s.dirty or s.deleted):
            return False
        tables = _tables_of(statement)
        return any(getattr(type(o), "__table__", None) in tables for o in chain(s.new, s.dirty, s.deleted))

    def contact(self, name: str, *, field: str = "contact") -> Contact:
        query = _contact_query()
        # No autoflush unless it could change the answer (a contact pending): an early flush of whatever else
        # is pending would only split the command's writes.
        with nullcontext() if self.pending_in(query) else self.session.no_autoflush:
            found = self.session.exec(query, params={"person": self.me.id, "key": name_key(name)}).first()
        if found is None:
            self._no_contact(name)
        return found

    def contact_row(self, name: str) -> Any:
        """The same contact as its columns (`.id`, `.name`...), without loading an object: for a command
        that only reads it (the ORM's loading was most of the lookup's cost)."""
        found = self.sql(_contact_query(), person=self.me_id, key=name_key(name))
        if not found:
            self._no_contact(name)
        return found[0]

    def _no_contact(self, name: str) -> NoReturn:
        names = list(self.session.exec(select(Contact.name).where(Contact.person_id == self.me.id)))
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else f' Add them first: /dare contact "{name[:NAME_MAX]}".'
        raise NotFound(f"You have no contact called '{name[:NAME_MAX]}'.{hint}")
