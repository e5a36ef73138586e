"""Prometheus metrics (prometheus-client): what the engine and coach report through bot.ports.Observer, DM
outcomes counted by wrapping the Messenger port, and the outbox read from the database at each scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from bot.ports import Messenger, PermanentSendError, Sent, TransientSendError
from bot.replies import Reply

log = logging.getLogger("darebot.metrics")

COMMANDS = Counter(
    "darebot_commands", "Commands and button presses handled, by name and outcome", ["command", "outcome"]
)
COMMAND_SECONDS = Histogram(
    "darebot_command_seconds",
    "Time to handle a command, database work included",
    ["command"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DMS = Counter(
    "darebot_dms", "DM attempts by outcome: sent, retry (transient failure) or failed (permanent)", ["outcome"]
)
for _outcome in ("sent", "retry", "failed"):  # shown as 0 from the start, so rates work at once
    DMS.labels(_outcome)
SWEEP_SECONDS = Histogram(
    "darebot_sweep_seconds",
    "Duration of one nudge-planning sweep",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SWEEP_PLANNED = Counter("darebot_sweep_planned", "Nudges planned by sweeps")


class PrometheusObserver:
    """bot.ports.Observer for Prometheus: set it as `engine.observer` and `nudges.observer`."""

    def command(self, name: str, outcome: str, seconds: float) -> None:
        COMMANDS.labels(name, outcome).inc()
        COMMAND_SECONDS.labels(name).observe(seconds)

    def sweep(self, seconds: float, planned: int) -> None:
        SWEEP_SECONDS.observe(seconds)
        SWEEP_PLANNED.inc(planned)


class CountingMessenger:
    """A Messenger that counts what happens to each DM, then passes the outcome on unchanged."""

    def __init__(self, inner: Messenger) -> None:
        self.inner = inner

    def send_dm(
        self, workspace_external_id: str, user_id: str, reply: Reply, *, key: str = "", check: bool = False
    ) -> Sent:
        try:
            sent = self.inner.send_dm(workspace_external_id, user_id, reply, key=key, check=check)
        except TransientSendError:
            DMS.labels("retry").inc()
            raise
        except PermanentSendError:
            DMS.labels("failed").inc()
            raise
        DMS.labels("sent").inc()
        return sent

    def __getattr__(self, name: str) -> Any:  # attach(), clients, ... of the wrapped messenger
        return getattr(self.inner, name)


class OutboxCollector(Collector):
    """darebot_outbox_pending and darebot_outbox_oldest_pending_seconds, queried at scrape time."""

    def __init__(self, db: Any, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.db = db
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from sqlalchemy import func, select

        from storage.models import Nudge, nudge_status_is

        pending = GaugeMetricFamily("darebot_outbox_pending", "DMs planned and due but not yet sent")
        oldest = GaugeMetricFamily(
            "darebot_outbox_oldest_pending_seconds", "How long the oldest due, unsent DM has waited (0 when none)"
        )
        claimed = GaugeMetricFamily("darebot_outbox_claimed", "DMs claimed by a process and being sent")
        try:
            now = self.now()
            with self.db.session() as s:
                count, first = s.execute(
                    select(func.count(), func.min(Nudge.due_at)).where(nudge_status_is("pending"), Nudge.due_at <= now)
                ).one()
                in_flight = s.execute(select(func.count()).where(nudge_status_is("claimed"))).scalar() or 0
        except Exception as err:  # a scrape must not fail because the database is down: /healthz says so
            log.warning("outbox metrics unavailable: %s", err)
            return
        age = 0.0
        if first is not None:
            first = first if first.tzinfo else first.replace(tzinfo=UTC)
            age = max(0.0, (now - first).total_seconds())
        pending.add_metric([], float(count or 0))
        oldest.add_metric([], age)
        claimed.add_metric([], float(in_flight))
        yield pending
        yield oldest
        yield claimed


_outbox: OutboxCollector | None = None


def watch_outbox(db: Any, registry: CollectorRegistry = REGISTRY) -> None:
    """Register (once per process) the outbox gauges for `db`; a later call points them at a new db."""
    global _outbox
    if _outbox is None:
        _outbox = OutboxCollector(db)
        registry.register(_outbox)
    else:
        _outbox.db = db
