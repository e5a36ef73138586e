"""The Messenger port on Discord: one DM through the bot's own REST client.

The coach calls `send_dm` synchronously from its scheduler thread; the send runs on the client's
event loop (`asyncio.run_coroutine_threadsafe`) and the thread waits for its outcome.

Errors, as the outbox needs them:
* 403 with code 50007 (the member closed DMs from server members, or blocked the bot) ->
  PermanentSendError: never retried, since every refusal counts toward Discord's invalid-request
  limit (10,000 per 10 minutes bans the IP). Other 403s, unknown users (404) and invalid recipients
  (400/50033) are permanent too.
* 429: discord.py's own rate limiter waits and retries (it reads `retry_after`, the bucket headers
  and the global flag); only when it gives up (`discord.RateLimited`) is it TransientSendError.
* network trouble, timeouts and 5xx -> AmbiguousSendError: the message may have been posted.

Exactly once: every DM is sent with a nonce derived from its outbox key (discord.py sets
`enforce_nonce`), so Discord answers a repeat within a few minutes with the message it already
posted instead of posting again. A retry after an unknown outcome therefore needs no lookup.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
from typing import Any

import aiohttp
import discord

from adapters.discord_render import render
from bot.ports import AmbiguousSendError, PermanentSendError, Sent, TransientSendError
from bot.replies import Reply

log = logging.getLogger(__name__)

DM_CLOSED = 50007
INVALID_RECIPIENT = 50033
UNKNOWN_USER = 10013


class DiscordMessenger:
    def __init__(self, client: discord.Client | None = None, *, timeout: float = 60.0) -> None:
        self._client = client
        self.timeout = timeout

    def attach(self, client: discord.Client | None) -> None:
        """The client DMs go through (run_discord builds a new one after a start-up failure)."""
        self._client = client

    def send_dm(
        self, workspace_external_id: str, user_id: str, reply: Reply, *, key: str = "", check: bool = False
    ) -> Sent:
        client = self._client
        if client is None or client.is_closed() or client.http.token is None:
            raise TransientSendError("the Discord client is not connected yet")
        loop = client.loop
        if _running_in(loop):
            raise RuntimeError("send_dm blocks; call it from a worker thread, not the client's event loop")
        fut = asyncio.run_coroutine_threadsafe(self.send_dm_async(workspace_external_id, user_id, reply, key=key), loop)
        try:
            return fut.result(self.timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise AmbiguousSendError("sending the DM timed out") from None

    async def send_dm_async(self, workspace_external_id: str, user_id: str, reply: Reply, *, key: str = "") -> Sent:
        client = self._client
        if client is None:
            raise TransientSendError("the Discord client is not connected yet")
        from adapters.discord_bot import DareButton  # the registered persistent button class

        try:
            channel = await client.create_dm(discord.Object(id=int(user_id)))
        except (TimeoutError, aiohttp.ClientError, OSError) as err:  # nothing was posted yet
            raise TransientSendError(f"network trouble: {err.__class__.__name__}") from None
        try:
            rendered = render(reply, workspace_id=workspace_external_id, button_factory=DareButton.make)
            kwargs = rendered.kwargs()
            if key:
                kwargs["nonce"] = nonce_for(key)
            message = await channel.send(**kwargs)
            return Sent(str(message.id))
        except discord.Forbidden as err:
            if err.code == DM_CLOSED:
                raise PermanentSendError("the member does not accept DMs from the bot (50007)") from None
            # Any other 403 is about the bot's own access, not the person: retry slowly, then give the row up.
            log.error("Discord refused a DM (403, code %s): check the bot's permissions", err.code)
            raise TransientSendError(f"Discord refused the DM (403, code {err.code})", retry_after=600.0) from None
        except discord.NotFound as err:
            if err.code == UNKNOWN_USER:
                raise PermanentSendError("unknown user (10013)") from None
            raise TransientSendError(f"not found (404, code {err.code})", retry_after=600.0) from None
        except discord.RateLimited as err:
            raise TransientSendError("rate limited", retry_after=err.retry_after) from None
        except discord.DiscordServerError as err:
            raise AmbiguousSendError(f"Discord server error ({err.status})") from None
        except discord.HTTPException as err:
            if err.code == INVALID_RECIPIENT:
                raise PermanentSendError(f"invalid recipient (code {err.code})") from None
            if err.status == 429:  # a 429 without Discord's Via header: a Cloudflare block
                raise TransientSendError("blocked by Cloudflare (429)", retry_after=60.0) from None
            if err.status >= 500:
                raise AmbiguousSendError(f"Discord server error ({err.status})") from None
            # 401 (a reset token) or 400 (a message we built wrong) is darebot's trouble, never the
            # person's: retry slowly and let the outbox mark the row failed, leaving them reachable.
            log.error("Discord rejected a DM (%s, code %s): %s", err.status, err.code, err.text[:200])
            raise TransientSendError(
                f"Discord rejected the DM ({err.status}, code {err.code})", retry_after=600.0
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise AmbiguousSendError(f"network trouble: {err.__class__.__name__}") from None


def nonce_for(key: str) -> str:
    """A DM's nonce: derived from its outbox key, so every attempt at one DM carries the same one
    (Discord takes at most 25 characters)."""
    return hashlib.sha256(key.encode()).hexdigest()[:25]


def _running_in(loop: Any) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
