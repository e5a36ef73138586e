"""Each person's App Home tab: published when they open it, and republished after what they do,
so the Home tab is never stale, without publishing on every command of a burst.

At most one publish per person per HOME_REFRESH_SECONDS: the first goes out once the burst settles
(HOME_SETTLE_SECONDS), never on an answer's path; what changes within the window is folded into one
publish at its end, which reads the state as it is then, so the last change is always shown.
Publishes for one person never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_render as render
from adapters.deadline import ENGINE
from bot.identity import Actor, WorkspaceRef
from bot.ports import EngineAPI

log = logging.getLogger("darebot.slack")

HOME_REFRESH_SECONDS = 5.0  # a person's App Home is republished at most once in this many seconds
# A refresh waits this long after the command that asked for it, so a class-wide burst is answered
# first and each person's commands within the wait fold into one publish.
HOME_SETTLE_SECONDS = 0.5


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


class AppHomes:
    """Publishes App Home views; `spawn` runs work after the ack as the listeners' tracked tasks."""

    def __init__(
        self, engine: EngineAPI, actor: Callable[[str, str, str], Actor], spawn: Callable[[Awaitable[Any], str], Any]
    ) -> None:
        self.engine = engine
        self._actor = actor
        self._spawn = spawn
        self._homes: dict[tuple[str, str], _HomeState] = {}  # (team, user) -> App Home refresh state

    def _background(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        """Engine work nobody is waiting on (App Home): on the engine lane, only when no command waits."""
        return ENGINE.submit(fn, *args, background=True)

    def flush(self) -> None:
        """Refreshes held back by the window go out now (drain: tests, shutdown)."""
        for state in self._homes.values():
            state.flush.set()

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

    def refresh(self, client: AsyncWebClient, team_id: str, user_id: str) -> None:
        """Republish a person's App Home in the background (see the module's docstring)."""
        if not team_id or not user_id:
            return
        state = self._home_state(team_id, user_id)
        if state.pending:
            return  # a publish is already waiting and will read the newest state
        state.pending = True
        state.flush.clear()
        wait = max(HOME_SETTLE_SECONDS, state.last + HOME_REFRESH_SECONDS - asyncio.get_running_loop().time())
        self._spawn(self._refresh_after(client, team_id, user_id, state, wait), "app home refresh")

    async def _refresh_after(
        self, client: AsyncWebClient, team_id: str, user_id: str, state: _HomeState, wait: float
    ) -> None:
        if wait > 0:
            with contextlib.suppress(TimeoutError):  # drain() (tests, shutdown) cuts the wait short
                await asyncio.wait_for(state.flush.wait(), wait)
        try:
            await self.publish_now(client, team_id, user_id, state=state)
        except SlackApiError as err:  # e.g. the Home tab turned off in the app's settings
            log.warning("slack: App Home of %s/%s not refreshed: %s", team_id, user_id, err.response.get("error"))

    async def publish_now(
        self, client: AsyncWebClient, team_id: str, user_id: str, *, state: _HomeState | None = None
    ) -> None:
        home = state or self._home_state(team_id, user_id)
        async with home.lock:
            if state is not None:
                state.pending = False  # from here on, a new change needs a new publish
            home.last = asyncio.get_running_loop().time()
            actor = await self._background(self._actor, team_id, user_id, "")
            reply = await self._background(self.engine.home, WorkspaceRef("slack", team_id), actor)
            await client.views_publish(user_id=user_id, view=render.render_home(reply))
