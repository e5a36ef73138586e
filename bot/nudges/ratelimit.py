"""The per-workspace send budget, shared through the database by every delivering process.

A token bucket per key (platform and workspace) lives in the `ratelimit` table. Each reservation
is one short transaction that locks the key's row (PostgreSQL: SELECT ... FOR UPDATE; SQLite:
the insert that opens the transaction takes the database's write lock), refills the bucket from
the time elapsed, and takes a token or says how long to wait. So N processes together stay within
the platform's limit instead of each spending the whole budget. A Retry-After answer blocks the
key for every process (`block`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.db import Database
from storage.models import RateLimit


class SharedRateLimiter:
    """Token bucket per key on the injected clock's time, stored in the database."""

    def __init__(self, db: Database, rate: float, burst: int) -> None:
        self.db, self.rate, self.burst = db, rate, burst

    def _row(self, s: Session, key: str, now: datetime) -> RateLimit:
        if self.db.is_postgres:
            # Lock the row if it is there (every reservation but a key's first): one statement.
            q = select(RateLimit).where(col(RateLimit.key) == key).with_for_update()
            row = s.exec(q).first()
            if row is not None:
                return row
        # Write first: on SQLite this takes the write lock before the read (no read->write upgrade
        # race); on PostgreSQL the row then exists for FOR UPDATE to lock.
        insert = pg_insert if self.db.is_postgres else sqlite_insert
        s.execute(
            insert(RateLimit)
            .values(key=key, tokens=float(self.burst), updated_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        q = select(RateLimit).where(col(RateLimit.key) == key)
        if self.db.is_postgres:
            q = q.with_for_update()
        return s.exec(q).one()

    def reserve(self, key: str, now: datetime, max_wait: float = 0.0) -> tuple[bool, float]:
        """(granted, wait): a slot for one message `wait` seconds from now (0.0: at once).

        A slot up to `max_wait` ahead is booked (the bucket goes into debt), so the caller sleeps
        `wait` and then sends, and a process arriving later books the slot after it. A later slot,
        or a key blocked by Retry-After, is refused: (False, seconds until it would be free)."""
        with self.db.session() as s:
            row = self._row(s, key, now)
            if row.blocked_until is not None and row.blocked_until > now:
                return False, (row.blocked_until - now).total_seconds()
            # Clocks of different processes may disagree by a little: never refill backwards.
            elapsed = max(0.0, (now - row.updated_at).total_seconds())
            tokens = min(float(self.burst), row.tokens + elapsed * self.rate)
            if now > row.updated_at:
                row.updated_at = now
            wait = max(0.0, (1.0 - tokens) / self.rate)
            if wait > max_wait:
                row.tokens = tokens
                return False, wait
            row.tokens = tokens - 1.0
            return True, wait

    def block(self, key: str, until: datetime) -> None:
        """Nobody sends under this key before `until` (the platform said Retry-After)."""
        with self.db.session() as s:
            row = self._row(s, key, until)
            if row.blocked_until is None or row.blocked_until < until:
                row.blocked_until = until
