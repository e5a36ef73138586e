"""GET /healthz and GET /metrics, in every mode.

`add_routes(app, probe)` adds both to an aiohttp application (Slack HTTP mode serves them on its own port);
`HealthServer` runs them on `--health-port` in a thread of their own, beside any platform's event loop.
/healthz answers 200 only when the database answers a real query and the platform connection is up; else 503.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger("darebot.health")


class Probe:
    """What /healthz reports: the database (a real query) and the platform's connection (a callable)."""

    def __init__(self, db: Any, platform: str, connected: Callable[[], bool]) -> None:
        self.db = db
        self.platform = platform
        self.connected = connected

    def check(self) -> tuple[bool, dict[str, Any]]:
        from storage.health import check_database, held_workspaces

        body: dict[str, Any] = {"platform": self.platform}
        # A real query, and on SQLite that the file opened is still the file at its path.
        db_ok, detail = check_database(self.db)
        body["database"] = detail if db_ok else f"error: {detail}"
        # Workspaces whose token the platform rejected: up, but their DMs are held (not a 503).
        body["held_workspaces"] = held_workspaces(self.db) if db_ok else []
        try:
            up = bool(self.connected())
        except Exception:
            up = False
        body["connected"] = up
        body["ok"] = db_ok and up
        return body["ok"], body


PROBE_KEY: web.AppKey[Probe] = web.AppKey("darebot_probe", Probe)


async def _healthz(request: web.Request) -> web.Response:
    ok, body = await asyncio.to_thread(request.app[PROBE_KEY].check)
    return web.json_response(body, status=200 if ok else 503)


async def _metrics(request: web.Request) -> web.Response:
    payload = await asyncio.to_thread(generate_latest, REGISTRY)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application, probe: Probe) -> None:
    """GET /healthz and GET /metrics on `app`."""
    from adapters.metrics import watch_outbox

    watch_outbox(probe.db)
    app[PROBE_KEY] = probe
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)


class HealthServer:
    """/healthz and /metrics on their own port, served from a daemon thread with its own event loop."""

    def __init__(self, probe: Probe, port: int, host: str = "0.0.0.0") -> None:
        self.probe, self.host, self.port = probe, host, port
        self.bound = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name="darebot-health", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as err:
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        add_routes(app, self.probe)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound = sockets[0].getsockname()[1] if sockets else self.port
        log.info("health and metrics on http://%s:%d/healthz and /metrics", self.host, self.bound)

    def start(self) -> HealthServer:
        self._thread.start()
        self._ready.wait(15)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
