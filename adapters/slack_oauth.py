"""Multi-workspace OAuth for bolt, with its installation store in darebot's database.

bolt's own SQL store keeps tokens in clear text; this one delegates to storage.slack_store, which
encrypts them with Fernet keyed from DAREBOT_SECRET_KEY. Both the sync and async interfaces are
offered: bolt's AsyncApp uses the async one, the Messenger and Directory (sync, off the event
loop) the sync one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.clock import Clock, SystemClock
from storage.db import Database
from storage.slack_store import InstallationRecord, SlackInstallations

if TYPE_CHECKING:
    from adapters.config import Settings

log = logging.getLogger(__name__)

# im:history: a DM whose send had no answer is looked for in the DM before it is sent again.
BOT_SCOPES = ("commands", "chat:write", "im:write", "im:history", "users:read", "files:write")
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def _epoch(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _scopes(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value or "")


class DarebotInstallationStore(InstallationStore, AsyncInstallationStore):
    """slack_sdk's installation store interface over darebot's encrypted table."""

    def __init__(self, db: Database, secret_key: str, *, client_id: str = "", clock: Clock | None = None) -> None:
        self.repo = SlackInstallations(db, secret_key, client_id=client_id)
        self.clock = clock or SystemClock()
        self._logger = log

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    # -- sync ------------------------------------------------------------------------------
    def save(self, installation: Installation) -> None:
        expires = installation.bot_token_expires_at
        rec = InstallationRecord(
            team_id=installation.team_id or "",
            enterprise_id=installation.enterprise_id or "",
            app_id=installation.app_id or "",
            enterprise_name=installation.enterprise_name or "",
            team_name=installation.team_name or "",
            is_enterprise_install=bool(installation.is_enterprise_install),
            bot_id=installation.bot_id or "",
            bot_user_id=installation.bot_user_id or "",
            bot_scopes=_scopes(installation.bot_scopes),
            bot_token=installation.bot_token or "",
            bot_refresh_token=installation.bot_refresh_token or "",
            bot_token_expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
            user_id=installation.user_id or "",
            user_scopes=_scopes(installation.user_scopes),
            user_token=installation.user_token or "",
        )
        self.repo.save(rec, self.clock.now())

    def save_bot(self, bot: Bot) -> None:
        existing = self.repo.find(bot.enterprise_id, bot.team_id, is_enterprise_install=bool(bot.is_enterprise_install))
        rec = existing or InstallationRecord(team_id=bot.team_id or "", enterprise_id=bot.enterprise_id or "")
        rec.bot_token = bot.bot_token
        rec.bot_id = bot.bot_id
        rec.bot_user_id = bot.bot_user_id
        rec.bot_scopes = _scopes(bot.bot_scopes)
        rec.bot_refresh_token = bot.bot_refresh_token or ""
        rec.bot_token_expires_at = (
            datetime.fromtimestamp(bot.bot_token_expires_at, UTC) if bot.bot_token_expires_at else None
        )
        rec.is_enterprise_install = bool(bot.is_enterprise_install)
        self.repo.save(rec, self.clock.now())

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        rec = self.repo.find(enterprise_id, team_id, is_enterprise_install=bool(is_enterprise_install))
        if rec is None or (user_id is not None and rec.user_id != user_id):
            return None
        return Installation(
            app_id=rec.app_id or None,
            enterprise_id=rec.enterprise_id or None,
            enterprise_name=rec.enterprise_name or None,
            team_id=rec.team_id or None,
            team_name=rec.team_name or None,
            bot_token=rec.bot_token or None,
            bot_id=rec.bot_id or None,
            bot_user_id=rec.bot_user_id or None,
            bot_scopes=rec.bot_scopes,
            bot_refresh_token=rec.bot_refresh_token or None,
            bot_token_expires_at=_epoch(rec.bot_token_expires_at),
            user_id=rec.user_id,
            user_token=rec.user_token or None,
            user_scopes=rec.user_scopes,
            is_enterprise_install=rec.is_enterprise_install,
            installed_at=rec.installed_at.timestamp() if rec.installed_at else None,
        )

    def find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        rec = self.repo.find(enterprise_id, team_id, is_enterprise_install=bool(is_enterprise_install))
        if rec is None or not rec.bot_token:
            return None
        return Bot(
            app_id=rec.app_id or None,
            enterprise_id=rec.enterprise_id or None,
            enterprise_name=rec.enterprise_name or None,
            team_id=rec.team_id or None,
            team_name=rec.team_name or None,
            bot_token=rec.bot_token,
            bot_id=rec.bot_id,
            bot_user_id=rec.bot_user_id,
            bot_scopes=rec.bot_scopes,
            bot_refresh_token=rec.bot_refresh_token or None,
            bot_token_expires_at=_epoch(rec.bot_token_expires_at),
            is_enterprise_install=rec.is_enterprise_install,
            installed_at=rec.installed_at.timestamp() if rec.installed_at else 0.0,
        )

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.repo.delete(enterprise_id, team_id)

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:
            self.repo.delete(enterprise_id, team_id)
        else:
            self.repo.delete_user_token(enterprise_id, team_id, user_id)

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.repo.delete(enterprise_id, team_id)

    def bot_token(self, team_id: str, enterprise_id: str | None = None) -> str | None:
        bot = self.find_bot(enterprise_id=enterprise_id, team_id=team_id)
        return bot.bot_token if bot else None

    # -- async (database work off the event loop) ------------------------------------------
    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(self.save, installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await asyncio.to_thread(self.save_bot, bot)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        return await asyncio.to_thread(
            lambda: self.find_bot(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
            )
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return await asyncio.to_thread(
            lambda: self.find_installation(
                enterprise_id=enterprise_id,
                team_id=team_id,
                user_id=user_id,
                is_enterprise_install=is_enterprise_install,
            )
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(lambda: self.delete_bot(enterprise_id=enterprise_id, team_id=team_id))

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await asyncio.to_thread(
            lambda: self.delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(lambda: self.delete_all(enterprise_id=enterprise_id, team_id=team_id))


class DarebotStateStore(OAuthStateStore, AsyncOAuthStateStore):
    """One-time OAuth states in the database, so any worker can finish an install it didn't start."""

    def __init__(self, repo: SlackInstallations, *, ttl_seconds: int = 600, clock: Clock | None = None) -> None:
        self.repo = repo
        self.ttl_seconds = ttl_seconds
        self.clock = clock or SystemClock()

    @property
    def logger(self) -> logging.Logger:
        return log

    def issue(self, *args: object, **kwargs: object) -> str:
        return self.repo.issue_state(self.clock.now(), self.ttl_seconds)

    def consume(self, state: str) -> bool:
        return self.repo.consume_state(state, self.clock.now())

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        return await asyncio.to_thread(self.issue)

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self.consume, state)


def oauth_settings(
    *,
    client_id: str,
    client_secret: str,
    store: DarebotInstallationStore,
    redirect_uri: str | None = None,
) -> AsyncOAuthSettings:
    return AsyncOAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(BOT_SCOPES),
        redirect_uri=redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=store,
        installation_store_bot_only=True,
        state_store=DarebotStateStore(store.repo, clock=store.clock),
    )


def oauth_mode(settings: Settings) -> bool:
    """Several workspaces installing through OAuth, rather than one bot token."""
    return bool(settings.slack_client_id and settings.slack_client_secret and not settings.slack_bot_token)


def make_store(settings: Settings, db: Database) -> DarebotInstallationStore:
    if not settings.secret_key:
        raise SystemExit("Multi-workspace Slack (SLACK_CLIENT_ID/SECRET) needs DAREBOT_SECRET_KEY to encrypt tokens.")
    return DarebotInstallationStore(db, settings.secret_key, client_id=settings.slack_client_id or "")
