"""darebot on Discord, through discord.py: the /dare app-command group, buttons, modals, start-up.

Translation only: a Discord interaction becomes an engine call (in a worker thread, via
`asyncio.to_thread`), and the engine's platform-neutral Reply is rendered by `discord_render`.
No rule about who may do what lives here.

Redirecting discord.py to another Discord (a local fake in tests, a proxy in production):

* REST: `discord.http.Route.BASE` is a class attribute read whenever a request is built (interaction
  callbacks and webhook follow-ups included), so setting it from DISCORD_API_URL before login moves
  every REST call.
* Gateway: a plain `Client` dials `DiscordWebSocket.DEFAULT_GATEWAY` (wss://gateway.discord.gg/) in
  `Client.connect()` -> `DiscordWebSocket.from_client(gateway=None)`, whatever the REST base; only
  `AutoShardedClient.launch_shards()` asks `GET /gateway/bot`, and even it falls back to
  DEFAULT_GATEWAY on a non-resumable reconnect (shard.py) and after INVALID_SESSION (gateway.py).
  So the one hook that covers the first connection, every reconnect and both client classes is that
  class attribute. `setup_hook` (which runs after login, before the gateway is dialled) sets it from
  DISCORD_GATEWAY_URL or, when only DISCORD_API_URL is set, from that API's `GET /gateway/bot`.
  Resumes then follow READY's `resume_gateway_url`, as on Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from adapters.config import Settings
from adapters.deadline import answer_in_time, once
from adapters.discord_commands import build_dare_group
from adapters.discord_render import (
    BUTTON_ID_TEMPLATE,
    LABEL_MAX,
    FormModal,
    Rendered,
    button_custom_id,
    button_style,
    cut,
    render,
)
from adapters.heap import release_heap, settle_heap
from bot import dedupe
from bot.errors import DareError
from bot.identity import Actor, WorkspaceRef
from bot.ports import EngineAPI
from bot.replies import OOPS, Button, Reply, error_reply

log = logging.getLogger(__name__)

# Discord wants a first response within 3 s; past this much engine time we defer and follow up.
DEFER_AFTER = 2.0
DEFAULT_SYNC_STATE = Path(".darebot-discord-commands.json")


def configure_rest(api_url: str | None) -> None:
    """Point discord.py's REST client at `api_url` (e.g. http://127.0.0.1:PORT/api/v10)."""
    if api_url:
        discord.http.Route.BASE = api_url.rstrip("/")


def configure_gateway(gateway_url: str) -> None:
    """Point every gateway connection (first, reconnect, after INVALID_SESSION) at `gateway_url`."""
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


# ------------------------------------------------------------------------------------------ buttons


class DareButton(discord.ui.DynamicItem[discord.ui.Button], template=BUTTON_ID_TEMPLATE):
    """Every engine Button. The custom_id carries workspace, action and value, and the class is
    registered with `add_dynamic_items` at start, so a DM's buttons work after any restart."""

    def __init__(
        self,
        ws_id: str,
        action: str,
        value: str,
        *,
        label: str = "…",
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=button_custom_id(ws_id, action, value)))
        self.ws_id, self.action, self.value = ws_id, action, value

    @classmethod
    def make(cls, ws_id: str, b: Button) -> DareButton:
        return cls(ws_id, b.action, b.value, label=cut(b.label, LABEL_MAX), style=button_style(b))

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Button,  # type: ignore[override]
        match: Any,
    ) -> DareButton:
        return cls(match["ws"], match["action"], match["value"], label=item.label or "…", style=item.style)

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        client: DareClientMixin = interaction.client  # type: ignore[assignment]
        await client.on_button(interaction, self.ws_id, self.action, self.value)


# ------------------------------------------------------------------------------------------ the client


