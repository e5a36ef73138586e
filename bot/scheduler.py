"""The coach's clockwork: sweep (plan) and deliver, by hand, simulated, or on APScheduler.

This is the only module that imports apscheduler. Jobs are re-added at every start with fixed ids
and `replace_existing=True` in an in-memory job store: they carry no pickled state, only a bound
method that re-reads the database when it fires. The database is the source of truth, so a restart
loses nothing: the first sweep after it plans whatever fell due meanwhile.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import col

from bot import dedupe
from bot.clock import Clock, ManualClock
from bot.nudges import share
from bot.nudges.delivery import Delivery
from bot.nudges.planner import plan
from bot.nudges.policy import DEFAULT_POLICY, Policy
from bot.ports import Messenger, NoObserver, Observer
from bot.privacy import Purged, purge_due
from storage.db import Database
from storage.models import Nudge, Person, Workspace, nudge_status_is

log = logging.getLogger("darebot.scheduler")

SWEEP_JOB = "darebot:sweep"
DIGEST_JOB = "darebot:digests"
KICK_JOB = "darebot:kick"
PURGE_JOB = "darebot:purge"
DIGEST_RULES = frozenset({"digest", "instructor-digest"})


class NudgeScheduler:
    """Plans and delivers the nudges of every workspace on one platform."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        messenger: Messenger,
        *,
        platform: str,
        sweep_seconds: int = 60,
        worker_id: str | None = None,
        policy: Policy | None = None,
        sweep_processes: int | None = None,
    ) -> None:
        self.db, self.clock, self.messenger, self.platform = db, clock, messenger, platform
        self.sweep_processes = sweep_processes  # None: planner's default (bot.nudges.share)
        self.sweep_seconds = sweep_seconds
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.policy = policy or DEFAULT_POLICY
        self.delivery = Delivery(
            db,
            clock,
            messenger,
            platform=platform,
            worker_id=self.worker_id,
            policy=self.policy,
            realtime=not isinstance(clock, ManualClock),
        )
        self._lock = threading.RLock()  # one sweep/delivery at a time in this process
        self._scheduler = None
        self._helpers_warm = False  # warm_up_helpers has started the sweep helpers' fork server
        self.observer: Observer = NoObserver()  # sweep durations, for metrics

    # --- the steps ----------------------------------------------------------------------------

    def sweep(self) -> int:
        """Plan the nudges due at clock.now() (and up to policy.plan_ahead later); rows planned."""
        started = time.perf_counter()
        with self._lock, self.db.session() as s:
            planned = plan(s, self.clock.now(), self.policy, platform=self.platform, processes=self.sweep_processes)
        try:
            self.observer.sweep(time.perf_counter() - started, planned)
        except Exception:  # metrics must never stop the nudges
            log.exception("observer failed")
        return planned

    def sweep_digests(self) -> int:
        with self._lock, self.db.session() as s:
            return plan(
                s,
                self.clock.now(),
                self.policy,
                platform=self.platform,
                rules=DIGEST_RULES,
                processes=self.sweep_processes,
            )

    def purge(self) -> Purged:
        """Delete what is past its cohort's retention, and workspaces uninstalled 30 days ago."""
        with self._lock, self.db.session() as s:
            done = purge_due(s, self.clock.now(), platform=self.platform)
        if done.cohorts or done.workspaces:
            log.info(
                "retention: %d cohort(s) reduced to anonymous totals (%d people erased), %d workspace(s) deleted",
                done.cohorts,
                done.people,
                done.workspaces,
            )
        return done

    def deliver_due(self, limit: int = 100) -> int:
        """Send what is due at clock.now(); returns DMs sent."""
        with self._lock:
            return self.delivery.run(limit)

    def tick(self) -> None:
        with self._lock:
            try:
                self.sweep()
            except Exception:  # what was planned before still goes out
                log.exception("sweep failed; delivering what is already planned")
            self.deliver_due()
            try:
                with self.db.session() as s:
                    dedupe.purge_expired(s, self.clock.now())
            except Exception:
                log.exception("purging expired double-submission keys failed")

    def next_due(self) -> datetime | None:
        """The earliest moment a pending row of this platform falls due."""
        with self.db.session() as s:
            return s.execute(
                select(func.min(Nudge.due_at))
                .join(Workspace, col(Workspace.id) == Nudge.workspace_id)
                .where(col(Workspace.platform) == self.platform, nudge_status_is("pending"))
            ).scalar()

    def simulate_until(self, until: datetime, step: timedelta = timedelta(minutes=15)) -> None:
        """ManualClock only: move time to `until`, delivering at every moment a DM falls due, so DMs
        come out in order at their due times (the console's /wait).

        Nothing but this loop changes the database meanwhile, so the sweep runs at the start and then
        every `max(step, plan_ahead / 12)` of simulated time: planning looks `plan_ahead` ahead, so
        every nudge is planned well before it falls due; between sweeps the clock jumps from one due
        moment to the next instead of crawling."""
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("simulate_until needs a ManualClock")
        if until.tzinfo is None:
            raise ValueError("until must be timezone-aware")
        cadence = max(step, self.policy.plan_ahead / 12)
        self.sweep()
        last_sweep = clock.now()
        self.deliver_due()
        while clock.now() < until:
            next_sweep = last_sweep + cadence
            target = min(until, next_sweep)
            nxt = self.next_due()
            if nxt is not None and clock.now() < nxt < target:
                target = nxt
            clock.set(target)
            if clock.now() >= next_sweep:
                self.sweep()
                last_sweep = clock.now()
            nxt = self.next_due()
            if nxt is not None and nxt <= clock.now():
                self.deliver_due()
        self.purge()  # retention falls due on the simulated clock too

    def kick(self) -> None:
        """Deliver now: in the background when the scheduler runs, else right here."""
        sched = self._scheduler
        if sched is not None and sched.running:
            sched.add_job(self._job_deliver, id=KICK_JOB, replace_existing=True, name="deliver now")
        else:
            self.deliver_due()

    # --- real time ----------------------------------------------------------------------------

    def _job_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception("sweep failed")

    def _job_deliver(self) -> None:
        try:
            self.deliver_due()
        except Exception:
            log.exception("delivery failed")

    def _job_purge(self) -> None:
        try:
            self.purge()
        except Exception:
            log.exception("retention purge failed")
        self.warm_up_helpers()  # hourly too: a campus imported after the start gets its fork server

    def _job_digests(self) -> None:
        try:
            self.sweep_digests()
            self.deliver_due()
        except Exception:
            log.exception("digest sweep failed")

    def start(self, *, sweep: bool = True) -> None:
        """APScheduler in a background thread: the sweep every `sweep_seconds`, digests hourly.
        `sweep=False` (extra server processes, one of which sweeps): only `kick` deliveries."""
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self._scheduler is not None and self._scheduler.running:
            return
        sched = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(self.sweep_seconds, 30)},
        )
        if sweep:
            sched.add_job(
                self._job_tick,
                IntervalTrigger(seconds=self.sweep_seconds, timezone=UTC),
                id=SWEEP_JOB,
                name="sweep and deliver",
                replace_existing=True,
                next_run_time=datetime.now(UTC),
            )
            # Digests fall due on the hour in each person's zone; the sweep plans them too, this job
            # makes sure they go out on time even with a long sweep interval.
            sched.add_job(
                self._job_digests,
                CronTrigger(minute=0, second=5, timezone=UTC),
                id=DIGEST_JOB,
                name="weekly digests",
                replace_existing=True,
            )
            # Retention and the uninstall purge: with the sweep, so one process runs them.
            sched.add_job(
                self._job_purge,
                IntervalTrigger(hours=1, timezone=UTC),
                id=PURGE_JOB,
                name="retention purge",
                replace_existing=True,
                next_run_time=datetime.now(UTC),
            )
        sched.start()
        self._scheduler = sched

    def warm_up_helpers(self) -> None:
        """With enough people on this platform for a shared sweep, start the helpers' fork server (once), so
        the big sweep that follows a roster import or a new term gets its helper at once (bot.nudges.share).
        Run with the retention purge: at start and hourly."""
        if self._helpers_warm or (self.sweep_processes is not None and self.sweep_processes < 2):
            return
        if share.shareable_url(self.db.engine) is None:
            return
        try:
            with self.db.session() as s:
                people = s.execute(
                    select(func.count())
                    .select_from(Person)
                    .join(Workspace, col(Workspace.id) == col(Person.workspace_id))
                    .where(col(Workspace.platform) == self.platform)
                ).scalar_one()
        except Exception:  # the sweep will say what is wrong with the database
            log.warning("could not count the people a sweep may share with helpers", exc_info=True)
            return
        if people >= share.SHARE_MIN:
            self._helpers_warm = True
            share.warm_up()

    def shutdown(self) -> None:
        """Stop the scheduler (a delivery under way finishes), then release any row still claimed here
        so another process can send it at once instead of after the claim expires."""
        sched, self._scheduler = self._scheduler, None
        if sched is not None and sched.running:
            sched.shutdown(wait=True)
        try:
            self.delivery.recover()
        except Exception:  # the database may be the reason we are stopping
            log.warning("could not release claimed DMs at shutdown", exc_info=True)
