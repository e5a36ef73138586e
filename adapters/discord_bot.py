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
import hashlib
import json
import logging
import random
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
from adapters.discord_messenger import DiscordMessenger
from adapters.discord_render import (
    BUTTON_ID_TEMPLATE,
    FormModal,
    Rendered,
    button_custom_id,
    LABEL_MAX,
    button_style,
    cut,
    render,
)
from bot import commands as c
from bot.errors import DareError
from bot.identity import Actor, WorkspaceRef
from bot.replies import Button, Reply, error_reply
from bot.validate import NAME_MAX, NOTE_MAX, SHORT_MAX, STORY_MAX

log = logging.getLogger(__name__)

OOPS = "Something went wrong on our side. Please try again in a minute."
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

    def __init__(self, ws_id: str, action: str, value: str, *, label: str = "…",
                 style: discord.ButtonStyle = discord.ButtonStyle.secondary) -> None:
        super().__init__(discord.ui.Button(label=label, style=style,
                                           custom_id=button_custom_id(ws_id, action, value)))
        self.ws_id, self.action, self.value = ws_id, action, value

    @classmethod
    def make(cls, ws_id: str, b: Button) -> "DareButton":
        return cls(ws_id, b.action, b.value, label=cut(b.label, LABEL_MAX), style=button_style(b))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,  # type: ignore[override]
                             match: Any) -> "DareButton":
        return cls(match["ws"], match["action"], match["value"], label=item.label or "…", style=item.style)

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        client: DareClientMixin = interaction.client  # type: ignore[assignment]
        await client.on_button(interaction, self.ws_id, self.action, self.value)


# ------------------------------------------------------------------------------------------ choices

def _choices(values: tuple[str, ...]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=v.replace("-", " "), value=v) for v in values]


CONTACT_KIND_CHOICES = _choices(c.CONTACT_KINDS)
CHANNEL_CHOICES = _choices(c.CHANNELS)
OUTCOME_CHOICES = _choices(c.OUTCOMES)
CONSENT_CHOICES = _choices(c.CONSENTS)
ASKED_CHOICES = _choices(c.ASKED)
ANSWER_CHOICES = _choices(c.ANSWERS)
SETTING_CHOICES = _choices(("tz", "quiet", "nudges", "snooze", "board"))


def _v(choice: app_commands.Choice[str] | None) -> str | None:
    return None if choice is None else choice.value


def _user(u: discord.User | discord.Member) -> c.UserRef:
    return c.UserRef(str(u.id), u.display_name)


async def cohort_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    client: DareClientMixin = interaction.client  # type: ignore[assignment]
    return await client.autocomplete(interaction, current, "cohort_names")


async def contact_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    client: DareClientMixin = interaction.client  # type: ignore[assignment]
    return await client.autocomplete(interaction, current, "contact_names")


# ------------------------------------------------------------------------------------------ the group