class DareClientMixin:
    """The behaviour shared by the plain and the sharded client."""

    tree: app_commands.CommandTree

    def _dare_init(
        self,
        settings: Settings,
        engine: EngineAPI,
        *,
        nudges: Any = None,
        sync_state_path: Path | None = None,
        defer_after: float = DEFER_AFTER,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.nudges = nudges
        self.sync_state_path = sync_state_path or DEFAULT_SYNC_STATE
        self.defer_after = defer_after
        self.synced: bool = False  # whether this start pushed the command tree to Discord
        self.start_coach_on_ready = False  # run_discord: start the coach's scheduler once connected
        self.ready_event = asyncio.Event()
        self.tree = app_commands.CommandTree(self)  # type: ignore[arg-type]
        self.tree.add_command(build_dare_group(lambda: self))
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]

    # -- start-up -------------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        self.add_dynamic_items(DareButton)  # type: ignore[attr-defined]
        await self._point_gateway()
        await self.sync_commands()

    async def _point_gateway(self) -> None:
        url = self.settings.discord_gateway_url
        if not url and self.settings.discord_api_url:
            _shards, url, _limits = await self.http.get_bot_gateway()  # type: ignore[attr-defined]
        if url:
            configure_gateway(url)

    def command_payload(self) -> list[dict[str, Any]]:
        return [cmd.to_dict(self.tree) for cmd in self.tree.get_commands()]

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Push the command tree only when its hash changed since the last sync for this scope
        (Discord allows 200 command creates a day per guild). With DISCORD_GUILD_ID the commands
        go to that guild (instant); otherwise they are global."""
        guild_id = self.settings.discord_guild_id
        guild = discord.Object(id=int(guild_id)) if guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
            payload = [cmd.to_dict(self.tree) for cmd in self.tree.get_commands(guild=guild)]
        else:
            payload = self.command_payload()
        scope = f"{self.application_id}:{guild_id or 'global'}"  # type: ignore[attr-defined]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        state = _read_state(self.sync_state_path)
        if not force and state.get(scope) == digest:
            log.info("Discord commands unchanged (%s); no sync", scope)
            return False
        await self.tree.sync(guild=guild)
        state[scope] = digest
        _write_state(self.sync_state_path, state)
        self.synced = True
        log.info("Discord commands synced (%s)", scope)
        return True

    async def on_ready(self) -> None:
        log.info("darebot connected to Discord as %s", getattr(self, "user", None))
        if self.nudges is not None and self.start_coach_on_ready:
            await asyncio.to_thread(self.nudges.start)  # idempotent: a reconnect does not start a second one
        settle_heap()
        self.ready_event.set()

    async def close(self) -> None:
        release_heap()
        await super().close()  # type: ignore[misc]

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await asyncio.to_thread(self.engine.uninstalled, WorkspaceRef("discord", str(guild.id), guild.name or ""))
        log.info(
            "discord: removed from guild %s; its data is deleted in 30 days unless darebot is added back", guild.id
        )

    # -- who and where --------------------------------------------------------------------------
    @staticmethod
    def workspace(interaction: discord.Interaction, ws_id: str | None = None) -> WorkspaceRef:
        gid = ws_id or (str(interaction.guild_id) if interaction.guild_id else "")
        name = interaction.guild.name if interaction.guild is not None and str(interaction.guild.id) == gid else ""
        return WorkspaceRef("discord", gid, name or "")

    @staticmethod
    def actor(interaction: discord.Interaction) -> Actor:
        u = interaction.user
        return Actor(user_id=str(u.id), display_name=u.display_name)

    # -- answering ------------------------------------------------------------------------------
    async def run_command(self, interaction: discord.Interaction, build: Callable[[], object]) -> None:
        """Build the typed command (its validation may refuse) and run it, in a worker thread."""
        engine = self.engine
        await self.answer(interaction, lambda ws, actor: engine.run(ws, actor, build()))

    async def answer(
        self,
        interaction: discord.Interaction,
        work: Callable[[WorkspaceRef, Actor], Reply],
        *,
        ws: WorkspaceRef | None = None,
    ) -> None:
        """Handle an interaction once: dedupe on its id, call the engine off the loop, answer within
        Discord's 3 seconds (deferring when the engine takes longer), then render the reply."""
        ws = ws or self.workspace(interaction)
        actor = self.actor(interaction)
        engine = self.engine
        reply, pending = await answer_in_time(
            once(engine.first_time, f"discord:{interaction.id}", lambda: work(ws, actor)),
            budget=self.defer_after,
            what="discord interaction",
        )
        if pending is not None:
            if not interaction.response.is_done():
                try:
                    await interaction.response.defer(thinking=True, ephemeral=True)
                except discord.HTTPException as err:  # 40060: someone (a twin delivery) already answered
                    log.info("defer refused for %s: %s", interaction.id, err)
            reply = await pending
        if reply is None:
            log.info("interaction %s seen before; handled once", interaction.id)
            return
        await self.deliver(interaction, reply, ws, actor)

    async def deliver(self, interaction: discord.Interaction, reply: Reply, ws: WorkspaceRef, actor: Actor) -> None:
        if reply.form and not interaction.response.is_done():
            await self._send_modal(interaction, reply.form, ws, actor)
            return
        if reply.image is not None:  # a chart is drawn on first read: off the event loop
            await asyncio.to_thread(lambda: reply.image.content if reply.image else b"")
        rendered = render(reply, workspace_id=ws.external_id, button_factory=DareButton.make)
        try:
            if not interaction.response.is_done():
                await interaction.response.send_message(**rendered.kwargs(with_ephemeral=True))
            else:
                await self._follow_up(interaction, rendered)
        except discord.HTTPException:
            log.exception("could not answer interaction %s", interaction.id)
            return
        if reply.public is not None and not reply.is_error and interaction.guild_id is not None:
            # A goal met is cheered in the channel it was logged from; in a DM nobody else would see it.
            public = render(reply.public, workspace_id=ws.external_id, button_factory=DareButton.make)
            try:
                await interaction.followup.send(**public.kwargs(), ephemeral=False)
            except discord.HTTPException:
                log.warning("could not post the public note for interaction %s", interaction.id)

    async def _follow_up(self, interaction: discord.Interaction, rendered: Rendered) -> None:
        """After an (ephemeral) defer: private replies replace the 'thinking…' message; a public
        reply is posted as a follow-up and the private placeholder says so."""
        kw = rendered.kwargs()
        if rendered.ephemeral:
            files = kw.pop("files", None)
            if files:
                kw["attachments"] = files
            kw.setdefault("content", None)
            kw.setdefault("embeds", [])
            await interaction.edit_original_response(**kw)
        else:
            await interaction.edit_original_response(
                content="Posted below.", allowed_mentions=discord.AllowedMentions.none()
            )
            await interaction.followup.send(**kw, ephemeral=False)

    async def open_form(self, interaction: discord.Interaction, name: str, *, ws: WorkspaceRef | None = None) -> None:
        ws = ws or self.workspace(interaction)
        actor = self.actor(interaction)
        engine = self.engine

        def spec() -> Any:
            if not engine.first_time(f"discord:{interaction.id}"):
                return None
            try:
                return engine.form(ws, actor, name)
            except DareError as err:
                return error_reply(str(err))

        try:
            form = await asyncio.wait_for(asyncio.to_thread(spec), timeout=self.defer_after + 0.5)
        except TimeoutError:
            await interaction.response.send_message("That took too long; please try again.", ephemeral=True)
            return
        if form is None:
            return
        if isinstance(form, Reply):
            await self.deliver(interaction, form, ws, actor)
            return
        await interaction.response.send_modal(self._modal(form, ws))

    async def _send_modal(self, interaction: discord.Interaction, name: str, ws: WorkspaceRef, actor: Actor) -> None:
        try:
            form = await asyncio.wait_for(
                asyncio.to_thread(self.engine.form, ws, actor, name), timeout=self.defer_after + 0.5
            )
        except TimeoutError:
            await interaction.response.send_message("That took too long; please try again.", ephemeral=True)
            return
        await interaction.response.send_modal(self._modal(form, ws))

    def _modal(self, form: Any, ws: WorkspaceRef) -> FormModal:
        engine = self.engine
        name = form.name

        async def on_submit(interaction: discord.Interaction, values: dict[str, object]) -> None:
            await self.answer(interaction, lambda w, a: engine.submit_form(w, a, name, values), ws=ws)

        return FormModal(form, ws.external_id, on_submit)

    async def on_button(self, interaction: discord.Interaction, ws_id: str, action: str, value: str) -> None:
        engine = self.engine
        if dedupe.posts_publicly(action) and interaction.message is not None:
            # Posting publicly happens once per message, however many clicks (each is its own interaction).
            key = f"discord:post:{interaction.message.id}"
            if not await asyncio.to_thread(engine.first_time, key):
                await self.answer(
                    interaction,
                    lambda ws, actor: error_reply(dedupe.ALREADY_POSTED),
                    ws=self.workspace(interaction, ws_id),
                )
                return
        await self.answer(
            interaction, lambda ws, actor: engine.press(ws, actor, action, value), ws=self.workspace(interaction, ws_id)
        )

    async def autocomplete(
        self, interaction: discord.Interaction, current: str, which: str
    ) -> list[app_commands.Choice[str]]:
        ws, actor = self.workspace(interaction), self.actor(interaction)
        lookup = getattr(self.engine, which)
        try:
            names = await asyncio.wait_for(asyncio.to_thread(lookup, ws, actor, current or ""), timeout=2.0)
        except Exception:
            log.exception("autocomplete failed")
            return []
        return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]

    async def _on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("app command failed: %s", error, exc_info=error)
        if not interaction.response.is_done():
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.send_message(
                    OOPS, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
                )


