"""Slack installations (multi-workspace OAuth) and OAuth states, in darebot's own database.

Tokens are encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`), keyed
from DAREBOT_SECRET_KEY through HKDF. The database alone never yields a usable token. This module
knows no Slack library: adapters/slack_oauth.py maps slack_sdk's objects onto these rows.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import UniqueConstraint, update
from sqlmodel import Field, SQLModel, col, delete, select

from storage.db import Database
from storage.models import Workspace


class SlackInstallation(SQLModel, table=True):
    """The current installation of the app in one Slack workspace (or Enterprise Grid org)."""

    __tablename__ = "slack_installation"
    __table_args__ = (UniqueConstraint("client_id", "enterprise_id", "team_id"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(default="", max_length=64)
    app_id: str = Field(default="", max_length=32)
    enterprise_id: str = Field(default="", max_length=32)  # "" when not on Enterprise Grid
    enterprise_name: str = Field(default="", max_length=200)
    team_id: str = Field(default="", max_length=32, index=True)  # "" for an org-wide install
    team_name: str = Field(default="", max_length=200)
    is_enterprise_install: bool = False
    bot_id: str = Field(default="", max_length=32)
    bot_user_id: str = Field(default="", max_length=32)
    bot_scopes: str = Field(default="", max_length=1000)
    bot_token_enc: str = Field(default="", max_length=1000)
    bot_refresh_token_enc: str = Field(default="", max_length=1000)
    bot_token_expires_at: datetime | None = None
    user_id: str = Field(default="", max_length=32)
    user_scopes: str = Field(default="", max_length=1000)
    user_token_enc: str = Field(default="", max_length=1000)
    installed_at: datetime


class SlackOAuthState(SQLModel, table=True):
    """A one-time OAuth `state` value; consumed once, before it expires."""

    __tablename__ = "slack_oauth_state"
    state: str = Field(primary_key=True, max_length=100)
    expires_at: datetime


def _fernet(key: str) -> Fernet:
    if len(key) < 16:
        raise ValueError("DAREBOT_SECRET_KEY must be set (at least 16 characters a key) to store Slack tokens")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"darebot", info=b"slack-token-encryption").derive(
        key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def token_cipher(secret_key: str) -> MultiFernet:
    """Fernet keys from DAREBOT_SECRET_KEY: one or more comma-separated strings of at least 16 characters.
    The first encrypts; every one decrypts, so a new key can be put in front while old tokens stay readable."""
    keys = [k.strip() for k in (secret_key or "").split(",") if k.strip()]
    if not keys:
        raise ValueError("DAREBOT_SECRET_KEY must be set (at least 16 characters) to store Slack tokens")
    return MultiFernet([_fernet(k) for k in keys])


_ENCRYPTED_COLUMNS = ("bot_token_enc", "bot_refresh_token_enc", "user_token_enc")


def rotate_tokens(db: Database, keys: list[str]) -> tuple[int, int]:
    """Re-encrypt every stored token with the first of `keys`: (installations re-encrypted, installations
    with a token no key can read, left as they are)."""
    cipher = token_cipher(",".join(keys))
    done = unreadable = 0
    with db.session() as s:
        for row in s.exec(select(SlackInstallation)).all():
            try:
                fresh = {
                    col: cipher.rotate(getattr(row, col).encode()).decode()
                    for col in _ENCRYPTED_COLUMNS
                    if getattr(row, col)
                }
            except InvalidToken:
                unreadable += 1
                continue
            for col, value in fresh.items():
                setattr(row, col, value)
            done += 1
    return done, unreadable


@dataclass
class InstallationRecord:
    """Plain, decrypted installation data moving between the adapter and the table."""

    team_id: str = ""
    enterprise_id: str = ""
    client_id: str = ""
    app_id: str = ""
    enterprise_name: str = ""
    team_name: str = ""
    is_enterprise_install: bool = False
    bot_id: str = ""
    bot_user_id: str = ""
    bot_scopes: str = ""
    bot_token: str = ""
    bot_refresh_token: str = ""
    bot_token_expires_at: datetime | None = None
    user_id: str = ""
    user_scopes: str = ""
    user_token: str = ""
    installed_at: datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)


_SECRET_FIELDS = ("bot_token", "bot_refresh_token", "user_token")


class SlackInstallations:
    """Encrypted installation store and OAuth state store over one Database."""

    def __init__(self, db: Database, secret_key: str, *, client_id: str = "") -> None:
        self.db = db
        self.client_id = client_id
        self._fernet = token_cipher(secret_key)

    def _enc(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode() if value else ""

    def _dec(self, value: str) -> str:
        if not value:
            return ""
        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken:  # a rotated key: treat as not installed rather than crash
            return ""

    def save(self, rec: InstallationRecord, now: datetime) -> None:
        """Insert or replace the installation of (enterprise_id, team_id)."""
        eid = rec.enterprise_id or ""
        tid = "" if rec.is_enterprise_install else (rec.team_id or "")
        with self.db.session() as s:
            row = s.exec(
                select(SlackInstallation).where(
                    SlackInstallation.client_id == self.client_id,
                    SlackInstallation.enterprise_id == eid,
                    SlackInstallation.team_id == tid,
                )
            ).first()
            if row is None:
                row = SlackInstallation(client_id=self.client_id, enterprise_id=eid, team_id=tid, installed_at=now)
            for name in (
                "app_id",
                "enterprise_name",
                "team_name",
                "is_enterprise_install",
                "bot_id",
                "bot_user_id",
                "bot_scopes",
                "bot_token_expires_at",
                "user_id",
                "user_scopes",
            ):
                setattr(row, name, getattr(rec, name))
            row.bot_token_enc = self._enc(rec.bot_token)
            row.bot_refresh_token_enc = self._enc(rec.bot_refresh_token)
            row.user_token_enc = self._enc(rec.user_token)
            row.installed_at = now
            s.add(row)
            if tid:  # a new token: DMs held for a rejected one go out again (see bot.nudges.delivery)
                s.execute(
                    update(Workspace)
                    .where(col(Workspace.platform) == "slack", col(Workspace.external_id) == tid)
                    .values(token_rejected_at=None, token_error=None)
                )

    def find(
        self, enterprise_id: str | None, team_id: str | None, *, is_enterprise_install: bool = False
    ) -> InstallationRecord | None:
        eid = enterprise_id or ""
        tid = "" if is_enterprise_install else (team_id or "")
        with self.db.session() as s:
            row = s.exec(
                select(SlackInstallation).where(
                    SlackInstallation.client_id == self.client_id,
                    SlackInstallation.enterprise_id == eid,
                    SlackInstallation.team_id == tid,
                )
            ).first()
            if row is None:
                return None
            rec = InstallationRecord(
                team_id=row.team_id,
                enterprise_id=row.enterprise_id,
                client_id=row.client_id,
                app_id=row.app_id,
                enterprise_name=row.enterprise_name,
                team_name=row.team_name,
                is_enterprise_install=row.is_enterprise_install,
                bot_id=row.bot_id,
                bot_user_id=row.bot_user_id,
                bot_scopes=row.bot_scopes,
                bot_token_expires_at=row.bot_token_expires_at,
                user_id=row.user_id,
                user_scopes=row.user_scopes,
                installed_at=row.installed_at,
            )
            rec.bot_token = self._dec(row.bot_token_enc)
            rec.bot_refresh_token = self._dec(row.bot_refresh_token_enc)
            rec.user_token = self._dec(row.user_token_enc)
        return rec if rec.bot_token or rec.user_token else None

    def delete(self, enterprise_id: str | None, team_id: str | None, *, is_enterprise_install: bool = False) -> int:
        """Remove the workspace's tokens (app_uninstalled, tokens_revoked). Returns rows removed."""
        eid = enterprise_id or ""
        tid = "" if is_enterprise_install else (team_id or "")
        with self.db.session() as s:
            result = s.exec(
                delete(SlackInstallation).where(
                    col(SlackInstallation.client_id) == self.client_id,
                    col(SlackInstallation.enterprise_id) == eid,
                    col(SlackInstallation.team_id) == tid,
                )
            )
            return int(result.rowcount or 0)

    def delete_user_token(self, enterprise_id: str | None, team_id: str | None, user_id: str) -> None:
        with self.db.session() as s:
            rows = s.exec(
                select(SlackInstallation).where(
                    SlackInstallation.client_id == self.client_id,
                    SlackInstallation.enterprise_id == (enterprise_id or ""),
                    SlackInstallation.team_id == (team_id or ""),
                    SlackInstallation.user_id == user_id,
                )
            ).all()
            for row in rows:
                row.user_token_enc = ""
                s.add(row)

    # -- OAuth state ----------------------------------------------------------------------

    def issue_state(self, now: datetime, ttl_seconds: int = 600) -> str:
        state = secrets.token_urlsafe(32)
        with self.db.session() as s:
            s.exec(delete(SlackOAuthState).where(col(SlackOAuthState.expires_at) < now))
            s.add(SlackOAuthState(state=state, expires_at=now + timedelta(seconds=ttl_seconds)))
        return state

    def consume_state(self, state: str, now: datetime) -> bool:
        with self.db.session() as s:
            row = s.get(SlackOAuthState, state[:100])
            if row is None:
                return False
            s.delete(row)
            return row.expires_at >= now
