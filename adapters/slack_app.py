"""darebot on Slack: bolt's AsyncApp on aiohttp (HTTP mode) or Socket Mode.

Why async: the issue's measurement (500 signed commands at concurrency 20) gave bolt's sync dev
server p99 3–5 s with ~1 % refused, and AsyncApp on aiohttp p99 16–32 ms with none refused. The
engine is synchronous, so every engine call runs in a worker thread (asyncio.to_thread) and the
event loop only acknowledges, renders and talks to Slack. A 429 on the async client is waited out
by slack_sdk's AsyncRateLimitErrorRetryHandler with asyncio.sleep, so it blocks neither other
workspaces nor new acknowledgements.

Translation only: Slack payload -> WorkspaceRef/Actor -> engine call -> Reply -> Block Kit.
Acknowledgement: a slash command's reply is put in the ack itself when the engine answers within
ACK_BUDGET seconds (no extra round trip) and no other command is waiting for it; otherwise the
command is acked at once and answered through response_url (adapters/deadline.py). Work after
the ack runs in its own task, so a failure there can't change the HTTP answer Slack already got.
Retried deliveries record once (engine.first_time).

After the answer: a reply's file (CSV export) and image (the report's chart) are uploaded to the
person's DM; the person's App Home is republished (at most once per HOME_REFRESH_SECONDS, the last
change always shown); board page buttons replace the board they sit on instead of adding a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import re
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_http
from adapters import slack_render as render
from adapters.config import Settings
from adapters.dashboard import add_dashboard_routes
from adapters.deadline import BUDGET as ACK_BUDGET
from adapters.deadline import BUSY_BUDGET, ENGINE, answer_in_time
from adapters.health import HealthServer, Probe
from adapters.health import add_routes as add_health_routes
from adapters.slack_messenger import ClientPool, SlackDirectory, api_base_url
from bot import dedupe
from bot.errors import DareError, UsageError
from bot.identity import Actor, WorkspaceRef
from bot.ports import EngineAPI
from bot.replies import OOPS, Reply, error_reply

log = logging.getLogger("darebot.slack")

HOME_REFRESH_SECONDS = 5.0  # a person's App Home is republished at most once in this many seconds
# A refresh waits this long after the command that asked for it, so a class-wide burst is answered
# first and each person's commands within the wait fold into one publish.
HOME_SETTLE_SECONDS = 0.5
ALT_TEXT = 1000  # files.getUploadURLExternal: alt_txt is at most 1000 characters
EVENTS_PATH = "/slack/events"
ADAPTER_KEY: web.AppKey[SlackAdapter] = web.AppKey("darebot.slack")  # type: ignore[name-defined]


class SlackAdapter:
    """The bolt app with darebot's listeners, and the ports (messenger, directory) it shares."""

    def __init__(
        self,
        settings: Settings,
        engine: EngineAPI,
        *,
        nudges: Any = None,
        clients: ClientPool,
        directory: SlackDirectory,
        store: Any = None,
    ) -> None:
        """Built by adapters.wiring.build_slack, which gives the engine the same directory."""
        self.settings = settings
        self.engine = engine
        self.nudges = nudges
        self.base_url = api_base_url(settings.slack_api_url)
        self.oauth = oauth_mode(settings)
        self.store = store
        self.clients = clients
        self.directory = directory
        self._tasks: set[asyncio.Task[Any]] = set()
        self._homes: dict[tuple[str, str], _HomeState] = {}  # (team, user) -> App Home refresh state
        self.client = AsyncWebClient(
            token=None if self.oauth else settings.slack_bot_token,
            base_url=self.base_url,
            retry_handlers=[AsyncConnectionErrorRetryHandler(), AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
        )
        kwargs: dict[str, Any] = {
            "signing_secret": settings.slack_signing_secret,
            "client": self.client,
            "name": "darebot",
            # Listeners return right after ack() and hand slow work to tracked tasks, so bolt may
            # wait for them before answering: the answer then always follows the ack it carries.
            "process_before_response": True,
            # The HTTP front (adapters/slack_http.py) verifies every request before anything parses it;
            # bolt's own check would come after its parser and log failing bodies.
            "request_verification_enabled": False,
        }
        if self.oauth:
            from adapters.slack_oauth import oauth_settings

            kwargs["oauth_settings"] = oauth_settings(
                client_id=settings.slack_client_id or "",
                client_secret=settings.slack_client_secret or "",
                store=store,
            )
        self.app = AsyncApp(**kwargs)
        self.verifier = SignatureVerifier(settings.slack_signing_secret) if settings.slack_signing_secret else None
        # Single-token mode: the workspace the token belongs to (auth.test, see identify()).
        self.home_team: str | None = None
        self.home_enterprise: str | None = None
        slack_http.quiet_library_logs()
        self._register()

    # -- tokens and people --------------------------------------------------------------------

    def _actor(self, team_id: str, user_id: str, fallback: str = "") -> Actor:
        """Sync (in a worker thread): the display name and zone from users.info, cached."""
        profile = self.directory.profile(team_id, user_id)
        if profile is not None:
            return Actor(user_id, profile.name, profile.tz)
        return Actor(user_id, fallback or user_id, None)

    @staticmethod
    def _ws(team_id: str, name: str = "") -> WorkspaceRef:
        return WorkspaceRef("slack", team_id, name)

    def _spawn(self, coro: Awaitable[Any], what: str) -> asyncio.Task[Any]:
        """Work after the ack: its own task, failures logged, never raised into bolt."""

        async def guarded() -> None:
            try:
                await coro
            except Exception:
                log.exception("slack: %s failed after the ack", what)

        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for work still running after acks (tests, shutdown). App Home refreshes held back
        by the debounce go out now rather than waiting for their window."""
        while self._tasks:
            for state in self._homes.values():
                state.flush.set()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _engine(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return ENGINE.submit(fn, *args)

    def _background(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        """Engine work nobody is waiting on (App Home): only when no command is waiting."""
        return ENGINE.submit(fn, *args, background=True)

    # -- listeners ----------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        if not self.oauth:
            app.use(self._only_home_team)
        app.command("/dare")(self.on_command)
        app.action(re.compile(r"^darebot:"))(self.on_action)
        app.view_submission(re.compile(r"^darebot\.form:"))(self.on_view_submission)
        app.view_closed(re.compile(r"^darebot\."))(self.on_view_closed)
        app.event("app_home_opened")(self.on_home_opened)
        app.event("app_uninstalled")(self.on_uninstalled)
        app.event("tokens_revoked")(self.on_tokens_revoked)
        app.error(self.on_error)

    async def identify(self) -> None:
        """Single-token mode: ask Slack (auth.test) which workspace the token belongs to."""
        if self.oauth:
            return
        try:
            found = await self.client.auth_test()
        except SlackApiError as err:
            log.error("slack: auth.test refused the bot token (%s); requests are refused until it works",
                      err.response.get("error"))
            return
        except Exception as err:  # Slack unreachable at start: bolt's own auth.test decides per request
            log.warning("slack: auth.test failed (%s); the workspace is checked on each request", type(err).__name__)
            return
        self.home_team = found.get("team_id") or None
        self.home_enterprise = found.get("enterprise_id") if found.get("is_enterprise_install") else None
        log.info("slack: serving workspace %s only (single-token mode)", self.home_team)
        if self.home_team:
            from storage.health import release_held

            if await asyncio.to_thread(release_held, self.engine.db, "slack", self.home_team):
                log.warning("slack: the token for %s works again; its held DMs go out now", self.home_team)

    async def _only_home_team(self, context: Any, body: dict[str, Any], next: Callable[[], Awaitable[Any]]) -> Any:
        """Single-token mode serves the token's own workspace: any other team (or none) is told so
        politely and nothing reaches the engine."""
        home, enterprise = self.home_team, self.home_enterprise
        if home is None:
            result = context.authorize_result  # bolt asked auth.test for it too
            home = getattr(result, "team_id", None)
            enterprise = (getattr(result, "enterprise_id", None)
                          if getattr(result, "is_enterprise_install", False) else None)
        team = context.team_id or ""
        if team and (team == home or (enterprise and context.enterprise_id == enterprise)):
            return await next()
        log.warning("slack: refused a request from workspace %r: this install serves %s only", team[:20], home)
        if body.get("command"):
            return BoltResponse(status=200, body=json.dumps({
                "response_type": "ephemeral",
                "text": "Sorry, this darebot serves a different Slack workspace, so nothing was done here. "
                        "Ask your admin to install darebot for this workspace."}),
                headers={"content-type": "application/json"})
        return BoltResponse(status=200, body="")

    async def on_error(self, error: Exception, body: dict[str, Any], logger: logging.Logger) -> None:
        log.error("slack listener error: %r", error, exc_info=error)

    # slash command ----------------------------------------------------------------------------

    def _command_sync(self, team_id: str, user_id: str, user_name: str, text: str,
                      team_name: str = "") -> tuple[Actor, Reply]:
        actor = self._actor(team_id, user_id, user_name)
        return actor, self.engine.handle_text(self._ws(team_id, team_name), actor, render.neutral_mentions(text))

    async def on_command(self, ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        team_id = body.get("team_id") or ""
        user_id = body.get("user_id") or ""
        text = body.get("text") or ""
        result, pending = await answer_in_time(
            lambda: self._command_sync(team_id, user_id, body.get("user_name", ""), text, body.get("team_domain", "")),
            budget=ACK_BUDGET, when_busy=BUSY_BUDGET, what="slack command")
        if pending is not None:
            await ack()
            self._spawn(self._finish_command_late(pending, body, respond, client), "slow command")
            return
        actor, reply = _actor_and_reply(result)
        if reply.form and actor is not None:
            await ack()
            self._spawn(self._open_form(client, team_id, actor, reply.form,
                                        body.get("trigger_id", ""), body.get("channel_id", "")), "open form")
            return
        await ack(**self._ack_message(reply))
        self._after_answer(client, team_id, user_id, reply, respond)

    @staticmethod
    def _ack_message(reply: Reply) -> dict[str, Any]:
        msg = render.render_message(reply)
        return {"text": msg["text"], "blocks": msg["blocks"],
                "response_type": "ephemeral" if reply.ephemeral else "in_channel"}

    async def _finish_command_late(self, work: Awaitable[Any], body: dict[str, Any],
                                   respond: Any, client: AsyncWebClient) -> None:
        actor, reply = _actor_and_reply(await work)
        if reply.form and actor is not None:
            try:  # the trigger_id may still be inside its 3 seconds
                await self._open_form(
                    client, body.get("team_id", ""), actor,
                    reply.form, body.get("trigger_id", ""), body.get("channel_id", "")
                )
                return
            except Exception as err:  # expired_trigger_id: say how to use the command instead
                log.info("slack: late modal not opened: %s", err)
                await self._respond(respond, Reply(title=reply.title, sections=reply.sections, ephemeral=True))
                return  # nothing was done: no App Home to refresh
        await self._respond(respond, reply)
        self._after_answer(client, body.get("team_id", ""), body.get("user_id", ""), reply, respond)

    async def _respond(self, respond: Any, reply: Reply, *, replace: bool = False) -> None:
        """Answer through response_url: a new message, or (`replace`) in place of the one whose
        button was pressed; an ephemeral message can only be changed this way."""
        msg = render.render_message(reply)
        await slack_http.post_response(
            respond,
            text=msg["text"],
            blocks=msg["blocks"],
            response_type="ephemeral" if reply.ephemeral else "in_channel",
            replace_original=replace,
        )

    def _after_answer(self, client: AsyncWebClient, team_id: str, user_id: str,
                      reply: Reply, respond: Any = None) -> None:
        """Once the answer is out, in the background: the reply's file and image go to the
        person's DM, and a successful action refreshes their App Home. Neither can change the
        answer; failures are logged (and an upload failure is told through `respond`)."""
        if reply.file is not None or reply.image is not None:
            self._spawn(self._send_files(client, user_id, reply, respond), "file upload")
        if not reply.is_error and not reply.form:
            self.refresh_home(client, team_id, user_id)

    async def _open_form(self, client: AsyncWebClient, team_id: str, actor: Actor,
                         name: str, trigger_id: str, channel_id: str) -> None:
        form = await self._engine(self.engine.form, self._ws(team_id), actor, name)
        view = render.render_modal(form, metadata={"channel": channel_id})
        await client.views_open(trigger_id=trigger_id, view=view)

    async def _send_files(self, client: AsyncWebClient, user_id: str, reply: Reply, respond: Any = None) -> None:
        """A reply's image (the report's chart) and file (a CSV export) go to the person's DM with
        the app, in one upload (files.getUploadURLExternal, the bytes, files.completeUploadExternal)."""
        uploads = file_uploads(reply)
        if not uploads or not user_id:
            return
        try:
            opened = await client.conversations_open(users=user_id)
            channel = (opened.get("channel") or {}).get("id")
            await client.files_upload_v2(channel=channel, file_uploads=uploads)
        except Exception as err:
            names = ", ".join(u["filename"] for u in uploads)
            log.exception("slack: sending %s to %s failed", names, user_id)
            if respond is None:
                return
            reason = str(err.response.get("error") or "error") if isinstance(err, SlackApiError) else "upload failed"
            await self._respond(respond, error_reply(
                f"{names} could not be sent to your DM with darebot ({reason}). Try the command again in a minute."))

    # buttons ----------------------------------------------------------------------------------

    async def on_action(self, ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        await ack()
        self._spawn(self._handle_action(body, respond, client), "button")

    async def _handle_action(self, body: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        team_id = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""
        user = body.get("user") or {}
        user_id = user.get("id", "")
        action = (body.get("actions") or [{}])[0]
        name = render.decode_action_id(action.get("action_id", ""))
        value = action.get("value") or ""
        trigger_id = body.get("trigger_id", "")
        key = f"slack:action:{team_id}:{trigger_id}:{action.get('action_id', '')}"
        public = dedupe.posts_publicly(name)
        if public:
            # Posting publicly happens once per message, however many clicks (each has its own trigger_id).
            container = body.get("container") or {}
            message = container.get("message_ts") or (body.get("message") or {}).get("ts") or trigger_id
            key = f"slack:post:{team_id}:{container.get('channel_id', '')}:{message}"
        if not await self._engine(self.engine.first_time, key):
            if public and body.get("response_url"):
                await self._respond(respond, error_reply(dedupe.ALREADY_POSTED))
            return
        actor = await self._engine(self._actor, team_id, user_id, user.get("username", ""))
        reply = await self._engine(self.engine.press, self._ws(team_id), actor, name, value)
        form_name = reply.form or ""
        if form_name:
            channel_id = (body.get("channel") or {}).get("id", "")
            await self._open_form(client, team_id, actor, form_name, trigger_id, channel_id)
            return
        if body.get("response_url"):
            # Page buttons turn the page of the board they sit on; an error leaves the board as it was.
            await self._respond(respond, reply, replace=reply.replaces_message)
            self._after_answer(client, team_id, user_id, reply, respond)
        else:  # a button in App Home or a modal: answer in the app's DM
            await client.chat_postMessage(channel=user_id, **render.render_message(reply))
            self._after_answer(client, team_id, user_id, reply)

    # modals -----------------------------------------------------------------------------------

    def _submit_sync(self, team_id: str, user_id: str, fallback: str, name: str,
                     state: dict[str, Any], view_id: str) -> tuple[str, Any, Any]:
        """("ok", reply, form) | ("errors", errors, form) | ("dup", None, form). In a worker thread."""
        ws = self._ws(team_id)
        actor = self._actor(team_id, user_id, fallback)
        form = self.engine.form(ws, actor, name)
        values = render.form_values(form, state)
        digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:24]
        try:
            # The key is stored with the write itself: a retried submission records once, and a
            # refused one can be corrected and sent again (even with the very same values).
            reply = self.engine.submit_form(ws, actor, name, values,
                                            idempotency_key=f"slack:view:{team_id}:{view_id}:{digest}")
        except UsageError as err:
            return "errors", render.field_errors(form, err.field, str(err)), form
        except DareError as err:
            return "errors", render.field_errors(form, None, str(err)), form
        if reply is None:
            return "dup", None, form
        return "ok", reply, form

    async def on_view_submission(self, ack: Any, body: dict[str, Any], view: dict[str, Any],
                                 client: AsyncWebClient) -> None:
        team_id = (body.get("team") or {}).get("id") or view.get("team_id") or ""
        user = body.get("user") or {}
        name = render.form_name(view.get("callback_id", "")) or ""
        state = (view.get("state") or {}).get("values") or {}
        result, pending = await answer_in_time(
            lambda: self._submit_sync(team_id, user.get("id", ""), user.get("username", ""), name, state,
                                      view.get("id", "")), budget=ACK_BUDGET, what=f"slack form {name}")
        if pending is not None:
            await ack()  # closes the modal; the answer follows by DM
            self._spawn(self._finish_submission_late(pending, client, team_id, user.get("id", "")), "slow submission")
            return
        if isinstance(result, Reply):  # the engine failed: say so on the form, keep what was typed
            blocks = view.get("blocks") or [{}]
            await ack(response_action="errors", errors={blocks[0].get("block_id", "contact"): OOPS})
            return
        outcome, payload, form = result
        if outcome == "errors":
            await ack(response_action="errors", errors=payload)
        elif outcome == "dup":
            await ack()
        else:
            await ack(response_action="update", view=render.render_result_modal(payload, title=form.title))
            self._after_answer(client, team_id, user.get("id", ""), payload)

    async def _finish_submission_late(self, work: Awaitable[Any], client: AsyncWebClient,
                                      team_id: str, user_id: str) -> None:
        result = await work
        outcome, payload, _form = ("ok", result, None) if isinstance(result, Reply) else result
        if outcome == "ok":
            reply = payload
        elif outcome == "errors":
            reply = error_reply("Nothing was saved: " + "; ".join(payload.values()))
        else:
            return
        await client.chat_postMessage(channel=user_id, **render.render_message(reply))
        self._after_answer(client, team_id, user_id, reply)

    async def on_view_closed(self, ack: Any) -> None:
        await ack()

    # events -----------------------------------------------------------------------------------

    # Event listeners only schedule their work: with process_before_response the HTTP answer
    # waits for the listener, so it must return at once; the work runs in a tracked task.

    async def on_home_opened(self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") == "home":
            self._spawn(self._publish_home(body, event, client), "app home")

    async def _publish_home(self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        team_id = body.get("team_id") or ""
        if not await self._engine(self.engine.first_time, f"slack:event:{team_id}:{body.get('event_id', '')}"):
            return
        await self._publish_home_now(client, team_id, event.get("user", ""))

    # App Home -----------------------------------------------------------------------------------

    def _home_state(self, team_id: str, user_id: str) -> _HomeState:
        key = (team_id, user_id)
        state = self._homes.get(key)
        if state is None:
            if len(self._homes) >= 1000:  # forget people idle for a window: their next publish is at once
                now = asyncio.get_running_loop().time()
                for old in [k for k, v in self._homes.items() if v.idle(now)]:
                    del self._homes[old]
            state = self._homes[key] = _HomeState()
        return state

    def refresh_home(self, client: AsyncWebClient, team_id: str, user_id: str) -> None:
        """Republish a person's App Home in the background, so the Home tab is never stale.

        At most one publish per person per HOME_REFRESH_SECONDS: the first goes out once the burst
        settles (HOME_SETTLE_SECONDS), never on the answer's path; what
        changes within the window is folded into one publish at its end, which reads the state as
        it is then, so the last change is always shown. Publishes for one person never overlap."""
        if not team_id or not user_id:
            return
        state = self._home_state(team_id, user_id)
        if state.pending:
            return  # a publish is already waiting and will read the newest state
        state.pending = True
        state.flush.clear()
        wait = max(HOME_SETTLE_SECONDS, state.last + HOME_REFRESH_SECONDS - asyncio.get_running_loop().time())
        self._spawn(self._refresh_home_after(client, team_id, user_id, state, wait), "app home refresh")

    async def _refresh_home_after(self, client: AsyncWebClient, team_id: str, user_id: str,
                                  state: _HomeState, wait: float) -> None:
        if wait > 0:
            with contextlib.suppress(TimeoutError):  # drain() (tests, shutdown) cuts the wait short
                await asyncio.wait_for(state.flush.wait(), wait)
        try:
            await self._publish_home_now(client, team_id, user_id, state=state)
        except SlackApiError as err:  # e.g. the Home tab turned off in the app's settings
            log.warning("slack: App Home of %s/%s not refreshed: %s", team_id, user_id, err.response.get("error"))

    async def _publish_home_now(self, client: AsyncWebClient, team_id: str, user_id: str,
                                *, state: _HomeState | None = None) -> None:
        home = state or self._home_state(team_id, user_id)
        async with home.lock:
            if state is not None:
                state.pending = False  # from here on, a new change needs a new publish
            home.last = asyncio.get_running_loop().time()
            actor = await self._background(self._actor, team_id, user_id, "")
            reply = await self._background(self.engine.home, self._ws(team_id), actor)
            await client.views_publish(user_id=user_id, view=render.render_home(reply))

    async def on_uninstalled(self, body: dict[str, Any]) -> None:
        team_id = body.get("team_id") or ""
        enterprise_id = body.get("enterprise_id")
        try:  # its dashboard links stop working before its tokens go
            await self._engine(self.engine.close_workspace, self._ws(team_id))
        except Exception:
            log.exception("slack: closing %s's dashboard links failed", team_id)
        if self.store is not None:
            self._spawn(self.store.async_delete_all(enterprise_id=enterprise_id, team_id=team_id), "uninstall")
        self._spawn(self._engine(self.engine.uninstalled, self._ws(team_id)), "uninstall mark")
        log.info("slack: uninstalled from %s; its tokens are deleted now, the rest of its data in 30 days "
                 "unless the app comes back", team_id)

    async def on_tokens_revoked(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if self.store is not None:
            self._spawn(self._revoke(body, event), "tokens_revoked")

    async def _revoke(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        team_id = body.get("team_id") or ""
        enterprise_id = body.get("enterprise_id")
        tokens = event.get("tokens") or {}
        if tokens.get("bot"):
            await self.store.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        for user_id in tokens.get("oauth") or []:
            await self.store.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)

    # -- the aiohttp application ------------------------------------------------------------------

    def web_app(self) -> web.Application:
        webapp = web.Application()
        webapp[ADAPTER_KEY] = self

        async def events(request: web.Request) -> web.Response:
            try:
                raw, body = await slack_http.admit(request, self.verifier)
            except slack_http.Refused as err:
                return slack_http.refusal(err, request)
            bolt_req = AsyncBoltRequest(body=raw, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
            if bolt_req.body != body:
                # bolt reads any form body containing the word "payload" (a command's text, say) as an
                # interaction and finds nothing: give it the body as the front parsed it.
                bolt_req.body = body
                bolt_req.context = build_async_context(AsyncBoltContext({}), body)
            bolt_resp = await self.app.async_dispatch(bolt_req)
            return await to_aiohttp_response(bolt_resp)

        webapp.router.add_post(EVENTS_PATH, events)
        add_health_routes(webapp, Probe(self.engine.db, "slack", lambda: self.connected()))
        add_dashboard_routes(webapp, self.engine, self.settings)  # the instructors' dashboard, same server
        flow = self.app.oauth_flow
        if flow is not None:

            async def install(request: web.Request) -> web.Response:
                return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

            async def callback(request: web.Request) -> web.Response:
                return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

            webapp.router.add_get(flow.install_path, install)
            webapp.router.add_get(flow.redirect_uri_path, callback)

        async def on_cleanup(_app: web.Application) -> None:
            await self.drain()
            await slack_http.close_response_session()

        webapp.on_cleanup.append(on_cleanup)
        return webapp


    def connected(self) -> bool:
        """For /healthz: set by serve() to the real connection state (HTTP mode: serving means connected)."""
        probe = getattr(self, "connection_probe", None)
        return bool(probe()) if probe is not None else True


class _HomeState:
    """One person's App Home refresh: when it was last published, whether a publish is waiting."""

    __slots__ = ("flush", "last", "lock", "pending")

    def __init__(self) -> None:
        self.last = float("-inf")  # event-loop time of the last publish
        self.pending = False
        self.flush = asyncio.Event()
        self.lock = asyncio.Lock()

    def idle(self, now: float) -> bool:
        return not self.pending and not self.lock.locked() and now - self.last > HOME_REFRESH_SECONDS