class DareBot(DareClientMixin, discord.Client):
    def __init__(
        self,
        settings: Settings,
        engine: EngineAPI,
        *,
        nudges: Any = None,
        sync_state_path: Path | None = None,
        defer_after: float = DEFER_AFTER,
        **options: Any,
    ) -> None:
        discord.Client.__init__(self, intents=_intents(), allowed_mentions=discord.AllowedMentions.none(), **options)
        self._dare_init(settings, engine, nudges=nudges, sync_state_path=sync_state_path, defer_after=defer_after)


class ShardedDareBot(DareClientMixin, discord.AutoShardedClient):
    def __init__(
        self,
        settings: Settings,
        engine: EngineAPI,
        *,
        nudges: Any = None,
        sync_state_path: Path | None = None,
        defer_after: float = DEFER_AFTER,
        **options: Any,
    ) -> None:
        discord.AutoShardedClient.__init__(
            self, intents=_intents(), allowed_mentions=discord.AllowedMentions.none(), **options
        )
        self._dare_init(settings, engine, nudges=nudges, sync_state_path=sync_state_path, defer_after=defer_after)


# Longer rate-limit waits than this make discord.py raise RateLimited instead of sleeping: a DM then
# goes back to the outbox (TransientSendError with retry_after) rather than holding the scheduler.
MAX_RATELIMIT_WAIT = 30.0


