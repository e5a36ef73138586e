"""A local fake of the Slack Web API, plus a signer for requests that Slack would send us.

`FakeSlackAPI` is a real aiohttp server on 127.0.0.1 (port 0), run on its own event loop in a
thread, so sync clients (the Messenger, the Directory) and the async bolt app can both call it.
It answers like Slack: every call is a POST, errors are HTTP 200 with ``"ok": false``, rate limits
are HTTP 429 with ``Retry-After`` and ``"error": "ratelimited"``. Files are uploaded in Slack's
three steps (files.getUploadURLExternal, the bytes POSTed to the URL it returned, recorded as
``file_upload``, then files.completeUploadExternal), and the bytes are kept: `shared_files()`.
Every call is recorded, and tests wait for calls through a condition variable, never by
sleep-and-poll.

`SlackSigner` builds correctly signed slash-command, interactivity and Events API requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import math
import mimetypes
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    """One request the fake received: the Web API method (or ``response_url``) and its arguments."""

    method: str
    args: dict[str, Any]
    token: str | None
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    at: float = field(default_factory=time.time)  # when it was answered (wall clock: benchmarks)


@dataclass
class FakeUser:
    team_id: str
    user_id: str
    name: str
    real_name: str
    tz: str = "UTC"
    # Error chat.postMessage answers when the bot posts to this user's DM (e.g. "cannot_dm_bot").
    dm_error: str | None = None
    deleted: bool = False


@dataclass
class FakeFile:
    """A file uploaded through files.getUploadURLExternal -> upload URL -> files.completeUploadExternal."""

    file_id: str
    team_id: str
    filename: str
    length: int  # as declared to files.getUploadURLExternal
    alt_txt: str = ""
    content: bytes | None = None  # set once the bytes reached the upload URL
    title: str = ""
    channels: list[str] = field(default_factory=list)  # where files.completeUploadExternal shared it
    completed: bool = False
    initial_comment: str = ""


@dataclass
class _Failure:
    method: str
    error: str
    status: int
    retry_after: int | None
    times: int


class FakeSlackAPI:
    def __init__(self, *, time_fn: Callable[[], float] = time.monotonic) -> None:
        self.time_fn = time_fn
        self.teams: dict[str, str] = {}  # team_id -> name
        self.tokens: dict[str, str] = {}  # bot token -> team_id
        self.bot_users: dict[str, str] = {}  # team_id -> bot user id
        self.users: dict[tuple[str, str], FakeUser] = {}
        self.oauth_codes: dict[str, tuple[str, str]] = {}  # code -> (team_id, token)
        # chat.postMessage limit per channel, messages per second; None = unlimited
        self.per_channel_rate: float | None = None
        # "channel": Slack's ~1 message/s per channel; "team": the same budget shared by the whole
        # workspace (a harsher limit, so tests can make many DMs collide).
        self.rate_scope: str = "channel"
        # chat.postMessage limit per workspace (Slack: several hundred a minute), a token bucket of
        # `workspace_burst` messages refilled at this many a minute; None = unlimited.
        self.workspace_rate_per_min: float | None = None
        self.workspace_burst: int = 10
        self._buckets: dict[str, tuple[float, float]] = {}  # team -> (tokens, at)
        self.ratelimited: dict[str, int] = {"channel": 0, "workspace": 0}  # 429s answered, by limit
        self.delay_seconds: float = 0.0
        # method -> [seconds, times]: accept the call (its effect happens) but answer only after `seconds`
        self._late: dict[str, list[float]] = {}
        # method -> times: accept the call, then close the connection without any answer
        self._drop: dict[str, int] = {}
        self.history: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (team, channel) -> messages, oldest first
        self._last_post: dict[str, float] = {}
        self._failures: list[_Failure] = []
        # Socket Mode: app-level tokens accepted by apps.connections.open, open sockets, and the
        # acknowledgements the app sent back over them.
        self.app_tokens: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self.socket_messages: list[dict[str, Any]] = []
        self.files: dict[str, FakeFile] = {}  # file id -> file, from files.getUploadURLExternal on
        self._calls: list[Call] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ set-up

    def add_team(self, team_id: str, token: str, name: str = "Test Team", bot_user_id: str = "UBOT") -> None:
        self.teams[team_id] = name
        self.tokens[token] = team_id
        self.bot_users[team_id] = bot_user_id

    def add_user(
        self,
        team_id: str,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        tz: str = "UTC",
        dm_error: str | None = None,
    ) -> FakeUser:
        user = FakeUser(team_id, user_id, name, real_name or name.title(), tz, dm_error)
        self.users[(team_id, user_id)] = user
        return user

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        status: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail like Slack does (429 for "ratelimited")."""
        if status is None:
            status = 429 if error == "ratelimited" else 200
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._cond:
            self._failures.append(_Failure(method, error, status, retry_after, times))

    def answer_late(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls of `method` take effect at once but are answered after `seconds`
        (a client that gives up sooner never learns that its message was posted)."""
        with self._cond:
            self._late[method] = [seconds, times]

    def drop_answer(self, method: str, *, times: int = 1) -> None:
        """The next `times` calls of `method` take effect, then the connection closes unanswered."""
        with self._cond:
            self._drop[method] = times

    def dm_history(self, team_id: str, user_id: str) -> list[dict[str, Any]]:
        """Messages posted in the bot's DM with a user, oldest first."""
        with self._cond:
            return list(self.history.get((team_id, "D" + user_id[1:]), []))

    # ------------------------------------------------------------------ life cycle

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """What SLACK_API_URL is set to (with the trailing slash slack_sdk needs)."""
        return f"{self.root}/api/"

    def response_url(self, name: str = "") -> str:
        return f"{self.root}/response/{name or next(self._ids)}"

    def start(self) -> FakeSlackAPI:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._serve())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-slack-api", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Slack API did not start")
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle_api)
        app.router.add_post("/response/{name}", self._handle_response_url)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_get("/socket", self._handle_socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeSlackAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def ok_calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls_to(method) if c.status == 200 and c.response.get("ok")]

    def clear(self) -> None:
        with self._cond:
            self._calls.clear()

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout: float = 10.0) -> list[Call]:
        """Block until predicate(calls) holds (woken by each new call); AssertionError on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self._calls), timeout):
                methods = [c.method for c in self._calls]
                raise AssertionError(f"fake Slack API: condition not met in {timeout}s; calls: {methods}")
            return list(self._calls)

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        self.wait_for(lambda calls: sum(c.method == method for c in calls) >= count, timeout)
        return self.calls_to(method)

    def shared_files(self, channel: str | None = None) -> list[FakeFile]:
        """Files whose upload was completed (and shared to `channel`, when given), oldest first."""
        with self._cond:
            done = [f for f in self.files.values() if f.completed]
        return [f for f in done if channel is None or channel in f.channels]

    def all_outbound_text(self) -> str:
        """Every payload the app sent, as JSON text: for checks such as "no unescaped <!channel>"."""
        return "\n".join(json.dumps(c.args, ensure_ascii=False) for c in self.calls)

    # ------------------------------------------------------------------ serving

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        ctype = request.content_type
        if raw:
            if ctype == "application/json":
                args.update(json.loads(raw))
            elif ctype == "multipart/form-data":
                post = await request.post()
                args.update({k: v if isinstance(v, str) else "<file>" for k, v in post.items()})
            else:
                args.update(dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True)))
        for key in ("blocks", "view", "attachments"):  # sent as JSON strings in form bodies
            if isinstance(args.get(key), str):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(args[key])
        return args

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        args = await self._read_args(request)
        body = {"ok": True}
        self._record(Call("response_url", args, None, 200, body, request.path))
        return web.json_response(body)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """Step 2 of an upload: the bytes, raw or as multipart, POSTed to the URL step 1 returned.
        Slack's upload host answers 200 with a plain-text "OK - <bytes>" (the SDK reads text/plain)."""
        file_id = request.match_info["file_id"]
        if request.content_type == "multipart/form-data":
            post = await request.post()
            part = next((v for v in post.values() if not isinstance(v, str)), None)
            data = part.file.read() if part is not None else b""  # type: ignore[union-attr]
        else:
            data = await request.read()
        with self._cond:
            stored = self.files.get(file_id)
            if stored is not None and stored.content is None:
                stored.content = data
        status, text = (200, f"OK - {len(data)}") if stored is not None else (404, "file not found")
        self._record(
            Call(
                "file_upload",
                {"file_id": file_id, "length": len(data)},
                None,
                status,
                {"ok": status == 200},
                request.path,
            )
        )
        return web.Response(status=status, text=text, content_type="text/plain")

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._read_args(request)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else args.get("token")
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        status, body, headers = self._answer(method, args, token)
        self._record(Call(method, args, token, status, body, request.path))
        with self._cond:
            late = self._late.get(method)
            if late is not None and late[1] > 0:
                late[1] -= 1
            else:
                late = None
            drop = self._drop.get(method, 0) > 0
            if drop:
                self._drop[method] -= 1
        if drop:
            assert request.transport is not None
            request.transport.close()
            raise asyncio.CancelledError()
        if late is not None:
            await asyncio.sleep(late[0])
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._cond:
            for failure in self._failures:
                if failure.method == method and failure.times > 0:
                    failure.times -= 1
                    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                    return failure.status, {"ok": False, "error": failure.error}, headers
        if method == "oauth.v2.access":
            return self._oauth_access(args)
        if method == "apps.connections.open":
            if token not in self.app_tokens:
                return self._err("invalid_auth")
            return self._ok(url=f"ws://127.0.0.1:{self.port}/socket")
        team_id = self.tokens.get(token or "")
        if team_id is None:
            return 200, {"ok": False, "error": "not_authed" if not token else "invalid_auth"}, {}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return handler(team_id, args)

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with self._cond:
            self._sockets.append(ws)
            self._cond.notify_all()
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0DAREBOT"}})
        async for msg in ws:
            if msg.type.name == "TEXT":
                data = json.loads(msg.data)
                with self._cond:
                    self.socket_messages.append(data)
                    self._cond.notify_all()
        with self._cond:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    def wait_socket(self, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._sockets), timeout):
                raise AssertionError("no Socket Mode connection")

    def push_envelope(self, kind: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send a Socket Mode envelope to the connected app; return the app's acknowledgement."""
        self.wait_socket(timeout)
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": True,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        ws = self._sockets[-1]
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(ws.send_json(envelope), self._loop).result(timeout)
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(m.get("envelope_id") == envelope_id for m in self.socket_messages), timeout
            )
            if not ok:
                raise AssertionError(f"no acknowledgement of {envelope_id}")
            return next(m for m in self.socket_messages if m.get("envelope_id") == envelope_id)

    # ------------------------------------------------------------------ methods

    def _ok(self, **body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        return 200, {"ok": True, **body}, {}

    def _err(self, error: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        return 200, {"ok": False, "error": error}, {}

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._ids):06d}"

    def _m_auth_test(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        return self._ok(
            url=f"https://{team_id.lower()}.slack.com/",
            team=self.teams[team_id],
            user="darebot",
            team_id=team_id,
            user_id=self.bot_users[team_id],
            bot_id="B" + self.bot_users[team_id][1:],
            is_enterprise_install=False,
        )

    def _m_users_info(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        user = self.users.get((team_id, str(args.get("user", ""))))
        if user is None:
            return self._err("user_not_found")
        return self._ok(
            user={
                "id": user.user_id,
                "team_id": team_id,
                "name": user.name,
                "real_name": user.real_name,
                "deleted": user.deleted,
                "tz": user.tz,
                "tz_offset": 0,
                "is_bot": False,
                "profile": {"display_name": user.name, "real_name": user.real_name},
            }
        )

    def _dm_channel(self, team_id: str, channel: str) -> tuple[str | None, str | None]:
        """Resolve a user id used as a channel into the bot's DM with them; (channel, error)."""
        if channel.startswith(("U", "W")):
            user = self.users.get((team_id, channel))
            if user is None:
                return None, "user_not_found"
            if user.deleted:
                return None, "user_disabled"
            if user.dm_error:
                return None, user.dm_error
            return "D" + channel[1:], None
        return channel, None

    def _m_conversations_open(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        users = str(args.get("users", ""))
        channel, error = self._dm_channel(team_id, users.split(",")[0])
        if error:
            return self._err(error)
        return self._ok(channel={"id": channel})

    def _m_chat_postMessage(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        if not args.get("text") and not args.get("blocks"):
            return self._err("no_text")
        channel, error = self._dm_channel(team_id, str(args.get("channel", "")))
        if error:
            return self._err(error)
        if self.per_channel_rate:
            now = self.time_fn()
            key = team_id if self.rate_scope == "team" else f"{team_id}/{channel}"
            with self._cond:
                last = self._last_post.get(key)
                gap = 1.0 / self.per_channel_rate
                if last is not None and now - last < gap:
                    wait = max(1, math.ceil(gap - (now - last)))
                    self.ratelimited["channel"] += 1
                    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
                self._last_post[key] = now
        if self.workspace_rate_per_min:
            wait = self._take_workspace_token(team_id)
            if wait is not None:
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)}
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return self._err("invalid_metadata_format")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            return self._err("invalid_metadata_format")
        ts = self._ts()
        message = {
            "type": "message",
            "text": args.get("text", ""),
            "blocks": args.get("blocks", []),
            "ts": ts,
            "user": self.bot_users[team_id],
        }
        with self._cond:
            self.history.setdefault((team_id, str(channel)), []).append({**message, "metadata": metadata})
        return self._ok(channel=channel, ts=ts, message=message)

    def _m_conversations_history(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """Newest first; message metadata only with include_all_metadata, as Slack does."""
        channel = str(args.get("channel", ""))
        if not channel.startswith(("D", "C", "G")):
            return self._err("channel_not_found")
        with_meta = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        try:
            limit = int(args.get("limit") or 100)
        except ValueError:
            return self._err("invalid_limit")
        with self._cond:
            messages = list(reversed(self.history.get((team_id, channel), [])))[:limit]
        out = []
        for m in messages:
            m = dict(m)
            meta = m.pop("metadata", None)
            if with_meta and meta is not None:
                m["metadata"] = meta
            out.append(m)
        return self._ok(messages=out, has_more=False)

    def _take_workspace_token(self, team_id: str) -> int | None:
        """None when the workspace's bucket had a token for this message, else Retry-After seconds."""
        rate = (self.workspace_rate_per_min or 0.0) / 60.0
        now = self.time_fn()
        with self._cond:
            tokens, at = self._buckets.get(team_id, (float(self.workspace_burst), now))
            tokens = min(float(self.workspace_burst), tokens + max(0.0, now - at) * rate)
            if tokens < 1.0:
                self._buckets[team_id] = (tokens, now)
                self.ratelimited["workspace"] += 1
                return max(1, math.ceil((1.0 - tokens) / rate))
            self._buckets[team_id] = (tokens - 1.0, now)
            return None

    def _m_chat_postEphemeral(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        if (team_id, str(args.get("user", ""))) not in self.users:
            return self._err("user_not_in_channel")
        return self._ok(message_ts=self._ts())

    def _m_chat_update(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        return self._ok(channel=args.get("channel"), ts=args.get("ts"), text=args.get("text", ""))

    def _view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view") or {}
        if isinstance(view, str):
            view = json.loads(view)
        n = next(self._ids)
        return {**view, "id": args.get("view_id") or f"V{n:08d}", "hash": f"{n}.hash"}

    def _check_view(self, view: dict[str, Any], max_blocks: int) -> str | None:
        blocks = view.get("blocks") or []
        if len(blocks) > max_blocks:
            return "invalid_arguments"
        if view.get("type") == "modal":
            for key in ("title", "submit", "close"):
                if key in view and len(view[key].get("text", "")) > 24:
                    return "invalid_arguments"
        return None

    def _m_views_open(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        if not args.get("trigger_id"):
            return self._err("invalid_arguments")
        view = self._view(args)
        error = self._check_view(view, 100)
        return self._err(error) if error else self._ok(view=view)

    def _m_views_update(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        view = self._view(args)
        error = self._check_view(view, 100)
        return self._err(error) if error else self._ok(view=view)

    def _m_views_push(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        return self._m_views_open(team_id, args)

    def _m_views_publish(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        view = self._view(args)
        error = self._check_view(view, 100)
        return self._err(error) if error else self._ok(view=view)

    def _m_files_getUploadURLExternal(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError):
            return self._err("invalid_arguments")
        if not filename or length <= 0:
            return self._err("missing_argument")  # what Slack says for a missing name or a length of 0
        file_id = f"F{next(self._ids):08d}"
        with self._cond:
            self.files[file_id] = FakeFile(file_id, team_id, filename, length, alt_txt=str(args.get("alt_txt") or ""))
        return self._ok(upload_url=f"{self.root}/upload/{file_id}", file_id=file_id)

    def _m_files_completeUploadExternal(self, team_id: str, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        raw = args.get("files")
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return self._err("invalid_arguments")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) and i.get("id") for i in items):
            return self._err("invalid_arguments")
        targets = [c for c in str(args.get("channels") or args.get("channel_id") or "").split(",") if c]
        channels: list[str] = []
        for target in targets:
            channel, error = self._dm_channel(team_id, target)
            if error:
                return self._err(error)
            channels.append(channel or target)
        with self._cond:
            found = [self.files.get(str(i["id"])) for i in items]
            # A file id Slack never issued, issued to another workspace, or whose bytes never
            # reached the upload URL: Slack has no such file.
            if any(f is None or f.team_id != team_id or f.content is None for f in found):
                return self._err("file_not_found")
            out = []
            for item, f in zip(items, found, strict=True):
                assert f is not None and f.content is not None
                f.title = str(item.get("title") or f.filename)
                f.channels = list(channels)
                f.completed = True
                f.initial_comment = str(args.get("initial_comment") or "")
                out.append(
                    {
                        "id": f.file_id,
                        "name": f.filename,
                        "title": f.title,
                        "size": len(f.content),
                        "mimetype": mimetypes.guess_type(f.filename)[0] or "application/octet-stream",
                    }
                )
        return self._ok(files=out)

    def _oauth_access(self, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        found = self.oauth_codes.get(str(args.get("code", "")))
        if found is None:
            return self._err("invalid_code")
        team_id, token = found
        self.tokens[token] = team_id
        return self._ok(
            access_token=token,
            token_type="bot",
            scope="commands,chat:write,im:write,users:read",
            bot_user_id=self.bot_users.get(team_id, "UBOT"),
            app_id="A0DAREBOT",
            team={"id": team_id, "name": self.teams.get(team_id, "Team")},
            enterprise=None,
            is_enterprise_install=False,
            authed_user={"id": "UINSTALLER"},
        )


# ---------------------------------------------------------------------- signed requests


def signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class HttpResult:
    status: int
    body: str
    headers: dict[str, str]
    response_url: str = ""  # the response_url the request carried, if any

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class SlackSigner:
    """Sends requests to the app as Slack would: form or JSON bodies, `v0=` HMAC-SHA256 signed."""

    def __init__(self, app_url: str, secret: str, fake: FakeSlackAPI, team_id: str = "T1") -> None:
        self.app_url = app_url  # e.g. http://127.0.0.1:PORT/slack/events
        self.secret = secret
        self.fake = fake
        self.team_id = team_id
        self._n = itertools.count(1)

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        extra_headers: dict[str, str] | None = None,
        bad_signature: bool = False,
    ) -> HttpResult:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = signature(secret or self.secret, ts, body)
        if bad_signature:
            sig = sig[:-4] + "0000"
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
            **(extra_headers or {}),
        }
        req = urllib.request.Request(self.app_url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                return HttpResult(resp.status, resp.read().decode(), dict(resp.headers))
        except urllib.error.HTTPError as err:
            return HttpResult(err.code, err.read().decode(), dict(err.headers))

    def trigger_id(self) -> str:
        return f"{next(self._n)}.{int(time.time())}.trigger"

    def command(
        self, user_id: str, text: str, *, channel_id: str = "C1", user_name: str | None = None, **kw: Any
    ) -> HttpResult:
        form = {
            "token": "legacy",
            "team_id": self.team_id,
            "team_domain": "test",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": "/dare",
            "text": text,
            "api_app_id": "A0DAREBOT",
            "is_enterprise_install": "false",
            "response_url": self.fake.response_url(f"cmd{next(self._n)}"),
            "trigger_id": self.trigger_id(),
        }
        result = self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded", **kw)
        result.response_url = form["response_url"]
        return result

    def interaction(self, payload: dict[str, Any], **kw: Any) -> HttpResult:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded", **kw)

    def block_action(
        self, user_id: str, action_id: str, value: str = "", *, channel_id: str = "D1", block_id: str = "b0", **kw: Any
    ) -> HttpResult:
        payload = {
            "type": "block_actions",
            "team": {"id": self.team_id, "domain": "test"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team_id},
            "api_app_id": "A0DAREBOT",
            "token": "legacy",
            "container": {"type": "message", "message_ts": "1.1", "channel_id": channel_id, "is_ephemeral": False},
            "trigger_id": self.trigger_id(),
            "channel": {"id": channel_id, "name": "directmessage"},
            "message": {"type": "message", "ts": "1.1", "text": "nudge"},
            "response_url": self.fake.response_url(f"act{next(self._n)}"),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": {"type": "plain_text", "text": "button"},
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return self.interaction(payload, **kw)

    def view_submission(self, user_id: str, view: dict[str, Any], values: dict[str, Any], **kw: Any) -> HttpResult:
        """`view` as views.open returned it (with id and hash); `values` is the state.values dict."""
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "test"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team_id},
            "api_app_id": "A0DAREBOT",
            "token": "legacy",
            "trigger_id": self.trigger_id(),
            "view": {
                **view,
                "team_id": self.team_id,
                "state": {"values": values},
                "app_id": "A0DAREBOT",
                "bot_id": "BBOT",
            },
            "response_urls": [],
        }
        return self.interaction(payload, **kw)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, **kw: Any) -> HttpResult:
        body = {
            "token": "legacy",
            "team_id": self.team_id,
            "api_app_id": "A0DAREBOT",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._n):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team_id, "user_id": "UBOT", "is_bot": True}],
        }
        return self.post(json.dumps(body), "application/json", **kw)
