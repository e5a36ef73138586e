"""Core statements compiled once per database and run on the driver's own cursor.

For the statements of the busiest commands (a log, an outreach, the actor's lookup): SQLAlchemy's
Connection.execute costs about 40 µs a statement on top of the driver (its execution context, result
metadata, cache key), as much as SQLite takes to run a small statement. Here a statement built once
as SQLAlchemy Core is compiled once per dialect, and each run is the driver's `execute` with the
parameters in the compiled order, every value passed through its SQLAlchemy type's bind processor
(SQLite stores dates and datetimes as the text SQLAlchemy writes, so comparisons with rows written
through SQLAlchemy hold) and every fetched value through its result processor (dates, aware UTC
datetimes, booleans: what the same statement through SQLAlchemy returns).

It is the same SQL on the same connection and transaction: the engine's `before_cursor_execute` and
`after_cursor_execute` listeners are called as SQLAlchemy calls them (SQLite's deferred BEGIN IMMEDIATE
in storage.db hangs on them, so do tracers and the benchmark's recorder), and driver errors come back
as SQLAlchemy's exceptions (IntegrityError...), a lost connection invalidated. Statements that need
SQLAlchemy's execution context (Python-side column defaults, expanding IN lists, implicit RETURNING) are
refused when compiled, so nothing is silently run differently.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar, cast

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.sql import ClauseElement, Executable
from sqlmodel.sql.sqltypes import UTCDateTime

_Processor = Callable[[Any], Any] | None
_T = TypeVar("_T")
_REQUIRED = object()  # a parameter only the caller can give


class Unsupported(ValueError):
    """The statement needs SQLAlchemy's execution context; run it with Connection.execute."""


class _Recent:
    """A bind processor that remembers its last two conversions, by identity: a command binds the same
    moment (its `now`) in several statements, and a datetime's conversion (to UTC, then to SQLite's text)
    costs more than running a small statement's other parameters. Shared by every statement binding the
    type (processors are pure); each pair is swapped in whole, so threads can share it."""

    __slots__ = ("process", "last", "before")

    def __init__(self, process: Callable[[Any], Any]) -> None:
        self.process = process
        self.last: tuple[Any, Any] = (_REQUIRED, None)
        self.before: tuple[Any, Any] = (_REQUIRED, None)

    def __call__(self, value: Any) -> Any:
        last = self.last
        if last[0] is value:
            return last[1]
        before = self.before
        if before[0] is value:
            return before[1]
        out = self.process(value)
        self.before, self.last = last, (value, out)
        return out


_RECENT: dict[tuple[type[Any], str, str], _Recent] = {}


def _bind_processor(type_: Any, dialect: Dialect) -> _Processor:
    """The type's bind processor for the dialect; for dates and datetimes, one that remembers (_Recent)."""
    process: _Processor = type_.dialect_impl(dialect).bind_processor(dialect)
    if process is None or not isinstance(type_, sqltypes.Date | sqltypes.DateTime | UTCDateTime):
        return process
    # The type's class and repr (its arguments) decide its conversion, so statements can share one.
    key = (type(type_), repr(type_), dialect.name)
    if key not in _RECENT:
        _RECENT[key] = _Recent(process)
    return _RECENT[key]


def _keeps_none(process: Callable[[Any], Any]) -> bool:
    """Whether a result processor returns None for None (processors are pure: asked once, at compile)."""
    try:
        return process(None) is None
    except Exception:
        return False


class Prepared:
    """One statement compiled for one dialect: its SQL, how to build its parameters, how to read its rows."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled: Any = cast(ClauseElement, statement).compile(dialect=dialect)
        if (
            getattr(compiled, "insert_prefetch", ())
            or getattr(compiled, "update_prefetch", ())
            or getattr(compiled, "postfetch", None)
            or getattr(compiled, "implicit_returning", None)
            or compiled.literal_execute_params
            or compiled.post_compile_params
            or getattr(compiled, "has_out_parameters", False)
        ):
            raise Unsupported(f"not runnable on the driver's cursor: {compiled.string[:80]!r}")
        self.sql: str = compiled.string
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        self.positional: bool = bool(compiled.positional)
        names: Sequence[str] = compiled.positiontup if self.positional else list(by_name)
        escaped: Mapping[str, str] = compiled.escaped_bind_names
        # (name the driver knows it by, key in the caller's values, processor, the bound value as sent when
        # the caller gives none: a literal's, a default's, or _REQUIRED)
        params: list[tuple[str, str, _Processor, Any]] = []
        for name in names:
            bind = by_name[name]
            if bind.expanding or bind.callable is not None:
                raise Unsupported(f"parameter {name!r} is computed at execution")
            process = _bind_processor(bind.type, dialect)
            default = _REQUIRED if bind.required else process(bind.value) if process else bind.value
            params.append((escaped.get(name, name), bind.key, process, default))
        self.params = tuple(params)
        # Every value from the caller, none to convert (integers, text): the values as they are.
        self.plain = all(d is _REQUIRED and p is None for _, _, p, d in params)
        self.required = frozenset(k for _, k, _, d in params if d is _REQUIRED)
        # The columns it returns (a SELECT's, or a RETURNING's), each with its type's result processor.
        columns = list(getattr(statement, "exported_columns", ()))
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self.converters = tuple((i, p, _keeps_none(p)) for i, p in enumerate(processors) if p is not None)
        self.row: Any = namedtuple("Row", [str(c.key) for c in columns], rename=True)  # type: ignore[misc]
        self.returns_rows = bool(columns)

    def arguments(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters: a tuple in the compiled order (SQLite), a dict by name (psycopg). A value
        the caller gives wins over the statement's own, as in SQLAlchemy."""
        if self.plain:
            if self.positional:
                return tuple([values[k] for _, k, _, _ in self.params])
            return {n: values[k] for n, k, _, _ in self.params}
        if not self.required <= values.keys():
            raise KeyError(min(self.required - values.keys()))
        given = [(p(values[k]) if p else values[k]) if k in values else d for _, k, p, d in self.params]
        return tuple(given) if self.positional else {n: v for (n, _, _, _), v in zip(self.params, given, strict=True)}

    def rows(self, fetched: list[Any]) -> list[Any]:
        """The fetched rows as named tuples of the values SQLAlchemy would return."""
        new, cls, converters = tuple.__new__, self.row, self.converters
        if not converters:
            return [new(cls, r) for r in fetched]
        out = []
        for r in fetched:
            values = list(r)
            for i, process, keeps_none in converters:
                # A NULL (most of a row's optional moments) is left as it is when its processor would
                # leave it: the call, two deep for a TypeDecorator, cost more than the rest of the row.
                if (v := values[i]) is not None or not keeps_none:
                    values[i] = process(v)
            out.append(new(cls, values))
        return out