@app_commands.guild_only()
class DareGroup(app_commands.Group, name="dare", description="darebot: the reverse-interview dare and your progress"):
    """darebot: the reverse-interview dare and your progress."""

    def __init__(self, client: "DareClientMixin") -> None:
        super().__init__()
        self.client = client

    def _bot(self) -> "DareClientMixin":
        return self.client

    cohort = app_commands.Group(name="cohort", description="Create, join and run a cohort")

    # -- cohort ---------------------------------------------------------------------------------
    @cohort.command(name="create")
    @app_commands.describe(name="The cohort's name", goal="Interviews each participant aims for (default 3)",
                           deadline="YYYY-MM-DD, today or tomorrow", tz="Time zone, e.g. Europe/Paris")
    async def cohort_create(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, NAME_MAX],
                            goal: app_commands.Range[int, 1, 50] | None = None, deadline: str | None = None,
                            tz: str | None = None) -> None:
        """Create a cohort; you become its instructor."""
        await self._bot().run_command(interaction, lambda: c.CohortCreate(name, goal, deadline, tz))

    @cohort.command(name="join")
    @app_commands.describe(name="The cohort to join")
    @app_commands.autocomplete(name=cohort_autocomplete)
    async def cohort_join(self, interaction: discord.Interaction, name: str) -> None:
        """Join a cohort as a participant."""
        await self._bot().run_command(interaction, lambda: c.CohortJoin(name))

    @cohort.command(name="instructor")
    @app_commands.describe(user="The person to make an instructor", name="The cohort (optional with one)")
    @app_commands.autocomplete(name=cohort_autocomplete)
    async def cohort_instructor(self, interaction: discord.Interaction, user: discord.User,
                                name: str | None = None) -> None:
        """Make someone an instructor of a cohort (instructors only)."""
        await self._bot().run_command(interaction, lambda: c.CohortInstructor(name, _user(user)))

    @cohort.command(name="pause")
    @app_commands.describe(name="The cohort", until="Resume on this date", resume="Resume nudges now")
    @app_commands.autocomplete(name=cohort_autocomplete)
    async def cohort_pause(self, interaction: discord.Interaction, name: str | None = None,
                           until: str | None = None, resume: bool = False) -> None:
        """Pause (or resume) every nudge for a cohort (instructors only)."""
        await self._bot().run_command(interaction, lambda: c.CohortPause(name, until, resume))

    @cohort.command(name="quiet")
    @app_commands.describe(start="First quiet day", end="Last quiet day", name="The cohort", note="Why (exams…)")
    @app_commands.autocomplete(name=cohort_autocomplete)
    async def cohort_quiet(self, interaction: discord.Interaction, start: str, end: str,
                           name: str | None = None, note: str | None = None) -> None:
        """Mark a quiet week: no nudges between two dates (instructors only)."""
        await self._bot().run_command(interaction, lambda: c.CohortQuiet(name, start, end, note or ""))

    # -- the dare -------------------------------------------------------------------------------
    @app_commands.command(name="help")
    @app_commands.describe(topic="A command to explain")
    async def help_(self, interaction: discord.Interaction, topic: str | None = None) -> None:
        """What darebot does and how to use it."""
        await self._bot().run_command(interaction, lambda: c.Help(topic))

    @app_commands.command(name="start")
    @app_commands.describe(name="The cohort", goal="Interviews to aim for", deadline="YYYY-MM-DD",
                           reward="What sharing a story earns",
                           followup_days="Days to wait for an answer before a follow-up nudge (default 4)",
                           stall_days="Days after accepting before a no-outreach nudge (default 5)",
                           daily_cap="Nudges per person per day (default 1)",
                           weekly_cap="Nudges per person per week (default 3)")
    @app_commands.autocomplete(name=cohort_autocomplete)
    async def start(self, interaction: discord.Interaction, name: str | None = None,
                    goal: app_commands.Range[int, 1, 50] | None = None, deadline: str | None = None,
                    reward: str | None = None, followup_days: int | None = None, stall_days: int | None = None,
                    daily_cap: int | None = None, weekly_cap: int | None = None) -> None:
        """Issue the dare to a cohort and DM every member (instructors only)."""
        await self._bot().run_command(interaction, lambda: c.Start(name, goal, deadline, reward, followup_days,
                                                                   stall_days, daily_cap, weekly_cap))

    @app_commands.command(name="accept")
    @app_commands.describe(name="The cohort (optional with one)")
    @app_commands.autocomplete(name=cohort_autocomplete)
    async def accept(self, interaction: discord.Interaction, name: str | None = None) -> None:
        """Take the dare."""
        await self._bot().run_command(interaction, lambda: c.Accept(name))

    @app_commands.command(name="contact")
    @app_commands.describe(name="Full name (leave empty for a form)", title="Their title", org="Organisation",
                           kind="Who they are to you", decides="They can hire or decide")
    @app_commands.choices(kind=CONTACT_KIND_CHOICES)
    async def contact(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, NAME_MAX] | None = None,
                      title: app_commands.Range[str, 1, SHORT_MAX] | None = None,
                      org: app_commands.Range[str, 1, SHORT_MAX] | None = None, kind: app_commands.Choice[str] | None = None,
                      decides: bool = False) -> None:
        """Add someone you want to reverse-interview."""
        if name is None:
            await self._bot().open_form(interaction, "contact")
            return
        await self._bot().run_command(interaction, lambda: c.Contact(name, title, org, _v(kind), decides))

    @app_commands.command(name="outreach")
    @app_commands.describe(contact="Whom you reached out to (leave empty for a form)", via="How", on="When")
    @app_commands.choices(via=CHANNEL_CHOICES)
    @app_commands.autocomplete(contact=contact_autocomplete)
    async def outreach(self, interaction: discord.Interaction, contact: str | None = None,
                       via: app_commands.Choice[str] | None = None, on: str | None = None) -> None:
        """Record an attempt to reach a contact."""
        if contact is None:
            await self._bot().open_form(interaction, "outreach")
            return
        await self._bot().run_command(interaction, lambda: c.Outreach(contact, _v(via), on))

    @app_commands.command(name="reply")
    @app_commands.describe(contact="Who answered", declined="They said no", meeting="Date of the meeting")
    @app_commands.autocomplete(contact=contact_autocomplete)
    async def reply(self, interaction: discord.Interaction, contact: str, declined: bool = False,
                    meeting: str | None = None) -> None:
        """Record a contact's answer."""
        await self._bot().run_command(interaction, lambda: c.ReplyReceived(contact, declined, meeting))

    @app_commands.command(name="log")
    @app_commands.describe(contact="Whom you interviewed (leave empty for a form)", on="When",
                           minutes="How long", outcome="What came of it", learned="What you learned")
    @app_commands.choices(outcome=OUTCOME_CHOICES)
    @app_commands.autocomplete(contact=contact_autocomplete)
    async def log_(self, interaction: discord.Interaction, contact: str | None = None, on: str | None = None,
                   minutes: app_commands.Range[int, 1, 600] | None = None,
                   outcome: app_commands.Choice[str] | None = None,
                   learned: app_commands.Range[str, 1, NOTE_MAX] | None = None) -> None:
        """Log a reverse interview that happened."""
        if contact is None:
            await self._bot().open_form(interaction, "log")
            return
        outcomes = (outcome.value,) if outcome else ()
        await self._bot().run_command(interaction, lambda: c.Log(contact, on, minutes, outcomes, learned))

    @app_commands.command(name="story")
    @app_commands.describe(text="Your story (leave empty for a form)", to="Who may read it")
    @app_commands.choices(to=CONSENT_CHOICES)
    async def story(self, interaction: discord.Interaction, text: app_commands.Range[str, 1, STORY_MAX] | None = None,
                    to: app_commands.Choice[str] | None = None) -> None:
        """Share how it went."""
        if text is None:
            await self._bot().open_form(interaction, "story")
            return
        await self._bot().run_command(interaction, lambda: c.Story(text, _v(to)))

    @app_commands.command(name="recruiter")
    @app_commands.describe(company="The recruiter's company", role="The role", asked="A qualifying question you asked",
                           answer="Your straight answer", connected="You kept the connection",
                           referred="You offered help or a referral")
    @app_commands.choices(asked=ASKED_CHOICES, answer=ANSWER_CHOICES)
    async def recruiter(self, interaction: discord.Interaction, company: str, role: str | None = None,
                        asked: app_commands.Choice[str] | None = None,
                        answer: app_commands.Choice[str] | None = None,
                        connected: bool = False, referred: bool = False) -> None:
        """Record a recruiter's call handled with the playbook."""
        asked_t = (asked.value,) if asked else ()
        await self._bot().run_command(
            interaction, lambda: c.Recruiter(company, role, asked_t, _v(answer), connected, referred))

    @app_commands.command(name="progress")
    async def progress(self, interaction: discord.Interaction) -> None:
        """Your progress on the dare."""
        await self._bot().run_command(interaction, lambda: c.Progress())

    @app_commands.command(name="board")
    @app_commands.describe(name="The cohort", post="Post it in this channel for everyone")
    @app_commands.autocomplete(name=cohort_autocomplete)
    async def board(self, interaction: discord.Interaction, name: str | None = None, post: bool = False) -> None:
        """The cohort's leaderboard."""
        await self._bot().run_command(interaction, lambda: c.Board(name, post))

    @app_commands.command(name="report")
    @app_commands.describe(name="The cohort")
    @app_commands.autocomplete(name=cohort_autocomplete)
    async def report(self, interaction: discord.Interaction, name: str | None = None) -> None:
        """How the cohort is doing against the 5% baseline (instructors only)."""
        await self._bot().run_command(interaction, lambda: c.Report(name))

    @app_commands.command(name="export")
    @app_commands.describe(name="The cohort", since="From this date", until="Up to this date")
    @app_commands.autocomplete(name=cohort_autocomplete)
    async def export(self, interaction: discord.Interaction, name: str | None = None, since: str | None = None,
                     until: str | None = None) -> None:
        """The cohort's activity as CSV (instructors only)."""
        await self._bot().run_command(interaction, lambda: c.Export(name, since, until))

    @app_commands.command(name="reward")
    @app_commands.describe(user="Whose story reward was granted")
    async def reward(self, interaction: discord.Interaction, user: discord.User) -> None:
        """Mark a participant's story reward as granted (instructors only)."""
        await self._bot().run_command(interaction, lambda: c.Reward(_user(user)))

    @app_commands.command(name="questions")
    async def questions(self, interaction: discord.Interaction) -> None:
        """Questions worth asking in a reverse interview."""
        await self._bot().run_command(interaction, lambda: c.Questions())

    @app_commands.command(name="settings")
    @app_commands.describe(key="What to change (leave empty to see your settings)", value="The new value")
    @app_commands.choices(key=SETTING_CHOICES)
    async def settings(self, interaction: discord.Interaction, key: app_commands.Choice[str] | None = None,
                       value: str | None = None) -> None:
        """Your time zone, quiet hours, nudges and board visibility."""
        await self._bot().run_command(interaction, lambda: c.Settings(_v(key), value))


