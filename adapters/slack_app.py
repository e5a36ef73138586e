"""darebot on Slack: the listeners of bolt's AsyncApp, which translate only.

Serving them (HTTP or Socket Mode, health, the workers) is adapters/slack_serve.py; the single-token
workspace gate is adapters/slack_gate.py, App Home publishing adapters/slack_home.py, and the upload
of a reply's files adapters/slack_files.py.

Why async: the issue's measurement (500 signed commands at concurrency 20) gave bolt's sync dev
server p99 3–5 s with ~1 % refused, and AsyncApp on aiohttp p99 16–32 ms with none refused. The
engine is synchronous, so every engine call runs on the engine lane (adapters/deadline.py) and the
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
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_http
from adapters import slack_render as render
from adapters.config import Settings
from adapters.deadline import BUDGET as ACK_BUDGET
from adapters.deadline import BUSY_BUDGET, ENGINE, answer_in_time
from adapters.slack_files import send_files
from adapters.slack_gate import HomeTeamGate
from adapters.slack_home import AppHomes
from adapters.slack_messenger import ClientPool, SlackDirectory, api_base_url
from adapters.slack_oauth import oauth_mode, oauth_settings
from bot import dedupe
from bot.errors import DareError, UsageError
from bot.identity import Actor, WorkspaceRef
from bot.ports import EngineAPI
from bot.replies import OOPS, Reply, error_reply

log = logging.getLogger("darebot.slack")


class SlackAdapter:
    """The bolt app with darebot's listeners, and the client pool and directory it shares with the engine."""

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
        self.homes = AppHomes(engine, self._actor, self._spawn)
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
            kwargs["oauth_settings"] = oauth_settings(
                client_id=settings.slack_client_id or "",
                client_secret=settings.slack_client_secret or "",
                store=store,
            )
        self.app = AsyncApp(**kwargs)
        # Single-token mode serves only the token's own workspace (auth.test, adapters/slack_gate.py).
        self.gate = None if self.oauth else HomeTeamGate(self.client, engine.db)
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
            self.homes.flush()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _engine(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return ENGINE.submit(fn, *args)

    # -- listeners ----------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        if self.gate is not None:
            app.use(self.gate.admit)
        app.command("/dare")(self.on_command)
        app.action(re.compile(r"^darebot:"))(self.on_action)
        app.view_submission(re.compile(r"^darebot\.form:"))(self.on_view_submission)
        app.view_closed(re.compile(r"^darebot\."))(self.on_view_closed)
        app.event("app_home_opened")(self.on_home_opened)
        app.event("app_uninstalled")(self.on_uninstalled)
        app.event("tokens_revoked")(self.on_tokens_revoked)
        app.error(self.on_error)

    async def on_error(self, error: Exception, body: dict[str, Any], logger: logging.Logger) -> None:
        log.error("slack listener error: %r", error, exc_info=error)

    # slash command ----------------------------------------------------------------------------

    def _command_sync(
        self, team_id: str, user_id: str, user_name: str, text: str, team_name: str = ""
    ) -> tuple[Actor, Reply, dict[str, Any] | None]:
        """On an engine thread: the command's (actor, reply, rendered message). Rendering here keeps
        it off the event loop, which acknowledges everyone else's requests meanwhile."""
        actor = self._actor(team_id, user_id, user_name)
        reply = self.engine.handle_text(self._ws(team_id, team_name), actor, render.neutral_mentions(text))
        return actor, reply, None if reply.form else render.render_message(reply)

    async def on_command(self, ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        team_id = body.get("team_id") or ""
        user_id = body.get("user_id") or ""
        text = body.get("text") or ""
        result, pending = await answer_in_time(
            lambda: self._command_sync(team_id, user_id, body.get("user_name", ""), text, body.get("team_domain", "")),
            budget=ACK_BUDGET,
            when_busy=BUSY_BUDGET,
            what="slack command",
        )
        if pending is not None:
            await ack()
            self._spawn(self._finish_command_late(pending, body, respond, client), "slow command")
            return
        actor, reply, msg = _answer(result)
        if reply.form and actor is not None:
            await ack()
            self._spawn(
                self._open_form(
                    client, team_id, actor, reply.form, body.get("trigger_id", ""), body.get("channel_id", "")
                ),
                "open form",
            )
            return
        await ack(**self._ack_message(reply, msg))
        self._after_answer(client, team_id, user_id, reply, respond)
        self._post_public(reply, body.get("channel_id", ""), respond=respond)

    @staticmethod
    def _ack_message(reply: Reply, msg: dict[str, Any] | None = None) -> dict[str, Any]:
        msg = msg or render.render_message(reply)
        return {
            "text": msg["text"],
            "blocks": msg["blocks"],
            "response_type": "ephemeral" if reply.ephemeral else "in_channel",
        }

    async def _finish_command_late(
        self, work: Awaitable[Any], body: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        actor, reply, msg = _answer(await work)
        if reply.form and actor is not None:
            try:  # the trigger_id may still be inside its 3 seconds
                await self._open_form(
                    client,
                    body.get("team_id", ""),
                    actor,
                    reply.form,
                    body.get("trigger_id", ""),
                    body.get("channel_id", ""),
                )
                return
            except Exception as err:  # expired_trigger_id: say how to use the command instead
                log.info("slack: late modal not opened: %s", err)
                await self._respond(respond, Reply(title=reply.title, sections=reply.sections, ephemeral=True))
                return  # nothing was done: no App Home to refresh
        await self._respond(respond, reply, msg=msg)
        self._after_answer(client, body.get("team_id", ""), body.get("user_id", ""), reply, respond)
        self._post_public(reply, body.get("channel_id", ""), respond=respond)

    async def _respond(
        self, respond: Any, reply: Reply, *, replace: bool = False, msg: dict[str, Any] | None = None
    ) -> None:
        """Answer through response_url: a new message, or (`replace`) in place of the one whose
        button was pressed; an ephemeral message can only be changed this way. `msg`: the reply
        already rendered."""
        msg = msg or render.render_message(reply)
        await slack_http.post_response(
            respond,
            text=msg["text"],
            blocks=msg["blocks"],
            response_type="ephemeral" if reply.ephemeral else "in_channel",
            replace_original=replace,
        )

    def _after_answer(
        self, client: AsyncWebClient, team_id: str, user_id: str, reply: Reply, respond: Any = None
    ) -> None:
        """Once the answer is out, in the background: the reply's file and image go to the
        person's DM, and a successful action that stored something refreshes their App Home.
        Neither can change the answer; failures are logged (and an upload failure is told
        through `respond`)."""
        if reply.file is not None or reply.image is not None:
            tell = (lambda r: self._respond(respond, r)) if respond is not None else None
            self._spawn(send_files(client, user_id, reply, tell), "file upload")
        if not reply.is_error and not reply.form and not reply.read_only:
            self.homes.refresh(client, team_id, user_id)

    def _post_public(
        self, reply: Reply, channel_id: str, *, respond: Any = None, client: AsyncWebClient | None = None
    ) -> None:
        """A reply's public companion (a goal met) goes to the channel the command came from; never to a
        direct message (ids starting with D), where nobody else would read it."""
        public = reply.public
        if public is None or reply.is_error or not channel_id or channel_id.startswith("D"):
            return
        if respond is not None:
            self._spawn(self._respond(respond, public), "public note")
        elif client is not None:  # a form's submission has no response_url: post as the app
            self._spawn(client.chat_postMessage(channel=channel_id, **render.render_message(public)), "public note")

    async def _open_form(
        self, client: AsyncWebClient, team_id: str, actor: Actor, name: str, trigger_id: str, channel_id: str
    ) -> None:
        form = await self._engine(self.engine.form, self._ws(team_id), actor, name)
        view = render.render_modal(form, metadata={"channel": channel_id})
        await client.views_open(trigger_id=trigger_id, view=view)

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

    def _submit_sync(
        self, team_id: str, user_id: str, fallback: str, name: str, state: dict[str, Any], view_id: str
    ) -> tuple[str, Any, Any]:
        """("ok", reply, form) | ("errors", errors, form) | ("dup", None, form). In a worker thread."""
        ws = self._ws(team_id)
        actor = self._actor(team_id, user_id, fallback)
        form = self.engine.form(ws, actor, name)
        values = render.form_values(form, state)
        digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:24]
        try:
            # The key is stored with the write itself: a retried submission records once, and a
            # refused one can be corrected and sent again (even with the very same values).
            reply = self.engine.submit_form(
                ws, actor, name, values, idempotency_key=f"slack:view:{team_id}:{view_id}:{digest}"
            )
        except UsageError as err:
            return "errors", render.field_errors(form, err.field, str(err)), form
        except DareError as err:
            return "errors", render.field_errors(form, None, str(err)), form
        if reply is None:
            return "dup", None, form
        return "ok", reply, form

    async def on_view_submission(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        team_id = (body.get("team") or {}).get("id") or view.get("team_id") or ""
        user = body.get("user") or {}
        name = render.form_name(view.get("callback_id", "")) or ""
        state = (view.get("state") or {}).get("values") or {}
        result, pending = await answer_in_time(
            lambda: self._submit_sync(
                team_id, user.get("id", ""), user.get("username", ""), name, state, view.get("id", "")
            ),
            budget=ACK_BUDGET,
            what=f"slack form {name}",
        )
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
            self._post_public(payload, render.modal_channel(view), client=client)

    async def _finish_submission_late(
        self, work: Awaitable[Any], client: AsyncWebClient, team_id: str, user_id: str
    ) -> None:
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
        await self.homes.publish_now(client, team_id, event.get("user", ""))

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
        log.info(
            "slack: uninstalled from %s; its tokens are deleted now, the rest of its data in 30 days "
            "unless the app comes back",
            team_id,
        )

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


def _answer(result: Any) -> tuple[Actor | None, Reply, dict[str, Any] | None]:
    """A command's (actor, reply, rendered message), or the failure reply made of a crash."""
    return (None, result, None) if isinstance(result, Reply) else result