def file_uploads(reply: Reply) -> list[dict[str, Any]]:
    """files_upload_v2's file_uploads for a reply: its image (with alt text) and its file."""
    uploads: list[dict[str, Any]] = []
    if reply.image is not None:
        title = render.file_text(reply.title or reply.image.filename, 250)
        uploads.append({"filename": render.file_name(reply.image.filename), "content": reply.image.content,
                        "title": title,
                        "alt_txt": render.file_text(reply.image.alt or f"Chart: {title}", ALT_TEXT)})
    if reply.file is not None:
        name = render.file_name(reply.file.filename)
        uploads.append({"filename": name, "content": reply.file.content, "title": name})
    return uploads


def make_store(settings: Settings, db: Any) -> Any:
    from adapters.slack_oauth import DarebotInstallationStore

    if not settings.secret_key:
        raise SystemExit("Multi-workspace Slack (SLACK_CLIENT_ID/SECRET) needs DAREBOT_SECRET_KEY to encrypt tokens.")
    return DarebotInstallationStore(db, settings.secret_key, client_id=settings.slack_client_id or "")


def oauth_mode(settings: Settings) -> bool:
    """Several workspaces installing through OAuth, rather than one bot token."""
    return bool(settings.slack_client_id and settings.slack_client_secret and not settings.slack_bot_token)