# ------------------------------------------------------------------------------------------ the client

class DareClientMixin:
    """The behaviour shared by the plain and the sharded client."""

    tree: app_commands.CommandTree

    def _dare_init(self, settings: Settings, engine: Any, *, coach: Any = None,
                   sync_state_path: Path | None = None, defer_after: float = DEFER_AFTER) -> None:
        self.settings = settings
        self.engine = engine
        self.coach = coach
        self.sync_state_path = sync_state_path or DEFAULT_SYNC_STATE
        self.defer_after = defer_after
        self.synced: bool = False  # whether this start pushed the command tree to Discord
        self.start_coach_on_ready = False  # run_discord: start the coach's scheduler once connected
        self.ready_event = asyncio.Event()
        self.tree = app_commands.CommandTree(self)  # type: ignore[arg-type]
        self.tree.add_command(DareGroup(self))
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]
        if coach is not None:
            engine.outbox_listener = coach.kick

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
        if self.coach is not None and self.start_coach_on_ready:
            await asyncio.to_thread(self.coach.start)  # idempotent: a reconnect does not start a second one
        self.ready_event.set()

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await asyncio.to_thread(self.engine.uninstalled, WorkspaceRef("discord", str(guild.id), guild.name or ""))
        log.info("discord: removed from guild %s; its data is deleted in 30 days unless darebot is added back",
                 guild.id)

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
    async def run_command(self, interaction: discord.Interaction, build: Callable[[], c.Command]) -> None:
        """Build the typed command (its validation may refuse) and run it, in a worker thread."""
        engine = self.engine
        await self.answer(interaction, lambda ws, actor: engine.run(ws, actor, build()))

    async def run_text(self, interaction: discord.Interaction, text: str) -> None:
        """For subcommands the engine only takes as text (quote user input with shlex.quote)."""
        engine = self.engine
        await self.answer(interaction, lambda ws, actor: engine.handle_text(ws, actor, text))

    async def answer(self, interaction: discord.Interaction, work: Callable[[WorkspaceRef, Actor], Reply],
                     *, ws: WorkspaceRef | None = None) -> None:
        """Handle an interaction once: dedupe on its id, call the engine off the loop, answer within
        Discord's 3 seconds (deferring when the engine takes longer), then render the reply."""
        ws = ws or self.workspace(interaction)
        actor = self.actor(interaction)
        key = f"discord:{interaction.id}"
        engine = self.engine

        def call() -> Reply | None:
            if not engine.first_time(key):
                return None
            try:
                return work(ws, actor)
            except DareError as err:
                return error_reply(str(err))
            except Exception:
                log.exception("engine call failed")
                return error_reply(OOPS)

        task = asyncio.ensure_future(asyncio.to_thread(call))
        done, _ = await asyncio.wait({task}, timeout=self.defer_after)
        if not done and not interaction.response.is_done():
            try:
                await interaction.response.defer(thinking=True, ephemeral=True)
            except discord.HTTPException as err:  # 40060: someone (a twin delivery) already answered
                log.info("defer refused for %s: %s", interaction.id, err)
        reply = await task
        if reply is None:
            log.info("interaction %s seen before; handled once", interaction.id)
            return
        await self.deliver(interaction, reply, ws, actor)

    async def deliver(self, interaction: discord.Interaction, reply: Reply, ws: WorkspaceRef, actor: Actor) -> None:
        if reply.form and not interaction.response.is_done():
            await self._send_modal(interaction, reply.form, ws, actor)
            return
        rendered = render(reply, workspace_id=ws.external_id, button_factory=DareButton.make)
        try:
            if not interaction.response.is_done():
                await interaction.response.send_message(**rendered.kwargs(with_ephemeral=True))
            else:
                await self._follow_up(interaction, rendered)
        except discord.HTTPException:
            log.exception("could not answer interaction %s", interaction.id)

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
            await interaction.edit_original_response(content="Posted below.", allowed_mentions=discord.AllowedMentions.none())
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
        except asyncio.TimeoutError:
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
            form = await asyncio.wait_for(asyncio.to_thread(self.engine.form, ws, actor, name),
                                          timeout=self.defer_after + 0.5)
        except asyncio.TimeoutError:
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
        await self.answer(interaction, lambda ws, actor: engine.press(ws, actor, action, value),
                          ws=self.workspace(interaction, ws_id))

    async def autocomplete(self, interaction: discord.Interaction, current: str,
                           which: str) -> list[app_commands.Choice[str]]:
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
            try:
                await interaction.response.send_message(OOPS, ephemeral=True,
                                                        allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException:
                pass


class DareBot(DareClientMixin, discord.Client):
    def __init__(self, settings: Settings, engine: Any, *, coach: Any = None, sync_state_path: Path | None = None,
                 defer_after: float = DEFER_AFTER, **options: Any) -> None:
        discord.Client.__init__(self, intents=_intents(), allowed_mentions=discord.AllowedMentions.none(), **options)
        self._dare_init(settings, engine, coach=coach, sync_state_path=sync_state_path, defer_after=defer_after)


class ShardedDareBot(DareClientMixin, discord.AutoShardedClient):
    def __init__(self, settings: Settings, engine: Any, *, coach: Any = None, sync_state_path: Path | None = None,
                 defer_after: float = DEFER_AFTER, **options: Any) -> None:
        discord.AutoShardedClient.__init__(self, intents=_intents(), allowed_mentions=discord.AllowedMentions.none(),
                                           **options)
        self._dare_init(settings, engine, coach=coach, sync_state_path=sync_state_path, defer_after=defer_after)


# Longer rate-limit waits than this make discord.py raise RateLimited instead of sleeping: a DM then
# goes back to the outbox (TransientSendError with retry_after) rather than holding the scheduler.
MAX_RATELIMIT_WAIT = 30.0


def _intents() -> discord.Intents:
    """No privileged intent: guilds only (slash commands and components need none at all)."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


def make_client(settings: Settings, engine: Any, *, coach: Any = None, sync_state_path: Path | None = None,
                **options: Any) -> DareBot | ShardedDareBot:
    """The client for `settings` (sharded when DISCORD_SHARDED). Call inside a running event loop's
    task or before `asyncio.run`; tests pass `guild_ready_timeout` to make on_ready quick."""
    configure_rest(settings.discord_api_url)
    if settings.discord_gateway_url:
        configure_gateway(settings.discord_gateway_url)
    cls = ShardedDareBot if settings.discord_sharded else DareBot
    options.setdefault("max_ratelimit_timeout", MAX_RATELIMIT_WAIT)
    return cls(settings, engine, coach=coach, sync_state_path=sync_state_path, **options)


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


async def serve(settings: Settings, build: Callable[[], DareClientMixin], *, first_delay: float = 5.0,
                max_delay: float = 900.0, sleep: Callable[[float], Any] = asyncio.sleep) -> None:
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
        except (discord.HTTPException, discord.GatewayNotFound, aiohttp.ClientError, OSError,
                asyncio.TimeoutError) as err:
            log.warning("Discord start-up failed: %s", err)
        if time.monotonic() - started > 600:
            delay = first_delay  # it ran for a while: this is a fresh failure, not a crash loop
        wait = delay * (0.8 + 0.4 * random.random())
        log.warning("retrying the Discord connection in %.0f s", wait)
        await sleep(wait)
        delay = min(delay * 2, max_delay)


def run_discord(settings: Settings) -> None:
    """`darebot run --platform discord`: the engine, the coach and the client, until stopped."""
    from bot.clock import SystemClock
    from bot.engine import Engine
    from bot.scheduler import Coach
    from storage.db import open_database

    if not settings.discord_token:
        raise SystemExit("DISCORD_TOKEN is not set (see docs/discord.md).")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = open_database(settings.database_url)
    clock = SystemClock()
    engine = Engine(db, clock, default_tz=settings.tz)
    messenger = DiscordMessenger()
    coach = Coach(db, clock, messenger, platform="discord", sweep_seconds=settings.sweep_seconds,
                  worker_id=settings.worker_id)

    def build() -> DareClientMixin:
        client = make_client(settings, engine, coach=coach)
        client.start_coach_on_ready = True
        messenger.attach(client)  # type: ignore[arg-type]
        return client

    # The coach outlives any one client (serve() may build several); it starts once the first client
    # is connected, and a DM attempted while no client is attached is TransientSendError (kept for later).
    try:
        asyncio.run(serve(settings, build))
    except KeyboardInterrupt:
        pass
    finally:
        coach.shutdown()
        messenger.attach(None)
