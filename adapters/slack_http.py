"""The front of darebot's Slack HTTP endpoint: what runs before bolt sees a request.

In order, and nothing else touches the body before the signature holds:
1. size: a Content-Length over MAX_BODY is refused at once (413); the body is then read in a bounded
   way, so a chunked upload can't grow past the limit either;
2. signature: X-Slack-Request-Timestamp must be digits and recent, X-Slack-Signature must match
   (slack_sdk's SignatureVerifier); otherwise 401;
3. shape: the content type Slack uses for that kind of request, UTF-8, and a body that parses into
   what bolt expects (a JSON object; a form whose `payload` is a JSON object with the right field
   types); otherwise 400.
Every refusal is one short log line with the reason and size: never the body, a token or a
response_url (they sit in the body), at any level. Bolt's own verification is turned off (it would
verify again and log a failing body at INFO), so the app must only be served through this front.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook.async_client import AsyncWebhookClient

log = logging.getLogger("darebot.slack.http")

# Slack's largest requests are view submissions (up to 100 blocks and their state) and event
# callbacks carrying a message (40,000 characters of text plus blocks); form-encoded JSON roughly
# triples in size. 1 MiB is well above any of them and aiohttp's own default ceiling.
MAX_BODY = 1024 * 1024
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class Refused(Exception):
    """A request the front turns away: the HTTP status and a short reason for the log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_bounded(request: web.Request, limit: int = MAX_BODY) -> bytes:
    """The whole body, or Refused(413) as soon as it is known to be larger than `limit`."""
    length = request.content_length
    if length is not None and length > limit:
        raise Refused(413, f"body of {length} bytes declared")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def verify(verifier: SignatureVerifier | None, raw: bytes, headers: Any) -> None:
    """Refused(401) unless the request carries a recent, valid Slack signature."""
    if verifier is None:  # no signing secret configured: nothing can be trusted
        raise Refused(401, "no signing secret configured")
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        raise Refused(401, "unsigned")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise Refused(401, "malformed timestamp")
    try:
        valid = verifier.is_valid(raw, timestamp, signature)
    except UnicodeDecodeError:
        # slack_sdk decodes the body before hashing it; Slack only sends UTF-8, so such a body is
        # refused either way, but a correctly signed one is told apart (400) from a forged one (401).
        valid = abs(time.time() - int(timestamp)) <= 300 and hmac.compare_digest(
            "v0="
            + hmac.new(
                verifier.signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256
            ).hexdigest(),
            signature,
        )
    if not valid:
        raise Refused(401, "bad or stale signature")


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Refused(400, f"{what} is not an object")
    return value


def _optional_object(body: dict[str, Any], key: str) -> None:
    if body.get(key) is not None and not isinstance(body[key], dict):
        raise Refused(400, f"{key} is not an object")


def _check_interaction(payload: dict[str, Any]) -> None:
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise Refused(400, "interaction without a type")
    for key in ("team", "user", "channel", "container", "view"):
        _optional_object(payload, key)
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
            raise Refused(400, "block_actions without actions")
    if kind in ("view_submission", "view_closed"):
        view = _object(payload.get("view"), "view")
        state = view.get("state")
        if state is not None and not isinstance(_object(state, "view.state").get("values", {}), dict):
            raise Refused(400, "view.state.values is not an object")


def parse(raw: bytes, content_type: str) -> dict[str, Any]:
    """What bolt will see, checked: Refused(400) for anything Slack does not send."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    if content_type == JSON:
        try:
            body = _object(json.loads(text), "JSON body")
        except ValueError:
            raise Refused(400, "body is not JSON") from None
        if body.get("type") == "event_callback":
            _object(body.get("event"), "event")
        return body
    if content_type != FORM:
        raise Refused(400, f"content type {content_type[:60]!r}")
    try:
        fields = dict(urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except ValueError:
        raise Refused(400, "form body does not parse") from None
    if "payload" in fields:
        try:
            payload = _object(json.loads(fields["payload"]), "payload")
        except ValueError:
            raise Refused(400, "payload is not JSON") from None
        _check_interaction(payload)
        return payload
    if fields.get("ssl_check") == "1":
        return fields
    if not fields.get("command"):
        raise Refused(400, "form body is neither a command nor an interaction")
    return fields


async def admit(request: web.Request, verifier: SignatureVerifier | None) -> tuple[str, dict[str, Any]]:
    """The body as text and as parsed, once size, signature and shape hold; else Refused."""
    raw = await read_bounded(request)
    verify(verifier, raw, request.headers)
    body = parse(raw, request.content_type)
    return raw.decode("utf-8"), body


def refusal(err: Refused, request: web.Request) -> web.Response:
    """One short line in the log, and an answer that echoes nothing of the request."""
    log.warning("slack: refused a request to %s: %s (HTTP %d)", request.path, err.reason, err.status)
    return web.json_response({"error": "invalid request" if err.status == 401 else "bad request"}, status=err.status)


def quiet_library_logs() -> None:
    """slack_bolt and slack_sdk log request bodies, response_urls and API arguments at DEBUG (and
    bolt a failing body at INFO): keep them at WARNING whatever the root level is."""
    for name in ("slack_bolt", "slack_sdk"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


# -- answers through response_url ---------------------------------------------------------------

# One keep-alive session per event loop for response_url POSTs. bolt's respond() opens a new
# aiohttp session (and TCP/TLS connection) for every answer: under a burst that was a quarter of the
# event loop's time (socket set-up and teardown), time taken from the acknowledgements.
_response_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def _response_session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _response_sessions.get(loop)
    if session is None or session.closed:
        session = _response_sessions[loop] = aiohttp.ClientSession()
    return session


async def post_response(
    respond: Any, *, text: str, blocks: list[dict[str, Any]], response_type: str, replace_original: bool
) -> None:
    """What bolt's respond(...) does, over the loop's shared session (bolt's respond when it has no
    response_url to reuse, e.g. a test double)."""
    url = getattr(respond, "response_url", None)
    if not isinstance(url, str) or not url:
        await respond(text=text, blocks=blocks, response_type=response_type, replace_original=replace_original)
        return
    client = AsyncWebhookClient(
        url=url, session=_response_session(), proxy=getattr(respond, "proxy", None), ssl=getattr(respond, "ssl", None)
    )
    await client.send_dict(
        {"text": text, "blocks": blocks, "response_type": response_type, "replace_original": replace_original}
    )


async def close_response_session() -> None:
    """At shutdown (after the last answer): the running loop's response_url session."""
    session = _response_sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()