def _intents() -> discord.Intents:
    """No privileged intent: guilds only (slash commands and components need none at all)."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


def make_client(
    settings: Settings, engine: EngineAPI, *, nudges: Any = None, sync_state_path: Path | None = None, **options: Any
) -> DareBot | ShardedDareBot:
    """The client for `settings` (sharded when DISCORD_SHARDED). Call inside a running event loop's
    task or before `asyncio.run`; tests pass `guild_ready_timeout` to make on_ready quick."""
    configure_rest(settings.discord_api_url)
    if settings.discord_gateway_url:
        configure_gateway(settings.discord_gateway_url)
    cls = ShardedDareBot if settings.discord_sharded else DareBot
    options.setdefault("max_ratelimit_timeout", MAX_RATELIMIT_WAIT)
    return cls(settings, engine, nudges=nudges, sync_state_path=sync_state_path, **options)


def _read_state(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(path: Path, state: dict[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(state, sort_keys=True))
        tmp.replace(path)
    except OSError:
        log.warning("could not record the command hash in %s; the next start will sync again", path)


# ------------------------------------------------------------------------------------------ running

FATAL_CLOSE_CODES = {4004, 4010, 4011, 4012, 4013, 4014}


async def serve(
    settings: Settings,
    build: Callable[[], DareClientMixin],
    *,
    first_delay: float = 5.0,
    max_delay: float = 900.0,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> None:
    """Run the client; on start-up failures back off exponentially (with jitter) instead of looping,
    since Discord resets a token after 1,000 logins in a day. A bad token or disallowed intents
    stop at once: retrying cannot help."""
    delay = first_delay
    while True:
        client = build()
        started = time.monotonic()
        try:
            async with client:  # type: ignore[attr-defined]
                await client.start(settings.discord_token or "", reconnect=True)  # type: ignore[attr-defined]
            return
        except (discord.LoginFailure, discord.PrivilegedIntentsRequired):
            raise
        except discord.ConnectionClosed as err:
            if err.code in FATAL_CLOSE_CODES:
                raise
            log.warning("Discord connection closed (%s)", err.code)
        except (TimeoutError, discord.HTTPException, discord.GatewayNotFound, aiohttp.ClientError, OSError) as err:
            log.warning("Discord start-up failed: %s", err)
        if time.monotonic() - started > 600:
            delay = first_delay  # it ran for a while: this is a fresh failure, not a crash loop
        wait = delay * (0.8 + 0.4 * random.random())
        log.warning("retrying the Discord connection in %.0f s", wait)
        await sleep(wait)
        delay = min(delay * 2, max_delay)


def run_discord(
    settings: Settings,
    *,
    health_port: int | None = None,
    health_host: str = "0.0.0.0",
    sync_state_path: Path | None = None,
) -> None:
    """`darebot run --platform discord`: the engine, the coach and the client, until SIGINT/SIGTERM
    (whether connecting, backing off or serving). A token Discord refuses is a ConfigError."""
    from adapters.config import ConfigError
    from adapters.health import HealthServer, Probe
    from adapters.wiring import build_discord
    from storage.db import exit_now

    if not settings.discord_token:
        raise ConfigError("DISCORD_TOKEN is not set (see docs/discord.md)")
    bot, messenger = build_discord(settings)
    engine, nudges, db = bot.engine, bot.nudges, bot.db
    assert nudges is not None
    engine.db.on_fatal = exit_now  # storage gone (already logged CRITICAL): nothing written from here would last
    current: list[DareClientMixin] = []

    def build() -> DareClientMixin:
        client = make_client(settings, engine, nudges=nudges, sync_state_path=sync_state_path)
        client.start_coach_on_ready = True
        messenger.attach(client)  # type: ignore[arg-type]
        current[:] = [client]
        return client

    def connected() -> bool:
        client = current[0] if current else None
        return client is not None and client.is_ready() and not client.is_closed()  # type: ignore[attr-defined]

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.ensure_future(serve(settings, build))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if task.done():
            task.result()
            return
        log.info("stopping: closing the Discord connection")
        if current:
            try:
                await asyncio.wait_for(current[0].close(), 5)  # type: ignore[attr-defined]
            except Exception:
                log.warning("the Discord client did not close cleanly", exc_info=True)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    # The coach outlives any one client (serve() may build several); it starts once the first client
    # is connected, and a DM attempted while no client is attached is TransientSendError (kept for later).
    health = HealthServer(Probe(db, "discord", connected), health_port, health_host).start() if health_port else None
    try:
        asyncio.run(main())
    except discord.LoginFailure as err:
        raise ConfigError(f"DISCORD_TOKEN was refused by Discord ({err}): copy it again from the Bot page") from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError("Discord refused the gateway intents darebot asked for (see docs/discord.md)") from None
    except KeyboardInterrupt:
        pass
    finally:
        if health is not None:
            health.stop()
        nudges.shutdown()
        messenger.attach(None)
        db.dispose()
