"""Delivery: claim due outbox rows, re-check them, honour every limit, send through the Messenger port.

Claiming
- PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` then mark the rows claimed, in one short
  transaction, so any number of workers share the outbox without sending a row twice. Each
  workspace with due rows gets a task on a small thread pool (`concurrency`) that claims a batch of
  that workspace's rows and sends them in order, then queues again behind the other workspaces: a
  worker waiting for one workspace's next send slot (its share of the platform's rate) never holds
  up another workspace that has budget left, and the database round trips of several workspaces
  overlap. A workspace whose budget is spent further ahead than a short wait hands its claimed rows
  back untouched; they fall due again when the budget has refilled.
- SQLite: one runner at a time, holding a `Lease` row; a lease or claim whose holder died expires.
A claimed row records `claimed_until`; a worker killed mid-delivery leaves it claimed, and it is
picked up again when that time passes (or at once by a worker restarted with the same id). So a
crash loses nothing. A DM that was in flight (one per workspace being sent) is marked ambiguous
when it is claimed again, so a messenger that can look (Slack: the DM's history) sends it only if it
never arrived; one that can't may send it once more.

At send time, for each row, in order: person or workspace gone (a sweep raced an erasure; the
database does not enforce the outbox's references) -> the row is deleted; unreachable person ->
'unreachable'; opted out -> 'dropped'; the rule no longer yields the row's key on fresh state (the
person acted, the meeting passed) -> 'dropped'; snooze, cohort pause, quiet week, quiet hours
(person's zone) and the per-person caps move the row to the next allowed moment; otherwise render
and send. Transient failures back off (honouring Retry-After through the per-workspace limiter that
all processes share, bot/nudges/ratelimit.py); permanent ones mark the person unreachable.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from bot.clock import Clock
from bot.nudges import catalog
from bot.nudges.planner import load_states
from bot.nudges.policy import (
    DEFAULT_POLICY,
    Policy,
    after_quiet_hours,
    local_at,
    local_date,
)
from bot.nudges.ratelimit import SharedRateLimiter
from bot.nudges.rules import InstructorState, ParticipantState
from bot.ports import AmbiguousSendError, Messenger, PermanentSendError, TransientSendError, WorkspaceAuthError
from bot.replies import Reply
from bot.zones import stored_hhmm
from storage.db import Database
from storage.models import Cohort, Lease, Nudge, Person, QuietWeek, Workspace, nudge_status_is, pk

log = logging.getLogger("darebot.nudges")
HELD = "held back by a snooze or pause"
# Workspaces delivered at once by one process on PostgreSQL. A thread mostly waits (for its
# workspace's next send slot, the platform, the database), so this can exceed the CPUs; it stays
# under the engine's connection pool (10 + 10 overflow) as each thread holds at most one connection.
DEFAULT_CONCURRENCY = 16


# last_error of a row whose last send may have gone out: the next attempt checks before sending.
AMBIGUOUS = "ambiguous: "


@dataclass
class _Ready:
    ws_external: str
    user_id: str
    reply: Reply
    key: str = ""
    ambiguous: bool = False


class Delivery:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        messenger: Messenger,
        *,
        platform: str,
        worker_id: str,
        policy: Policy = DEFAULT_POLICY,
        realtime: bool = False,
        sleep: Callable[[float], None] = _time.sleep,
        concurrency: int | None = None,
    ) -> None:
        self.db, self.clock, self.messenger = db, clock, messenger
        self.platform, self.worker_id, self.policy = platform, worker_id, policy
        self.realtime, self._sleep = realtime, sleep
        # Workspaces delivered at once (threads). SQLite has one writer and a lease holder: one at a
        # time there. The Messenger must be thread-safe (every adapter's is).
        if concurrency is None:
            concurrency = 1 if db.is_sqlite else DEFAULT_CONCURRENCY
        self.concurrency = max(1, concurrency)
        # Shared through the database: every process delivering for a workspace spends one budget.
        self.limiter = SharedRateLimiter(db, policy.ws_rate, policy.ws_burst)
        self.lease_name = f"delivery:{platform}"[:40]
        self._recovered = False

    def _limit_key(self, ws_external: str) -> str:
        return f"{self.platform}:{ws_external}"

    # --- claiming ---------------------------------------------------------------------------

    def recover(self) -> int:
        """A restarted worker takes back at once the rows it had claimed before it died."""
        with self.db.session() as s:
            res = s.exec(
                update(Nudge)
                .where(nudge_status_is("claimed"), col(Nudge.claimed_by) == self.worker_id)
                .values(claimed_until=self.clock.now() - timedelta(seconds=1))
            )
            if self.db.is_sqlite:
                s.execute(
                    update(Lease)
                    .where(col(Lease.name) == self.lease_name, col(Lease.holder) == self.worker_id)
                    .values(expires_at=self.clock.now() - timedelta(seconds=1))
                )
            return res.rowcount or 0

    def _lease(self, now: datetime, *, release: bool = False) -> bool:
        """SQLite: take (or renew, or release) the delivery lease; True when this worker holds it."""
        ttl = timedelta(seconds=self.policy.claim_seconds)
        with self.db.session() as s:
            if release:
                s.execute(
                    update(Lease)
                    .where(col(Lease.name) == self.lease_name, col(Lease.holder) == self.worker_id)
                    .values(expires_at=now)
                )
                return False
            # Start with a write so SQLite takes its write lock first (no read->write upgrade race).
            s.execute(
                sqlite_insert(Lease)
                .values(name=self.lease_name, holder=self.worker_id, expires_at=now + ttl)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            res = s.exec(
                update(Lease)
                .where(
                    col(Lease.name) == self.lease_name,
                    or_(col(Lease.holder) == self.worker_id, col(Lease.expires_at) <= now),
                )
                .values(holder=self.worker_id, expires_at=now + ttl)
            )
            return res.rowcount == 1

    def _claimable(self, now: datetime) -> list[ColumnElement[bool]]:
        """Rows of this platform this worker may take at `now`: due, or claimed by a worker whose claim ran out.

        The statuses are literals so each arm is served by its partial index (storage.models.Nudge)."""
        return [
            col(Workspace.platform) == self.platform,
            col(Workspace.token_rejected_at).is_(None),  # held: see _hold_workspace
            or_(
                and_(nudge_status_is("pending"), col(Nudge.due_at) <= now),
                and_(nudge_status_is("claimed"), col(Nudge.claimed_until) < now),
            ),
        ]

    def claim(self, limit: int, *, workspace_id: int | None = None) -> list[int]:
        now = self.clock.now()
        with self.db.session() as s:
            where = self._claimable(now)
            if workspace_id is not None:
                where.append(col(Nudge.workspace_id) == workspace_id)
            q = (
                select(col(Nudge.id), col(Nudge.status), col(Nudge.sent_at))
                .join(Workspace, col(Workspace.id) == col(Nudge.workspace_id))
                .where(*where)
                .order_by(col(Nudge.due_at), col(Nudge.id))
                .limit(limit)
            )
            if self.db.is_postgres:
                q = q.with_for_update(skip_locked=True, of=Nudge)
            rows = s.execute(q).all()
            ids = [r.id for r in rows]
            # A claim that ran out on a row its worker had readied (sent_at set): the worker died with
            # the DM in flight, and it may be out. The next attempt asks the platform first.
            in_flight = [r.id for r in rows if r.status == "claimed" and r.sent_at is not None]
            if in_flight:
                s.execute(
                    update(Nudge)
                    .where(
                        col(Nudge.id).in_(in_flight),
                        or_(col(Nudge.last_error).is_(None), ~col(Nudge.last_error).startswith(AMBIGUOUS)),
                    )
                    .values(last_error=AMBIGUOUS + "its worker stopped while sending it")
                )
            if ids:
                s.execute(
                    update(Nudge)
                    .where(col(Nudge.id).in_(ids))
                    .values(
                        status="claimed",
                        claimed_by=self.worker_id,
                        claimed_until=now + timedelta(seconds=self.policy.claim_seconds),
                        sent_at=None,
                    )
                )
        return ids

    def _due_workspaces(self) -> list[int]:
        """Workspaces with rows to claim now, the one with the oldest due row first."""
        with self.db.session() as s:
            rows = s.execute(
                select(col(Nudge.workspace_id), func.min(col(Nudge.due_at)))
                .join(Workspace, col(Workspace.id) == col(Nudge.workspace_id))
                .where(*self._claimable(self.clock.now()))
                .group_by(col(Nudge.workspace_id))
            ).all()
        return [w for w, _ in sorted(rows, key=lambda r: (r[1], r[0]))]

    # --- the run ----------------------------------------------------------------------------

    def run(self, limit: int = 100) -> int:
        if not self._recovered:
            self.recover()
            self._recovered = True
        now = self.clock.now()
        if self.db.is_sqlite and not self._lease(now):
            return 0
        if self.concurrency > 1 and not self.db.is_sqlite:
            return self._run_by_workspace(limit)
        sent = 0
        try:
            for _ in range(1000):
                ids = self.claim(limit)
                if not ids:
                    break
                for nid in self._order(ids):
                    sent += self._deliver_guarded(nid)[0]
                if len(ids) < limit:
                    break
                if self.db.is_sqlite:
                    self._lease(self.clock.now())
        finally:
            if self.db.is_sqlite:
                self._lease(self.clock.now(), release=True)
        return sent

    def _run_by_workspace(self, limit: int) -> int:
        """A task per workspace with due rows, up to `concurrency` at once. A task sends one claimed
        batch; a workspace with more to send queues again behind the others, so every workspace
        gets a thread in turn however many there are."""
        sent = 0
        running: dict[Future[tuple[int, bool]], int] = {}
        idle: set[int] = set()  # tasks that found nothing to claim: not queued again in this run
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="darebot-delivery") as pool:
            for _ in range(100_000):
                busy = set(running.values())
                for ws_id in self._due_workspaces():
                    if ws_id not in busy and ws_id not in idle:
                        running[pool.submit(self._run_workspace, ws_id, limit)] = ws_id
                if not running:
                    break
                done, _pending = wait(running, return_when=FIRST_COMPLETED)
                for f in done:
                    ws_id = running.pop(f)
                    try:
                        n, claimed = f.result()
                    except Exception:  # the database failed under this task: the rows' claims expire
                        log.exception("workspace %s: delivery failed", ws_id)
                        n, claimed = 0, False
                    sent += n
                    if not claimed:
                        idle.add(ws_id)
        return sent

    def _run_workspace(self, ws_id: int, limit: int) -> tuple[int, bool]:
        """Claim up to `limit` of one workspace's due rows and send them in order: (DMs sent, whether
        any row was claimed)."""
        ids = self.claim(limit, workspace_id=ws_id)
        sent = 0
        order = self._order(ids) if ids else []
        for i, nid in enumerate(order):
            n, refused_until = self._deliver_guarded(nid)
            sent += n
            if refused_until is not None:
                # The workspace's budget is spent for a while: hand the rest back untouched rather
                # than re-checking and refusing each, and let other workspaces have the thread.
                self._unclaim(order[i + 1 :], refused_until)
                break
        return sent, bool(ids)

    def _unclaim(self, ids: list[int], due: datetime) -> None:
        """Claimed rows never prepared (no attempt counted) go back to pending, due no earlier than `due`."""
        if not ids:
            return
        with self.db.session() as s:
            s.execute(
                update(Nudge)
                .where(col(Nudge.id).in_(ids), col(Nudge.status) == "claimed", col(Nudge.claimed_by) == self.worker_id)
                .values(
                    status="pending",
                    claimed_by=None,
                    claimed_until=None,
                    sent_at=None,
                    due_at=case((col(Nudge.due_at) < due, due), else_=col(Nudge.due_at)),
                )
            )

    def _deliver_guarded(self, nid: int) -> tuple[int, datetime | None]:
        try:
            return self._deliver_one(nid)
        except Exception:  # one bad row must not stop the others
            log.exception("nudge %s: delivery failed", nid)
            self._release(nid, self.clock.now() + timedelta(seconds=self.policy.backoff_base), error="internal error")
            return 0, None

    def _order(self, ids: list[int]) -> list[int]:
        with self.db.session() as s:
            rows = s.execute(
                select(col(Nudge.id), col(Nudge.rule), col(Nudge.due_at)).where(col(Nudge.id).in_(ids))
            ).all()
        return [r.id for r in sorted(rows, key=lambda r: (r.due_at, catalog.priority(r.rule), r.id))]

    def _release(self, nid: int, due: datetime, *, error: str | None = None, undo_attempt: bool = False) -> None:
        with self.db.session() as s:
            n = s.get(Nudge, nid)
            if n is None or n.status != "claimed" or n.claimed_by != self.worker_id:
                return
            n.status, n.due_at, n.claimed_by, n.claimed_until, n.sent_at = "pending", due, None, None, None
            if undo_attempt:
                n.attempts = max(0, n.attempts - 1)
            if error:
                # Once a send of this row may have gone out, every later attempt must check first.
                sticky = (n.last_error or "").startswith(AMBIGUOUS) and not error.startswith(AMBIGUOUS)
                n.last_error = ((AMBIGUOUS if sticky else "") + error)[:300]

    def _finish(self, nid: int, status: str, error: str | None = None) -> None:
        with self.db.session() as s:
            n = s.get(Nudge, nid)
            if n is None:
                return
            n.status, n.claimed_by, n.claimed_until = status, None, None
            if status != "sent":
                n.sent_at = None
            if error:
                n.last_error = error[:300]

    def _deliver_one(self, nid: int) -> tuple[int, datetime | None]:
        """(1 if the DM went out else 0, the moment the workspace's budget frees when it had none)."""
        ready = self._prepare(nid)
        if ready is None:
            return 0, None
        now = self.clock.now()
        # Real time: book a slot up to 2 s ahead and wait for it; later than that, hand the row back.
        granted, wait = self.limiter.reserve(
            self._limit_key(ready.ws_external), now, max_wait=2.0 if self.realtime else 0.0
        )
        if not granted:
            until = now + timedelta(seconds=wait)
            self._release(nid, until, undo_attempt=True)
            return 0, until
        if wait > 0:
            self._sleep(wait)
        try:
            sent = self.messenger.send_dm(
                ready.ws_external, ready.user_id, ready.reply, key=ready.key, check=ready.ambiguous
            )
        except AmbiguousSendError as e:
            self._ambiguous(nid, e)
            return 0, None
        except WorkspaceAuthError as e:
            self._hold_workspace(nid, e)
            return 0, None
        except TransientSendError as e:
            self._transient(nid, ready.ws_external, e)
            return 0, None
        except PermanentSendError as e:
            self._permanent(nid, e.reason)
            return 0, None
        with self.db.session() as s:  # one statement: the row is ours, nothing to read first
            s.execute(
                update(Nudge)
                .where(col(Nudge.id) == nid)
                .values(
                    status="sent",
                    claimed_by=None,
                    claimed_until=None,
                    sent_at=self.clock.now(),
                    platform_message_id=(sent.message_id or "")[:120] if sent is not None else None,
                    last_error=None,
                )
            )
        return 1, None

    def _transient(self, nid: int, ws: str, e: TransientSendError) -> None:
        now = self.clock.now()
        with self.db.session() as s:
            n = s.get(Nudge, nid)
            if n is None:  # deleted while in flight: the person was erased meanwhile
                return
            attempts = n.attempts
        if e.retry_after is not None and e.retry_after > 0:
            self.limiter.block(self._limit_key(ws), now + timedelta(seconds=e.retry_after))
        if attempts >= self.policy.max_attempts:
            self._finish(nid, "failed", f"gave up after {attempts} attempts: {e.reason}")
            return
        delay = max(float(e.retry_after or 0.0), self.policy.backoff(attempts))
        self._release(nid, now + timedelta(seconds=delay), error=f"transient: {e.reason}")

    def _hold_workspace(self, nid: int, e: WorkspaceAuthError) -> None:
        """Mark the workspace (claim() skips it from now on) and put the row back, attempt uncounted:
        held, not lost and not retried, until a new token is installed (storage.health.release_held)."""
        now = self.clock.now()
        with self.db.session() as s:
            n = s.get(Nudge, nid)
            if n is None:
                return
            ws = s.get(Workspace, n.workspace_id)
            first = ws is not None and ws.token_rejected_at is None
            if ws is not None and first:
                ws.token_rejected_at, ws.token_error = now, e.reason[:60]
            if n.status == "claimed" and n.claimed_by == self.worker_id:
                n.status, n.claimed_by, n.claimed_until, n.sent_at = "pending", None, None, None
                n.attempts = max(0, n.attempts - 1)
                n.last_error = f"held: the workspace's token was rejected ({e.reason})"[:300]
            external = ws.external_id if ws is not None else "?"
        if first:
            log.error(
                "workspace %s (%s): the platform rejected darebot's token (%s); its DMs are held, not sent, "
                "until a new token is installed",
                external,
                self.platform,
                e.reason,
            )

    def _ambiguous(self, nid: int, e: AmbiguousSendError) -> None:
        """The DM may be out: look again soon (the platform remembers a repeat only for minutes), and
        mark the row so the next attempt asks the platform before it sends."""
        now = self.clock.now()
        with self.db.session() as s:
            n = s.get(Nudge, nid)
            attempts = n.attempts if n is not None else 0
        if attempts >= self.policy.max_attempts:
            self._finish(nid, "failed", f"{AMBIGUOUS}gave up after {attempts} attempts: {e.reason}")
            return
        delay = max(float(e.retry_after or 0.0), min(self.policy.backoff(attempts), 60.0))
        self._release(nid, now + timedelta(seconds=delay), error=f"{AMBIGUOUS}{e.reason}")

    def _permanent(self, nid: int, reason: str) -> None:
        now = self.clock.now()
        with self.db.session() as s:
            n = s.get(Nudge, nid)
            if n is None:  # deleted while in flight: the person was erased meanwhile
                return
            person = s.get(Person, n.person_id)
            if person is not None and person.unreachable_at is None:
                person.unreachable_at = now
                person.unreachable_reason = reason[:200]
            n.status, n.claimed_by, n.claimed_until, n.sent_at = "unreachable", None, None, None
            n.last_error = f"permanent: {reason}"[:300]

    # --- the checks -------------------------------------------------------------------------

    def _prepare(self, nid: int) -> _Ready | None:
        """Decide in one transaction: drop, postpone, or render and reserve the person's cap."""
        now = self.clock.now()
        with self.db.session() as s:
            n = s.get(Nudge, nid)
            if n is None or n.status != "claimed" or n.claimed_by != self.worker_id:
                return None
            # The person and the row's workspace in one round trip.
            pq = (
                select(Person, Workspace)
                .join(Workspace, col(Workspace.id) == n.workspace_id)
                .where(col(Person.id) == n.person_id)
            )
            if self.db.is_postgres:  # serialise decisions per person: the caps count in-flight DMs
                pq = pq.with_for_update(of=Person)
            found = s.execute(pq).first()
            person, ws = (found[0], found[1]) if found is not None else (None, None)
            if person is None or ws is None:
                # The database does not enforce nudge.person_id (storage.models.Nudge): a sweep that
                # raced the person's erasure can leave a row behind. Nothing of an erased person may
                # stay, not even a dropped row naming their id.
                s.delete(n)
                return None
            if ws.token_rejected_at is not None:  # held since this batch was claimed
                n.status, n.claimed_by, n.claimed_until, n.sent_at = "pending", None, None, None
                return None
            if person.unreachable_at is not None:
                n.status, n.claimed_by, n.last_error = "unreachable", None, person.unreachable_reason or "unreachable"
                return None
            if not person.nudges_enabled and not catalog.exempt(n.rule, "opt-out"):
                n.status, n.claimed_by, n.last_error = "dropped", None, "opted out"
                return None
            states = [st for chunk, _ in load_states(s, now, self.policy, person_ids=[person.id]) for st in chunk]
            state = catalog.still_valid(n.key, n.rule, states, now, self.policy)
            if state is None:
                n.status, n.claimed_by, n.last_error = "dropped", None, "reason gone"
                return None
            when, held = self._allowed_at(s, n, person, state, now)
            if when > now:
                n.status, n.due_at, n.claimed_by, n.claimed_until = "pending", when, None, None
                if held and not (n.last_error or "").startswith(AMBIGUOUS):  # that mark must survive
                    n.last_error = HELD
                return None
            if n.last_error == HELD:
                # After a snooze or a pause only the most relevant held-back nudge goes out (rows are sent in
                # priority order); the rest are dropped, and the sweep plans afresh from the new state.
                s.execute(
                    update(Nudge)
                    .where(
                        col(Nudge.person_id) == person.id,
                        col(Nudge.id) != n.id,
                        col(Nudge.last_error) == HELD,
                        or_(
                            col(Nudge.status) == "pending",
                            and_(col(Nudge.status) == "claimed", col(Nudge.claimed_by) == self.worker_id),
                        ),
                    )
                    .values(
                        status="dropped", last_error="superseded after a pause", claimed_by=None, claimed_until=None
                    )
                )
            reply = catalog.render(n.rule, n.subject, n.key.rsplit(":", 1)[-1], state, session=s, now=now)
            n.attempts += 1
            n.sent_at = now  # reserves the cap slot while in flight
            n.claimed_until = now + timedelta(seconds=self.policy.claim_seconds)
            return _Ready(
                ws.external_id,
                person.external_id,
                reply,
                key=n.key,
                ambiguous=(n.last_error or "").startswith(AMBIGUOUS),
            )

    def _allowed_at(
        self, s: Session, n: Nudge, person: Person, state: ParticipantState | InstructorState, now: datetime
    ) -> tuple[datetime, bool]:
        """The first moment the row may go out, and whether a snooze, pause or quiet week held it back."""
        p = self.policy.for_dare(state.dare)
        tz = state.tz
        qs = stored_hhmm(person.quiet_start, p.quiet_start)
        qe = stored_hhmm(person.quiet_end, p.quiet_end)
        cohort = s.get(Cohort, state.dare.cohort_id)
        weeks = list(s.execute(select(QuietWeek).where(col(QuietWeek.cohort_id) == state.dare.cohort_id)).scalars())
        t = now
        held = False
        for _ in range(50):
            before = t
            if not catalog.exempt(n.rule, "opt-out") and person.snoozed_until is not None and t < person.snoozed_until:
                t = person.snoozed_until
            if not catalog.exempt(n.rule, "pause") and cohort is not None:
                if cohort.paused:
                    t = max(t, now + timedelta(hours=12))  # indefinite pause: look again later
                if cohort.paused_until is not None and t < cohort.paused_until:
                    t = cohort.paused_until
                day = local_date(t, tz)
                for w in weeks:
                    if w.starts_on <= day <= w.ends_on:
                        t = local_at(w.ends_on + timedelta(days=1), time(0, 0), tz)
                        day = local_date(t, tz)
            held = held or t != before
            t = after_quiet_hours(t, tz, qs, qe)
            if t == now:
                t = self._after_caps(s, n, person, p, tz, now)
            if t == before:
                break
        return t, held

    def _after_caps(self, s: Session, n: Nudge, person: Person, p: Policy, tz: str, now: datetime) -> datetime:
        return cap_release_at(s, pk(person), n.rule, p, tz, now, other_than=n.id)


def cap_release_at(
    s: Session, person_id: int, rule: str, p: Policy, tz: str, now: datetime, *, other_than: int | None = None
) -> datetime:
    """When the daily and weekly caps let a `rule` DM go to the person: `now`, or the moment a slot frees."""
    week_ago = now - timedelta(days=7)
    in_flight = and_(col(Nudge.status) == "claimed", col(Nudge.sent_at).is_not(None), col(Nudge.claimed_until) > now)
    sent = sorted(
        s.execute(
            select(col(Nudge.sent_at), col(Nudge.rule)).where(
                col(Nudge.person_id) == person_id,
                col(Nudge.id) != (other_than if other_than is not None else -1),
                col(Nudge.sent_at) > week_ago,
                or_(col(Nudge.status) == "sent", in_flight),
            )
        ).all()
    )
    today_start = local_at(local_date(now, tz), time(0, 0), tz)
    if not catalog.exempt(rule, "daily-cap"):
        today = [t for t, other in sent if t >= today_start and not catalog.exempt(other, "daily-cap")]
        if len(today) >= p.daily_cap:
            return local_at(local_date(now, tz) + timedelta(days=1), time(0, 0), tz)
    if not catalog.exempt(rule, "weekly-cap"):
        times = [t for t, other in sent if not catalog.exempt(other, "weekly-cap")]
        if len(times) >= p.weekly_cap:
            weekly_from: datetime = times[len(times) - p.weekly_cap] + timedelta(days=7)
            return weekly_from
    return now
