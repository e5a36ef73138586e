"""The engine's ports on Slack: Messenger (DM delivery) and Directory (users.info, cached).

Both are synchronous and run off the event loop: the Messenger on the scheduler's thread, the
Directory inside engine calls (which the adapter runs with asyncio.to_thread). They use slack_sdk's
sync WebClient pointed at SLACK_API_URL. The Messenger never sleeps on a rate limit: a 429 becomes
TransientSendError(retry_after) and the outbox retries that one DM later, so no other workspace and
no acknowledgement ever waits behind it.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TLRUCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from adapters.slack_render import render_message
from bot.ports import PermanentSendError, Sent, TransientSendError
from bot.replies import Reply

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"

# chat.postMessage errors after which retrying is pointless: the person can't get our DMs.
PERMANENT_ERRORS = frozenset(
    {
        "cannot_dm_bot",
        "channel_not_found",
        "user_not_found",
        "user_not_visible",
        "users_not_found",
        "account_inactive",
        "user_disabled",
        "user_is_bot",
        "messages_tab_disabled",
        "is_archived",
        "not_in_channel",
        "restricted_action",
        "cant_dm",
        "cannot_dm",
    }
)

# Errors about darebot's own token or scopes, not about the person: never mark people unreachable
# for them (a mistyped SLACK_BOT_TOKEN would otherwise write off a whole class). They are retried
# slowly until the outbox gives up on the DM, and logged loudly.
CONFIG_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "team_access_not_granted", "no_permission",
     "missing_scope", "not_allowed_token_type", "ekm_access_denied"}
)
CONFIG_RETRY_SECONDS = 600.0

TokenSource = Callable[[str], "str | None"]


def api_base_url(url: str | None) -> str:
    """SLACK_API_URL with the trailing slash slack_sdk's urljoin needs."""
    url = url or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


class ClientPool:
    """One sync WebClient per bot token (clients are cheap, but reuse keeps connections warm)."""

    def __init__(self, tokens: TokenSource, base_url: str | None, *, timeout: int = 10) -> None:
        self.tokens = tokens
        self.base_url = api_base_url(base_url)
        self.timeout = timeout
        self._clients: dict[str, WebClient] = {}
        self._lock = threading.Lock()

    def for_team(self, team_id: str) -> WebClient | None:
        token = self.tokens(team_id)
        if not token:
            return None
        with self._lock:
            client = self._clients.get(token)
            if client is None:
                # Default retry handlers: connection errors only. Rate limits are the caller's.
                client = WebClient(token=token, base_url=self.base_url, timeout=self.timeout)
                self._clients[token] = client
            return client


def _retry_after(err: SlackApiError) -> float | None:
    headers = getattr(err.response, "headers", None) or {}
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return float(value[0] if isinstance(value, list) else value)
            except (TypeError, ValueError):
                return None
    return None


class SlackMessenger:
    """Messenger port: one DM per call, chat.postMessage with the user id as channel."""

    def __init__(self, clients: ClientPool) -> None:
        self.clients = clients

    def send_dm(self, workspace_external_id: str, user_id: str, reply: Reply) -> Sent:
        client = self.clients.for_team(workspace_external_id)
        if client is None:  # uninstalled (OAuth) or not configured: not the person's fault
            log.error("slack: no bot token for workspace %s; DM to %s postponed", workspace_external_id, user_id)
            raise TransientSendError("not_installed: darebot has no token for this workspace", CONFIG_RETRY_SECONDS)
        try:
            resp = client.chat_postMessage(channel=user_id, **render_message(reply))
        except SlackApiError as err:
            status = getattr(err.response, "status_code", 200)
            error = str((err.response.data or {}).get("error", "")) if isinstance(err.response.data, dict) else ""
            if status == 429 or error == "ratelimited":
                raise TransientSendError("ratelimited", _retry_after(err) or 1.0) from None
            if error in PERMANENT_ERRORS:
                raise PermanentSendError(error) from None
            if error in CONFIG_ERRORS:
                log.error("slack: chat.postMessage refused darebot's token for %s: %s", workspace_external_id, error)
                raise TransientSendError(error, CONFIG_RETRY_SECONDS) from None
            if status >= 500 or error in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
                raise TransientSendError(error or f"http {status}") from None
            raise TransientSendError(error or f"http {status}") from None
        except (SlackClientError, urllib.error.URLError, OSError, TimeoutError) as err:
            raise TransientSendError(f"connection: {err}") from None
        channel = resp.get("channel") or user_id
        return Sent(message_id=f"{channel}:{resp.get('ts', '')}")


@dataclass(frozen=True)
class Profile:
    name: str
    tz: str | None


class SlackDirectory:
    """Directory port: display names (and time zones) from users.info, cached for `ttl` seconds (`negative_ttl`
    for people not found) in a bounded cache: the least recently used entries go first when it is full."""

    def __init__(self, clients: ClientPool, *, ttl: float = 3600.0, negative_ttl: float = 60.0,
                 maxsize: int = 10_000, timer: Callable[[], float] = time.monotonic) -> None:
        self.clients = clients
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._cache: TLRUCache[tuple[str, str], Profile | None] = TLRUCache(
            maxsize=maxsize, ttu=self._expires, timer=timer)
        self._lock = threading.Lock()
        self.lookups = 0  # users.info calls made (tests check the cache)

    def _expires(self, _key: tuple[str, str], value: Profile | None, now: float) -> float:
        return now + (self.ttl if value is not None else self.negative_ttl)

    def profile(self, workspace_external_id: str, user_id: str) -> Profile | None:
        key = (workspace_external_id, user_id)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        found = self._fetch(workspace_external_id, user_id)
        with self._lock:
            self._cache[key] = found
        return found

    def _fetch(self, team_id: str, user_id: str) -> Profile | None:
        client = self.clients.for_team(team_id)
        if client is None:
            return None
        self.lookups += 1
        try:
            data = client.users_info(user=user_id).data
        except (SlackApiError, SlackClientError, OSError) as err:
            log.info("users.info %s failed: %s", user_id, err)
            return None
        user = data.get("user") or {} if isinstance(data, dict) else {}
        profile = user.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
        if not name:
            return None
        return Profile(name=str(name)[:200], tz=user.get("tz") or None)

    def display_name(self, workspace_external_id: str, user_id: str) -> str | None:
        found = self.profile(workspace_external_id, user_id)
        return found.name if found else None

    def forget(self, workspace_external_id: str, user_id: str) -> None:
        with self._lock:
            self._cache.pop((workspace_external_id, user_id), None)