def run_slack(settings: Settings, *, http: bool, port: int = 3000, host: str = "0.0.0.0",
              health_port: int | None = None, health_host: str = "0.0.0.0") -> None:
    """`darebot run --platform slack [--http --port N]`: serve until SIGINT/SIGTERM."""
    check_settings(settings, http=http)
    asyncio.run(serve(settings, http=http, port=port, host=host, health_port=health_port, health_host=health_host))


def check_settings(settings: Settings, *, http: bool) -> None:
    if http and not settings.slack_signing_secret:
        raise SystemExit("HTTP mode needs SLACK_SIGNING_SECRET.")
    if not http and not settings.slack_app_token:
        raise SystemExit("Socket Mode needs SLACK_APP_TOKEN (or use --http with a public URL).")
    if not settings.slack_bot_token and not (settings.slack_client_id and settings.slack_client_secret):
        raise SystemExit("Set SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for OAuth.")
    if not settings.slack_bot_token and not http:
        raise SystemExit("Multi-workspace OAuth needs HTTP mode (--http) for its install pages.")


SOCKET_RETRY_FIRST, SOCKET_RETRY_MAX = 2.0, 60.0


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
        await adapter.identify()  # single-token mode: which workspace the token serves (auth.test)
        if health_port is not None:
            health = HealthServer(Probe(adapter.engine.db, "slack", adapter.connected), health_port, health_host)
            await asyncio.to_thread(health.start)
        if stop.is_set():
            return
        if nudges is not None:
            nudges.start(sweep=scheduler)
        if http:
            runner = web.AppRunner(adapter.web_app(), access_log=None, shutdown_timeout=5)
            await runner.setup()
            site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
            await site.start()
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
            await _serve_socket_mode(settings, adapter, stop, on_ready)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if health is not None:
            await asyncio.to_thread(health.stop)
        if nudges is not None:
            await asyncio.to_thread(nudges.shutdown)
        if adapter is not None:
            adapter.engine.db.dispose()
        log.info("stopped")
    if fatal:
        raise SystemExit(f"darebot stopped: {fatal[0]}")


async def _serve_socket_mode(settings: Settings, adapter: SlackAdapter, stop: asyncio.Event,
                             on_ready: Callable[[int], None] | None) -> None:
    """Connect (retrying with backoff while Slack is unreachable), then serve until `stop`."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(
        adapter.app, settings.slack_app_token, web_client=AsyncWebClient(base_url=adapter.base_url)
    )

    def connected() -> bool:
        client = handler.client
        session = getattr(client, "current_session", None)
        return session is not None and not session.closed and not getattr(client, "closed", False)

    adapter.connection_probe = connected  # type: ignore[attr-defined]
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


def _actor_and_reply(result: Any) -> tuple[Actor | None, Reply]:
    """A command's (actor, reply), or the failure reply the deadline helper made of a crash."""
    return (None, result) if isinstance(result, Reply) else result
