"""Serving darebot's Slack app: HTTP mode (aiohttp) or Socket Mode, until SIGINT/SIGTERM.

`serve` builds the app (adapters.wiring.build_slack), asks Slack which workspace a single token
serves, starts the nudge scheduler and, in HTTP mode, the aiohttp server that carries the events
endpoint, /healthz, /metrics, the instructors' dashboard and (OAuth) the install pages. The
listeners themselves are in adapters/slack_app.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
from collections.abc import Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_http
from adapters.config import Settings
from adapters.dashboard import add_dashboard_routes
from adapters.health import HealthServer, Probe
from adapters.health import add_routes as add_health_routes
from adapters.heap import release_heap, settle_heap
from adapters.slack_app import SlackAdapter

log = logging.getLogger("darebot.slack")

EVENTS_PATH = "/slack/events"
SOCKET_RETRY_FIRST, SOCKET_RETRY_MAX = 2.0, 60.0


class Connection:
    """For /healthz: whether darebot is connected to Slack. HTTP mode: serving means connected;
    Socket Mode sets `probe` to the socket's real state."""

    def __init__(self) -> None:
        self.probe: Callable[[], bool] | None = None

    def __call__(self) -> bool:
        return bool(self.probe()) if self.probe is not None else True


def web_app(adapter: SlackAdapter, connection: Callable[[], bool] | None = None) -> web.Application:
    """The aiohttp application: Slack's events, /healthz and /metrics, the dashboard, OAuth pages."""
    webapp = web.Application()
    settings = adapter.settings
    verifier = SignatureVerifier(settings.slack_signing_secret) if settings.slack_signing_secret else None
    connected = connection or Connection()

    async def events(request: web.Request) -> web.Response:
        try:
            raw, body = await slack_http.admit(request, verifier)
        except slack_http.Refused as err:
            return slack_http.refusal(err, request)
        # bolt gets the body as the front parsed it, not the raw text to parse again: under a burst the
        # second parse was a tenth of the event loop's time, and bolt reads any form body containing
        # the word "payload" (a command's text, say) as an interaction and finds nothing.
        bolt_req = AsyncBoltRequest(body="", query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
        bolt_req.raw_body = raw
        bolt_req.body = body
        bolt_req.context = build_async_context(AsyncBoltContext({}), body)
        bolt_resp = await adapter.app.async_dispatch(bolt_req)
        return await to_aiohttp_response(bolt_resp)

    webapp.router.add_post(EVENTS_PATH, events)
    add_health_routes(webapp, Probe(adapter.engine.db, "slack", lambda: connected()))
    add_dashboard_routes(webapp, adapter.engine, settings)  # the instructors' dashboard, same server
    flow = adapter.app.oauth_flow
    if flow is not None:

        async def install(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

        async def callback(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

        webapp.router.add_get(flow.install_path, install)
        webapp.router.add_get(flow.redirect_uri_path, callback)

    async def on_cleanup(_app: web.Application) -> None:
        await adapter.drain()
        await slack_http.close_response_session()

    webapp.on_cleanup.append(on_cleanup)
    return webapp


def run_slack(
    settings: Settings,
    *,
    http: bool,
    port: int = 3000,
    host: str = "0.0.0.0",
    health_port: int | None = None,
    health_host: str = "0.0.0.0",
) -> None:
    """`darebot run --platform slack [--http --port N]`: serve until SIGINT/SIGTERM."""
    check_settings(settings, http=http)
    asyncio.run(serve(settings, http=http, port=port, host=host, health_port=health_port, health_host=health_host))


def check_settings(settings: Settings, *, http: bool) -> None:
    """Stop before serving when the chosen mode lacks a setting (the rule: adapters/preflight.py)."""
    from adapters.preflight import slack_settings_problem

    problem = slack_settings_problem(settings, http=http)
    if problem:
        raise SystemExit(f"darebot cannot start for Slack: {problem}.")


async def _until(stop: asyncio.Event, aw: Any) -> tuple[bool, Any]:
    """Await `aw` unless `stop` is set first (then `aw` is cancelled): (finished, its result)."""
    task = asyncio.ensure_future(aw)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return False, None


async def serve(
    settings: Settings,
    *,
    http: bool,
    port: int,
    host: str = "0.0.0.0",
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
    health_port: int | None = None,
    health_host: str = "0.0.0.0",
    scheduler: bool = True,
    reuse_port: bool = False,
) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM), whether connecting, retrying or serving.
    `on_ready(port)` is called once serving. `scheduler=False` (the extra --workers processes): no
    sweep here, only delivering (in the background) what a command queued; `reuse_port`: share
    the port with the other workers."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    fatal: list[str] = []
    connection = Connection()

    def on_fatal(reason: str) -> None:  # storage is gone (logged CRITICAL by storage): stop, exit non-zero
        fatal.append(reason)
        loop.call_soon_threadsafe(stop.set)

    signals: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            signals.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    health: HealthServer | None = None
    adapter: SlackAdapter | None = None
    nudges: Any = None
    try:
        from adapters.wiring import build_slack

        adapter = await asyncio.to_thread(build_slack, settings)
        adapter.engine.db.on_fatal = on_fatal
        nudges = adapter.nudges
        if adapter.gate is not None:
            await adapter.gate.identify()  # single-token mode: which workspace the token serves (auth.test)
        if health_port is not None:
            health = HealthServer(Probe(adapter.engine.db, "slack", connection), health_port, health_host)
            await asyncio.to_thread(health.start)
        if stop.is_set():
            return
        if nudges is not None:
            nudges.start(sweep=scheduler)
        if http:
            runner = web.AppRunner(web_app(adapter, connection), access_log=None, shutdown_timeout=5)
            await runner.setup()
            site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
            await site.start()
            settle_heap()
            bound = site._server.sockets[0].getsockname()[1] if site._server and site._server.sockets else port  # type: ignore[union-attr]
            log.info("darebot for Slack: POST http://%s:%d%s, GET /healthz, GET /metrics", host, bound, EVENTS_PATH)
            if on_ready:
                on_ready(bound)
            try:
                await stop.wait()
            finally:
                log.info("stopping: no new requests; finishing those under way")
                await runner.cleanup()
        else:
            await _serve_socket_mode(settings, adapter, connection, stop, on_ready)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if health is not None:
            await asyncio.to_thread(health.stop)
        if nudges is not None:
            await asyncio.to_thread(nudges.shutdown)
        if adapter is not None:
            adapter.engine.db.dispose()
        release_heap()
        log.info("stopped")
    if fatal:
        raise SystemExit(f"darebot stopped: {fatal[0]}")


async def _serve_socket_mode(
    settings: Settings,
    adapter: SlackAdapter,
    connection: Connection,
    stop: asyncio.Event,
    on_ready: Callable[[int], None] | None,
) -> None:
    """Connect (retrying with backoff while Slack is unreachable), then serve until `stop`."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(
        adapter.app, settings.slack_app_token, web_client=AsyncWebClient(base_url=adapter.base_url)
    )

    def connected() -> bool:
        client = handler.client
        session = getattr(client, "current_session", None)
        return session is not None and not session.closed and not getattr(client, "closed", False)

    connection.probe = connected
    delay = SOCKET_RETRY_FIRST
    try:
        while not stop.is_set():
            try:
                finished, _ = await _until(stop, handler.connect_async())
            except Exception as err:  # unreachable, refused, or Slack said no: try again later
                wait = delay * (0.8 + 0.4 * random.random())
                log.warning("Socket Mode connection failed (%s); retrying in %.0f s", err or type(err).__name__, wait)
                await _until(stop, asyncio.sleep(wait))
                delay = min(delay * 2, SOCKET_RETRY_MAX)
                continue
            if not finished:
                break
            log.info("darebot for Slack: connected over Socket Mode")
            settle_heap()
            if on_ready:
                on_ready(0)
            await stop.wait()
    finally:
        log.info("stopping: closing the Socket Mode connection")
        try:
            await asyncio.wait_for(handler.close_async(), 5)
        except Exception:
            log.warning("Socket Mode connection did not close cleanly", exc_info=True)
        await adapter.drain()
        await slack_http.close_response_session()