@lru_cache(maxsize=256)
def prepared(statement: Executable, dialect: Dialect) -> Prepared:
    """The statement compiled for this dialect, once (statements are module-level, built once)."""
    return Prepared(statement, dialect)


def run(conn: Connection, statement: Executable, values: Mapping[str, Any]) -> list[Any]:
    """Run a Core statement on `conn`'s driver connection, in its transaction; every row it returns
    (a SELECT's, or an INSERT/UPDATE's RETURNING), as named tuples."""
    prep = prepared(statement, conn.dialect)
    sql, args = prep.sql, prep.arguments(values)
    fairy = conn.connection
    dbapi = fairy.driver_connection
    assert dbapi is not None  # a live connection
    cursor = dbapi.cursor()
    # SQLAlchemy's own test for listeners (Connection._exec_single_context), which costs less than looking
    # them up; with the engine's listeners only (the usual case), the engine's own dispatcher, not the
    # connection's, which joins its (empty) listeners to the engine's at every lookup.
    dispatch = conn.dispatch if conn._has_events else conn.engine.dispatch if conn.engine._has_events else None
    try:
        if dispatch is not None:
            for fn in dispatch.before_cursor_execute:
                sql, args = fn(conn, cursor, sql, args, None, False)
        cursor.execute(sql, args)
        if dispatch is not None and dispatch.after_cursor_execute:
            dispatch.after_cursor_execute(conn, cursor, sql, args, None, False)
        # Whether it returns rows is known from the statement: psycopg builds every column's description
        # when asked for it.
        fetched = cursor.fetchall() if prep.returns_rows else []
    except conn.dialect.loaded_dbapi.Error as err:
        lost = conn.dialect.is_disconnect(err, fairy, cursor)
        if lost:
            conn.invalidate(err)
        raise DBAPIError.instance(
            sql, args, err, conn.dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=conn.dialect
        ) from err
    finally:
        cursor.close()
    return prep.rows(fetched) if fetched else []


@lru_cache(maxsize=32)
def _layout(entity: Hashable) -> tuple[Any, tuple[str, ...], tuple[int, ...]]:
    """The entity's mapper, the mapped attribute of each of its table's columns (in the table's order),
    and where its primary key's columns are in that order."""
    mapper = sa_inspect(entity)
    columns = list(mapper.local_table.columns)
    return (
        mapper,
        tuple(mapper.get_property_by_column(c).key for c in columns),
        tuple(columns.index(c) for c in mapper.primary_key),
    )


def keys_of(entity: type[Any]) -> tuple[str, ...]:
    """The mapped attribute of each of the entity's table columns, in `columns_of` order."""
    return _layout(cast(Hashable, entity))[1]


def columns_of(entity: type[Any]) -> list[Any]:
    """The entity's table columns, in the order `as_loaded` takes their values."""
    return list(sa_inspect(entity).local_table.columns)


def as_loaded(session: Session, entity: type[_T], values: Sequence[Any]) -> _T:
    """The persistent object of a row read here (values in `columns_of` order, as `run` returns them),
    in the session as if the ORM had loaded it: SQLAlchemy's documented way to put an object in a
    session without a query (make_transient_to_detached, then add). The instance is made as the ORM's
    loader makes one (no __init__, the column values set as loaded). An object already in the session
    under that identity is returned as it is (it may hold changes not yet flushed)."""
    mapper, keys, primary = _layout(cast(Hashable, entity))
    held = session.identity_map.get(mapper.identity_key_from_primary_key([values[i] for i in primary]))
    if held is not None:
        return cast(_T, held)
    obj = mapper.class_manager.new_instance()
    obj.__dict__.update(zip(keys, values, strict=True))
    make_transient_to_detached(obj)
    session.add(obj)
    return cast(_T, obj)
