"""The engine's ports on Slack: Messenger (DM delivery) and Directory (users.info, cached).

Both are synchronous and run off the event loop: the Messenger on the scheduler's thread, the
Directory inside engine calls (which the adapter runs with asyncio.to_thread). They use slack_sdk's
sync WebClient pointed at SLACK_API_URL. The Messenger never sleeps on a rate limit: a 429 becomes
TransientSendError(retry_after) and the outbox retries that one DM later, so no other workspace and
no acknowledgement ever waits behind it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TLRUCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from adapters.slack_render import render_message
from bot.ports import AmbiguousSendError, PermanentSendError, Sent, TransientSendError, WorkspaceAuthError
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
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "team_access_not_granted",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "ekm_access_denied",
    }
)
CONFIG_RETRY_SECONDS = 600.0
# Of those, the ones that mean the token itself is dead for the workspace (account_inactive: "the
# token is for a deleted user or workspace"): the workspace's DMs are held until a new token comes.
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "team_access_not_granted"}
)

TokenSource = Callable[[str], "str | None"]


def api_base_url(url: str | None) -> str:
    """SLACK_API_URL with the trailing slash slack_sdk's urljoin needs."""
    url = url or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


class ClientPool:
    """One sync WebClient per bot token (clients are cheap, but reuse keeps connections warm)."""

    def __init__(self, tokens: TokenSource, base_url: str | None, *, timeout: int = 10, retries: bool = True) -> None:
        self.tokens = tokens
        self.base_url = api_base_url(base_url)
        self.timeout = timeout
        self.retries = retries
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
                if not self.retries:
                    client.retry_handlers = []
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
    """Messenger port: one DM per call, chat.postMessage with the user id as channel.

    Exactly once through ambiguity: each DM carries its outbox key in message metadata. When a send
    may have gone out unanswered (a timeout, a dropped connection), the error says so
    (AmbiguousSendError) and the next attempt (`check=True`) first looks for that key in the DM's
    recent history (conversations.history, scope im:history) and sends only if it is not there. The
    messenger's clients never retry by themselves: slack_sdk's connection-error retry would resend a
    message whose answer was lost.
    """

    def __init__(self, clients: ClientPool, *, timeout: int | None = None) -> None:
        self.clients = ClientPool(clients.tokens, clients.base_url, timeout=timeout or clients.timeout, retries=False)

    def send_dm(
        self, workspace_external_id: str, user_id: str, reply: Reply, *, key: str = "", check: bool = False
    ) -> Sent:
        client = self.clients.for_team(workspace_external_id)
        if client is None:  # uninstalled (OAuth) or not configured: not the person's fault
            log.error("slack: no bot token for workspace %s; DM to %s postponed", workspace_external_id, user_id)
            raise TransientSendError("not_installed: darebot has no token for this workspace", CONFIG_RETRY_SECONDS)
        if check and key:
            found = self._find(client, workspace_external_id, user_id, key)
            if found is not None:
                log.info("slack: DM %s to %s had arrived; not sent again", key, user_id)
                return found
        message = render_message(reply)
        if key:
            message["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"key": key}}
        try:
            resp = client.chat_postMessage(channel=user_id, **message)
        except SlackApiError as err:
            raise _classify(err, workspace_external_id) from None
        except Exception as err:
            if _before_sending(err):
                raise TransientSendError(f"connection: {err.__class__.__name__}") from None
            raise AmbiguousSendError(f"no answer: {err.__class__.__name__}") from None
        channel = resp.get("channel") or user_id
        if reply.image is not None:  # the instructor digest's weekly chart follows its message
            _upload_image(client, channel, reply)
        return Sent(message_id=f"{channel}:{resp.get('ts', '')}")

    def _find(self, client: WebClient, team_id: str, user_id: str, key: str) -> Sent | None:
        """The DM tagged with `key` in the person's recent DM history, if it arrived."""
        try:
            opened = client.conversations_open(users=user_id)
            channel = str((opened.get("channel") or {}).get("id") or "")
            history = client.conversations_history(channel=channel, limit=HISTORY_LOOKBACK, include_all_metadata=True)
        except SlackApiError as err:
            error = _error_of(err)
            if error == "missing_scope":
                # Without im:history nothing can be checked: sending again risks a repeat, never a loss.
                log.error("slack: cannot check DM %s in %s (missing im:history scope); sending it again", key, team_id)
                return None
            raise _classify(err, team_id, ambiguous=True) from None
        except Exception as err:
            raise AmbiguousSendError(f"could not check history: {err.__class__.__name__}") from None
        for msg in history.get("messages") or []:
            meta = msg.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == key:
                return Sent(message_id=f"{channel}:{msg.get('ts', '')}")
        return None


METADATA_EVENT = "darebot_nudge"
HISTORY_LOOKBACK = 100  # messages: a person's DM with darebot gets a handful a week


def _error_of(err: SlackApiError) -> str:
    return str((err.response.data or {}).get("error", "")) if isinstance(err.response.data, dict) else ""


def _classify(err: SlackApiError, team_id: str, *, ambiguous: bool = False) -> Exception:
    """Slack answered: a definite outcome, so retrying can't duplicate (unless `ambiguous` already)."""
    status = getattr(err.response, "status_code", 200)
    error = _error_of(err)
    kind = AmbiguousSendError if ambiguous else TransientSendError
    if status == 429 or error == "ratelimited":
        return kind("ratelimited", _retry_after(err) or 1.0)
    if error in PERMANENT_ERRORS and not ambiguous:
        return PermanentSendError(error)
    if error in TOKEN_ERRORS:
        log.error("slack: Slack rejected darebot's token for %s: %s", team_id, error)
        return WorkspaceAuthError(error, CONFIG_RETRY_SECONDS)
    if error in CONFIG_ERRORS:
        log.error("slack: Slack refused darebot's token for %s: %s", team_id, error)
        return kind(error, CONFIG_RETRY_SECONDS)
    if status >= 500 or error in ("internal_error", "fatal_error", "request_timeout", "service_unavailable"):
        return AmbiguousSendError(error or f"http {status}")  # Slack may have posted before failing
    return kind(error or f"http {status}")


def _before_sending(err: Exception) -> bool:
    """True when the request can't have reached Slack (refused connection, unknown host)."""
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    return isinstance(reason, (ConnectionRefusedError, socket.gaierror))


def _upload_image(client: WebClient, channel: str, reply: Reply) -> None:
    """The DM is sent already: a failed upload is logged, never retried as a second DM."""
    image = reply.image
    assert image is not None
    try:
        client.files_upload_v2(
            channel=channel,
            file_uploads=[
                {
                    "filename": image.filename,
                    "content": image.content,
                    "title": (reply.title or image.filename)[:250],
                    "alt_txt": (image.alt or reply.title or image.filename)[:1000],
                }
            ],
        )
    except (SlackApiError, SlackClientError, urllib.error.URLError, OSError, TimeoutError):
        log.warning("slack: the chart for %s could not be uploaded", channel, exc_info=True)


@dataclass(frozen=True)
class Profile:
    name: str
    tz: str | None


class SlackDirectory:
    """Directory port: display names (and time zones) from users.info, cached for `ttl` seconds (`negative_ttl`
    for people not found) in a bounded cache: the least recently used entries go first when it is full."""

    def __init__(
        self,
        clients: ClientPool,
        *,
        ttl: float = 3600.0,
        negative_ttl: float = 60.0,
        maxsize: int = 10_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = clients
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._cache: TLRUCache[tuple[str, str], Profile | None] = TLRUCache(
            maxsize=maxsize, ttu=self._expires, timer=timer
        )
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
