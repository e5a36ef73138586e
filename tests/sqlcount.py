"""Count the SQL statements a block of code sends (an SQLAlchemy `before_cursor_execute` listener)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class Statements:
    sql: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.sql)

    def __str__(self) -> str:
        return "\n".join(f"{i + 1}. {s[:160]}" for i, s in enumerate(self.sql))


@contextmanager
def counting(engine: Engine) -> Iterator[Statements]:
    """Every statement sent on `engine` inside the block (SAVEPOINTs too; BEGIN/COMMIT are not statements)."""
    seen = Statements()

    def listener(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.sql.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)
