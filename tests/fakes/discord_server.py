"""A local fake Discord: the REST API and the gateway websocket, enough for the real discord.py client.

It answers on 127.0.0.1 (a port the OS picks) like Discord does, with payloads shaped after Discord's
documentation and discord.py 2.7's parsing code:

REST (under ``/api/v10``): ``GET /users/@me``, ``GET /users/{id}``, ``GET /oauth2/applications/@me``,
``GET /gateway/bot``, ``PUT``/``GET /applications/{app}/commands`` and the guild variant,
``POST /users/@me/channels`` (open a DM), ``POST /channels/{id}/messages`` (403 code 50007 for a
user whose DMs are closed; 429 with ``retry_after``, ``global`` and a ``Via`` header when told to;
503 when told to), ``POST /interactions/{id}/{token}/callback`` (40060 on a second initial response),
``POST``/``PATCH``/``GET`` webhook follow-ups and ``@original`` edits.

Gateway (``/gateway``): HELLO (op 10), heartbeat ACK (op 11), IDENTIFY (op 2) -> READY then one
GUILD_CREATE per guild, RESUME (op 6) -> RESUMED. Frames are plain JSON text (discord.py only
decompresses binary frames). Tests push INTERACTION_CREATE dispatches with the builders below, which
read option types from the commands the bot synced, as Discord itself would.

Every REST call is recorded in ``calls``; ``wait_for`` awaits a matching call without polling.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

API_PREFIX = "/api/v10"
CALL = web.RequestKey("call", object)
EPHEMERAL = 1 << 6
NONCE_SECONDS = 300.0  # Discord: "a few minutes"

# Discord application-command option types
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN, USER = 1, 2, 3, 4, 5, 6
# Interaction types
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5


@dataclass
class Call:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any
    status: int = 200
    files: list[tuple[str, bytes]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeUser:
    id: str
    username: str
    global_name: str | None = None
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }


class FakeDiscord:
    """One fake Discord for one test: a bot application, guilds, users; REST and gateway on one port."""

    def __init__(self, token: str = "test-token") -> None:
        self._ids = itertools.count(1_200_000_000_000_000_000)
        self.token = token
        self.app_id = self.snowflake()
        self.bot = FakeUser(self.app_id, "darebot", "darebot", bot=True)
        self.users: dict[str, FakeUser] = {}
        self.guilds: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.dm_closed: set[str] = set()  # user ids whose DMs refuse the bot (50007)
        self.rate_limit_next: int = 0  # answer this many next message posts with a 429
        self.retry_after: float = 0.05
        self.rate_limit_global: bool = False  # the 429s above are global (every route waits)
        self.server_error_next: int = 0  # answer this many next message posts with a 503
        self.bad_request_next: int = 0  # ...and this many with Discord's 400 "Invalid Form Body" (50035)
        self.login_errors_next: int = 0  # answer this many next GET /users/@me with a 503 (an outage at start)
        self.dm_channels: dict[str, str] = {}  # user id -> DM channel id
        # Accept this many next message posts (they are posted) but answer each only after answer_late_seconds.
        self.answer_late_next: int = 0
        self.answer_late_seconds: float = 0.0
        self._nonces: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}  # (channel, nonce) -> (when, message)
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel id -> messages posted there
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[str, list[dict[str, Any]]] = {}
        self.responses: dict[str, list[dict[str, Any]]] = {}  # interaction id -> callbacks (accepted ones)
        self.followups: dict[str, list[dict[str, Any]]] = {}  # interaction token -> follow-ups and edits
        self.originals: dict[str, dict[str, Any]] = {}  # interaction token -> the original response message
        self.identifies: int = 0
        self.gateway_frames: list[dict[str, Any]] = []  # every frame the client sent
        self.invalidate_resumes: bool = False  # answer RESUME with INVALID_SESSION (d: false)
        self._frame_waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = 0
        self._waiters: list[tuple[Callable[[Call], bool], asyncio.Future[Call]]] = []
        self._ready = asyncio.Event()
        self._tokens: dict[str, str] = {}  # interaction token -> interaction id
        self._interactions: dict[str, dict[str, Any]] = {}  # interaction id -> payload
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._record])
        r = app.router
        p = API_PREFIX
        r.add_get("/gateway", self._gateway)
        r.add_get(p + "/users/@me", self._me)
        r.add_get(p + "/users/{user_id}", self._get_user)
        r.add_get(p + "/oauth2/applications/@me", self._application)
        r.add_get(p + "/gateway", self._get_gateway)
        r.add_get(p + "/gateway/bot", self._get_gateway_bot)
        r.add_put(p + "/applications/{app}/commands", self._put_commands)
        r.add_get(p + "/applications/{app}/commands", self._get_commands)
        r.add_put(p + "/applications/{app}/guilds/{guild}/commands", self._put_commands)
        r.add_get(p + "/applications/{app}/guilds/{guild}/commands", self._get_commands)
        r.add_post(p + "/users/@me/channels", self._create_dm)
        r.add_post(p + "/channels/{channel}/messages", self._post_message)
        r.add_post(p + "/interactions/{iid}/{token}/callback", self._callback)
        r.add_post(p + "/webhooks/{app}/{token}", self._followup)
        r.add_get(p + "/webhooks/{app}/{token}/messages/{mid}", self._get_webhook_message)
        r.add_patch(p + "/webhooks/{app}/{token}/messages/{mid}", self._edit_webhook_message)
        r.add_delete(p + "/webhooks/{app}/{token}/messages/{mid}", self._delete_webhook_message)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ----------------------------------------------------------------- world
    def snowflake(self) -> str:
        return str(next(self._ids))

    def add_user(self, username: str, *, global_name: str | None = None) -> FakeUser:
        user = FakeUser(self.snowflake(), username, global_name or username.title())
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, members: list[FakeUser] = ()) -> dict[str, Any]:  # type: ignore[assignment]
        gid = self.snowflake()
        channel_id = self.snowflake()
        guild = {
            "id": gid,
            "name": name,
            "icon": None,
            "owner_id": members[0].id if members else self.bot.id,
            "channel_id": channel_id,
            "member_ids": [m.id for m in members],
        }
        self.guilds[gid] = guild
        return guild

    def guild_create_payload(self, guild: dict[str, Any]) -> dict[str, Any]:
        gid = guild["id"]
        now = _iso_now()
        return {
            "id": gid,
            "name": guild["name"],
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": guild["owner_id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                {
                    "id": gid,
                    "name": "@everyone",
                    "color": 0,
                    "hoist": False,
                    "position": 0,
                    "permissions": "2248473465835073",
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": guild["channel_id"],
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "unavailable": False,
            "large": False,
            "member_count": len(guild["member_ids"]) + 1,
            "joined_at": now,
            "voice_states": [],
            "presences": [],
            "threads": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "members": [self._member(self.bot)],
            "channels": [
                {
                    "id": guild["channel_id"],
                    "type": 0,
                    "guild_id": gid,
                    "name": "general",
                    "position": 0,
                    "permission_overwrites": [],
                    "nsfw": False,
                    "parent_id": None,
                    "topic": None,
                    "last_message_id": None,
                    "rate_limit_per_user": 0,
                }
            ],
        }

    def _member(self, user: FakeUser) -> dict[str, Any]:
        return {
            "user": user.payload(),
            "nick": None,
            "avatar": None,
            "roles": [],
            "joined_at": _iso_now(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "premium_since": None,
            "permissions": "2248473465835073",
            "communication_disabled_until": None,
        }

    # ----------------------------------------------------------------- waiting
    def _notify(self, call: Call) -> None:
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(call):
                fut.set_result(call)
                self._waiters.remove((pred, fut))

    async def wait_for(self, pred: Callable[[Call], bool], timeout: float = 10.0, *, past: bool = True) -> Call:
        """The first recorded call matching `pred` (already made, when `past`), else the next one."""
        if past:
            for call in self.calls:
                if pred(call):
                    return call
        fut: asyncio.Future[Call] = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        return await asyncio.wait_for(fut, timeout)

    async def wait_identified(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        rx = re.compile(pattern)
        return [c for c in self.calls if c.method == method and rx.fullmatch(c.path)]

    # ----------------------------------------------------------------- middleware
    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)
        path = request.path[len(API_PREFIX) :] if request.path.startswith(API_PREFIX) else request.path
        body: Any = None
        files: list[tuple[str, bytes]] = []
        if request.content_type == "application/json":
            body = await request.json()
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files.append((part.filename or "", bytes(await part.read())))  # type: ignore[union-attr]
        call = Call(
            request.method,
            path,
            dict(request.query),
            body,
            files=files,
            headers={k: v for k, v in request.headers.items()},
        )
        request[CALL] = call
        auth = request.headers.get("Authorization", "")
        needs_auth = not (path.startswith("/interactions/") or path.startswith("/webhooks/"))
        if needs_auth and auth != f"Bot {self.token}":
            resp: web.StreamResponse = _error(401, 0, "401: Unauthorized")
        else:
            resp = await handler(request)
        call.status = resp.status
        self.calls.append(call)
        self._notify(call)
        return resp

    # ----------------------------------------------------------------- REST handlers
    async def _me(self, request: web.Request) -> web.Response:
        if self.login_errors_next > 0:
            self.login_errors_next -= 1
            return _json({"message": "Service Unavailable", "code": 0}, status=503)
        return _json(self.bot.payload() | {"verified": True, "mfa_enabled": False, "locale": "en-US"})

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["user_id"])
        if user is None:
            return _error(404, 10013, "Unknown User")
        return _json(user.payload())

    async def _application(self, request: web.Request) -> web.Response:
        owner = FakeUser(self.snowflake(), "owner")
        return _json(
            {
                "id": self.app_id,
                "name": "darebot",
                "icon": None,
                "description": "",
                "rpc_origins": [],
                "bot_public": True,
                "bot_require_code_grant": False,
                "bot": self.bot.payload(),
                "owner": owner.payload(),
                "summary": "",
                "verify_key": "00" * 32,
                "team": None,
                "flags": 0,
                "tags": [],
                "interactions_endpoint_url": None,
                "redirect_uris": [],
            }
        )

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _put_commands(self, request: web.Request) -> web.Response:
        payload = request[CALL].json or []
        out = []
        for cmd in payload:
            out.append(
                cmd
                | {
                    "id": self.snowflake(),
                    "application_id": self.app_id,
                    "version": self.snowflake(),
                    "type": cmd.get("type", 1),
                    "default_member_permissions": None,
                    **({"guild_id": request.match_info["guild"]} if "guild" in request.match_info else {}),
                }
            )
        if "guild" in request.match_info:
            self.guild_commands[request.match_info["guild"]] = out
        else:
            self.global_commands = out
        return _json(out)

    async def _get_commands(self, request: web.Request) -> web.Response:
        if "guild" in request.match_info:
            return _json(self.guild_commands.get(request.match_info["guild"], []))
        return _json(self.global_commands)

    async def _create_dm(self, request: web.Request) -> web.Response:
        uid = str(request[CALL].json["recipient_id"])
        user = self.users.get(uid)
        if user is None:
            return _error(400, 50033, "Invalid Recipients")
        cid = self.dm_channels.setdefault(uid, self.snowflake())
        return _json({"id": cid, "type": 1, "last_message_id": None, "flags": 0, "recipients": [user.payload()]})

    async def _post_message(self, request: web.Request) -> web.Response:
        cid = request.match_info["channel"]
        if self.server_error_next > 0:
            self.server_error_next -= 1
            return _json({"message": "Service Unavailable", "code": 0}, status=503)
        if self.bad_request_next > 0:
            self.bad_request_next -= 1
            return _error(400, 50035, "Invalid Form Body")
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, round(self.retry_after))),
                "X-RateLimit-Scope": "global" if self.rate_limit_global else "user",
            }
            if self.rate_limit_global:
                headers["X-RateLimit-Global"] = "true"
            else:
                headers |= {
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": str(self.retry_after),
                    "X-RateLimit-Bucket": "fakebucket",
                }
            return _json(
                {
                    "message": "You are being rate limited.",
                    "retry_after": self.retry_after,
                    "global": self.rate_limit_global,
                },
                status=429,
                headers=headers,
            )
        recipient = next((u for u, c in self.dm_channels.items() if c == cid), None)
        if recipient is not None and recipient in self.dm_closed:
            return _error(403, 50007, "Cannot send messages to this user")
        body = request[CALL].json or {}
        nonce = body.get("nonce")
        if nonce is not None and (not isinstance(nonce, (str, int)) or len(str(nonce)) > 25):
            return _error(400, 50035, "Invalid Form Body")
        # enforce_nonce: a repeat of a nonce within a few minutes gets the message already posted.
        if nonce is not None and body.get("enforce_nonce"):
            seen = self._nonces.get((cid, str(nonce)))
            if seen is not None and time.monotonic() - seen[0] < NONCE_SECONDS:
                return _json(seen[1])
        msg = self.message_payload(cid, body)
        if nonce is not None:
            msg["nonce"] = str(nonce)
            self._nonces[(cid, str(nonce))] = (time.monotonic(), msg)
        self.messages.setdefault(cid, []).append(msg)
        if self.answer_late_next > 0:
            self.answer_late_next -= 1
            await asyncio.sleep(self.answer_late_seconds)
        return _json(msg)

    async def _callback(self, request: web.Request) -> web.Response:
        iid, token = request.match_info["iid"], request.match_info["token"]
        if iid not in self._interactions or self._interactions[iid]["token"] != token:
            return _error(404, 10062, "Unknown interaction")
        body = request[CALL].json or {}
        if self.responses.get(iid):
            return _error(400, 40060, "Interaction has already been acknowledged.")
        self.responses[iid] = [body]
        rtype = body.get("type")
        data = body.get("data") or {}
        flags = data.get("flags", 0) or 0
        out: dict[str, Any] = {
            "interaction": {
                "id": iid,
                "type": self._interactions[iid]["type"],
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            }
        }
        if rtype in (4, 5, 7):
            channel_id = self._interactions[iid].get("channel_id", "0")
            msg = self.message_payload(channel_id, data if rtype in (4, 7) else {"flags": flags}, interaction_id=iid)
            if rtype == 5:
                msg["flags"] = flags | 128  # LOADING
            self.originals[token] = msg
            out["interaction"]["response_message_id"] = msg["id"]
            out["resource"] = {"type": rtype, "message": msg}
        return _json(out)

    async def _followup(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token not in self._tokens:
            return _error(404, 10015, "Unknown Webhook")
        body = request[CALL].json or {}
        iid = self._tokens[token]
        msg = self.message_payload(self._interactions[iid].get("channel_id", "0"), body, interaction_id=iid)
        msg["webhook_id"] = self.app_id
        self.followups.setdefault(token, []).append({"kind": "followup", **body})
        if request.query.get("wait") in ("1", "true", "True"):
            return _json(msg)
        return web.Response(status=204)

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token not in self.originals:
            return _error(404, 10008, "Unknown Message")
        return _json(self.originals[token])

    async def _edit_webhook_message(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token not in self._tokens:
            return _error(404, 10015, "Unknown Webhook")
        body = request[CALL].json or {}
        self.followups.setdefault(token, []).append({"kind": "edit", "message": request.match_info["mid"], **body})
        iid = self._tokens[token]
        base = self.originals.get(token) or self.message_payload(self._interactions[iid].get("channel_id", "0"), {})
        msg = base | {k: v for k, v in body.items() if k in ("content", "embeds", "components")}
        msg["flags"] = (base.get("flags", 0) or 0) & ~128
        self.originals[token] = msg
        return _json(msg)

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    def message_payload(
        self, channel_id: str, body: dict[str, Any], *, interaction_id: str | None = None
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "id": self.snowflake(),
            "channel_id": channel_id,
            "author": self.bot.payload(),
            "content": body.get("content") or "",
            "timestamp": _iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 0 if interaction_id is None else 20,
            "flags": body.get("flags", 0) or 0,
            "components": body.get("components") or [],
            "allowed_mentions": body.get("allowed_mentions"),
        }
        return msg

    # ----------------------------------------------------------------- gateway
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        try:
            await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                self.gateway_frames.append(frame)
                for pred, fut in list(self._frame_waiters):
                    if not fut.done() and pred(frame):
                        fut.set_result(frame)
                        self._frame_waiters.remove((pred, fut))
                op = frame.get("op")
                if op == 1:
                    await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    self.identifies += 1
                    if frame["d"].get("token") != self.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    await self._send_ready(ws, frame["d"])
                elif op == 6:
                    if self.invalidate_resumes:
                        await ws.send_json({"op": 9, "d": False, "s": None, "t": None})
                    else:
                        await self._send(ws, "RESUMED", {})
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    async def wait_frame(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """The next gateway frame from the client matching `pred`."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._frame_waiters.append((pred, fut))
        return await asyncio.wait_for(fut, timeout)

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway socket as Discord does before asking a client to reconnect."""
        for ws in list(self._sockets):
            await ws.close(code=code, message=b"fake: reconnect")

    async def _send_ready(self, ws: web.WebSocketResponse, identify: dict[str, Any]) -> None:
        shard = identify.get("shard") or [0, 1]
        await self._send(
            ws,
            "READY",
            {
                "v": 10,
                "user": self.bot.payload() | {"verified": True, "mfa_enabled": False},
                "guilds": [{"id": gid, "unavailable": True} for gid in self.guilds],
                "session_id": "fake-session-" + self.snowflake(),
                "resume_gateway_url": self.gateway_url,
                "shard": shard,
                "application": {"id": self.app_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
                "user_settings": {},
                "presences": [],
                "geo_ordered_rtc_regions": [],
                "guild_join_requests": [],
                "_trace": ["fake-discord"],
            },
        )
        for guild in self.guilds.values():
            await self._send(ws, "GUILD_CREATE", self.guild_create_payload(guild))
        self._ready.set()

    async def _send(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await ws.send_json({"op": 0, "s": self._seq, "t": event, "d": data})

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Push one dispatch to every connected gateway socket."""
        for ws in list(self._sockets):
            await self._send(ws, event, data)

    # ----------------------------------------------------------------- interactions
    def _base_interaction(
        self,
        itype: int,
        user: FakeUser,
        guild: dict[str, Any] | None,
        data: dict[str, Any] | None,
        *,
        interaction_id: str | None = None,
        channel: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        iid = interaction_id or self.snowflake()
        token = f"itoken-{iid}"
        payload: dict[str, Any] = {
            "id": iid,
            "application_id": self.app_id,
            "type": itype,
            "token": token,
            "version": 1,
            "app_permissions": "2248473465835073",
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if data is not None:
            payload["data"] = data
        if guild is not None:
            payload |= {
                "guild_id": guild["id"],
                "guild_locale": "en-US",
                "context": 0,
                "guild": {"id": guild["id"], "locale": "en-US", "features": []},
                "channel_id": guild["channel_id"],
                "channel": {
                    "id": guild["channel_id"],
                    "type": 0,
                    "guild_id": guild["id"],
                    "name": "general",
                    "position": 0,
                    "permission_overwrites": [],
                    "nsfw": False,
                    "parent_id": None,
                    "rate_limit_per_user": 0,
                    "permissions": "2248473465835073",
                },
                "member": self._member(user),
                "authorizing_integration_owners": {"0": guild["id"]},
            }
        else:
            ch = channel or {
                "id": self.dm_channels.get(user.id, self.snowflake()),
                "type": 1,
                "recipients": [user.payload()],
                "last_message_id": None,
                "flags": 0,
            }
            payload |= {
                "channel_id": ch["id"],
                "channel": ch,
                "user": user.payload(),
                "context": 1,
                "authorizing_integration_owners": {"1": user.id},
            }
        self._tokens[token] = iid
        self._interactions[iid] = payload
        return payload

    def _find_command(self, guild: dict[str, Any] | None, name: str) -> dict[str, Any]:
        pool = list(self.guild_commands.get(guild["id"], [])) if guild else []
        pool += self.global_commands
        for cmd in pool:
            if cmd["name"] == name:
                return cmd
        raise LookupError(f"command {name!r} was not synced (synced: {[c['name'] for c in pool]})")

    def command_interaction(
        self,
        user: FakeUser,
        guild: dict[str, Any] | None,
        path: list[str],
        options: dict[str, Any] | None = None,
        *,
        focused: str | None = None,
        interaction_id: str | None = None,
    ) -> dict[str, Any]:
        """An application-command (or, with `focused`, autocomplete) payload for `/path[0] path[1:] options`.

        Option types come from the synced command, as on Discord. A USER option's value is a FakeUser;
        it becomes an id plus `resolved.users`/`resolved.members`.
        """
        cmd = self._find_command(guild, path[0])
        resolved: dict[str, Any] = {}
        node = cmd
        chain: list[dict[str, Any]] = []
        for part in path[1:]:
            node = next(o for o in node.get("options", []) if o["name"] == part)
            chain.append(node)
        leaf_opts = []
        for name, value in (options or {}).items():
            spec = next((o for o in node.get("options", []) if o["name"] == name), None)
            if spec is None:
                raise LookupError(f"/{' '.join(path)} has no option {name!r}")
            otype = spec["type"]
            if otype == USER:
                u: FakeUser = value
                resolved.setdefault("users", {})[u.id] = u.payload()
                if guild is not None:
                    m = self._member(u)
                    m.pop("user")
                    resolved.setdefault("members", {})[u.id] = m
                value = u.id
            opt: dict[str, Any] = {"name": name, "type": otype, "value": value}
            if focused == name:
                opt["focused"] = True
            leaf_opts.append(opt)
        inner: list[dict[str, Any]] = leaf_opts
        for sub in reversed(chain):
            inner = [{"name": sub["name"], "type": sub["type"], "options": inner}]
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": 1, "options": inner}
        if resolved:
            data["resolved"] = resolved
        if guild is not None and cmd.get("guild_id"):
            data["guild_id"] = guild["id"]
        itype = AUTOCOMPLETE if focused else APPLICATION_COMMAND
        return self._base_interaction(itype, user, guild, data, interaction_id=interaction_id)

    def component_interaction(
        self, user: FakeUser, message: dict[str, Any], custom_id: str, guild: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A button press on `message` (one the bot posted, as recorded here)."""
        channel = None
        if guild is None:
            channel = {
                "id": message["channel_id"],
                "type": 1,
                "recipients": [user.payload()],
                "last_message_id": None,
                "flags": 0,
            }
        payload = self._base_interaction(
            MESSAGE_COMPONENT, user, guild, {"custom_id": custom_id, "component_type": 2}, channel=channel
        )
        payload["message"] = message
        return payload

    def modal_submit_interaction(
        self,
        user: FakeUser,
        modal: dict[str, Any],
        values: dict[str, Any],
        guild: dict[str, Any] | None = None,
        channel_id: str | None = None,
    ) -> dict[str, Any]:
        """Submit the modal the bot opened (`modal` is the callback's data) with values by custom_id.

        Text inputs take a str, string selects a list of str, checkboxes a bool.
        """

        def fill(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for comp in components:
                t = comp["type"]
                if t == 1:
                    out.append({"type": 1, "components": fill(comp["components"])})
                elif t == 18:
                    out.append({"type": 18, "id": comp.get("id", 0), "component": fill([comp["component"]])[0]})
                else:
                    cid = comp.get("custom_id")
                    v = values.get(cid)
                    if t == 4:
                        out.append({"type": 4, "custom_id": cid, "value": "" if v is None else str(v)})
                    elif t in (3, 5, 6, 7, 8):
                        out.append({"type": t, "custom_id": cid, "values": list(v or [])})
                    elif t in (23,):  # checkbox
                        out.append({"type": t, "custom_id": cid, "value": bool(v)})
                    else:
                        out.append({"type": t, "custom_id": cid, "value": v})
            return out

        data = {"custom_id": modal["custom_id"], "components": fill(modal["components"])}
        channel = None
        if guild is None and channel_id is not None:
            channel = {"id": channel_id, "type": 1, "recipients": [user.payload()], "last_message_id": None, "flags": 0}
        return self._base_interaction(MODAL_SUBMIT, user, guild, data, channel=channel)

    async def interact(self, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send an INTERACTION_CREATE and wait for its initial response; returns the callback body."""
        iid = payload["id"]
        waiting = asyncio.ensure_future(
            self.wait_for(lambda c: c.method == "POST" and c.path.startswith(f"/interactions/{iid}/"), timeout)
        )
        await self.dispatch("INTERACTION_CREATE", payload)
        call = await waiting
        return call.json

    async def wait_final(self, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """The message a user finally sees for an interaction: the initial response, or (after a defer)
        the edit of @original / the first follow-up."""
        iid = payload["id"]
        first = await self.wait_for(
            lambda c: c.method == "POST" and c.path.startswith(f"/interactions/{iid}/"), timeout
        )
        if first.json.get("type") != 5:
            return first.json.get("data") or {}
        token = payload["token"]
        later = await self.wait_for(
            lambda c: c.method in ("POST", "PATCH") and c.path.startswith(f"/webhooks/{self.app_id}/{token}"), timeout
        )
        return later.json or {}

    def dm_messages(self, user: FakeUser) -> list[dict[str, Any]]:
        cid = self.dm_channels.get(user.id)
        return list(self.messages.get(cid, [])) if cid else []


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with Content-Type exactly `application/json`: discord.py parses nothing else (no charset)."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={**(headers or {}), "Content-Type": "application/json"}
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


def _iso_now() -> str:
    return datetime.now(UTC).isoformat()
