"""Configuration from the environment and a `.env` file; names as in DESIGN.md.

Every setting is checked here, before anything connects: `load_settings()` turns the first mistake into a
`ConfigError` whose message is one line naming the variable and how to fix it (the CLI prints it and exits 2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PlatformName = Literal["console", "slack", "discord"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_SECRET_KEY = 16


class ConfigError(Exception):
    """A configuration mistake; str() is one line for the operator."""


def _url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"must be an http(s):// URL, not {value!r}")
    return value


def check_database_url(value: str) -> str:
    """The URL as SQLAlchemy should get it; refuses unsupported backends and misplaced SQLite files."""
    value = value.strip()
    if value.startswith("postgres://"):  # Heroku-style spelling
        value = "postgresql://" + value[len("postgres://") :]
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(
            f"is not a database URL: {value!r} (e.g. sqlite:///darebot.sqlite3 or "
            "postgresql+psycopg://user:password@host/db)"
        ) from None
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        if url.host:
            raise ValueError(
                f"{value!r} names a host: SQLite URLs have three slashes before a relative path "
                "(sqlite:///darebot.sqlite3) and four before an absolute one (sqlite:////data/darebot.sqlite3)"
            )
        path = url.database or ""
        if path and path != ":memory:" and not path.startswith("file:"):
            folder = Path(path).expanduser().parent
            if not folder.is_dir():
                absolute = Path(path).is_absolute()
                hint = "" if absolute else " (for an absolute path use four slashes: sqlite:////...)"
                raise ValueError(f"the folder {str(folder)!r} for the SQLite file does not exist{hint}")
        return value
    if backend == "postgresql":
        if "+" not in url.drivername:  # plain postgresql:// means psycopg2 to SQLAlchemy; darebot ships psycopg 3
            value = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        elif driver != "psycopg":
            raise ValueError(f"uses the driver {driver!r}, which darebot does not ship: write postgresql+psycopg://...")
        if not url.database:
            raise ValueError("names no database: postgresql+psycopg://user:password@host/DBNAME")
        return value
    raise ValueError(f"uses {backend!r}: darebot supports sqlite and postgresql")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default="sqlite:///darebot.sqlite3", alias="DAREBOT_DATABASE_URL")
    tz: str = Field(default="UTC", alias="DAREBOT_TZ")
    # Several keys may be given, comma-separated: the first encrypts, every one decrypts (key rotation).
    secret_key: str | None = Field(default=None, alias="DAREBOT_SECRET_KEY")
    # The base of /dare dashboard links, e.g. https://darebot.example.org (the dashboard's own address).
    public_url: str | None = Field(default=None, alias="DAREBOT_PUBLIC_URL")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, alias="SLACK_API_URL")
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(default=None, alias="SLACK_CLIENT_SECRET")

    discord_token: str | None = Field(default=None, alias="DISCORD_TOKEN")
    discord_api_url: str | None = Field(default=None, alias="DISCORD_API_URL")
    discord_gateway_url: str | None = Field(default=None, alias="DISCORD_GATEWAY_URL")
    discord_guild_id: str | None = Field(default=None, alias="DISCORD_GUILD_ID")
    discord_sharded: bool = Field(default=False, alias="DISCORD_SHARDED")

    sweep_seconds: int = Field(default=60, alias="DAREBOT_SWEEP_SECONDS", ge=1, le=86_400)
    # Processes a sweep of 20,000 people or more shares its batches between (bot.nudges.share); unset: two
    # where there are two cores or more. 1 keeps every sweep in the process.
    sweep_processes: int | None = Field(default=None, alias="DAREBOT_SWEEP_PROCESSES", ge=1, le=64)
    # A stable id lets a restarted process take back the DMs it had in flight at once, instead of
    # after the claim expires. Give each concurrently running process its own.
    worker_id: str | None = Field(default=None, alias="DAREBOT_WORKER_ID")

    # Where files of state go (Discord's command hash); the image sets /data.
    state_dir: Path = Field(default=Path("."), alias="DAREBOT_STATE_DIR")

    log_level: str = Field(default="INFO", alias="DAREBOT_LOG_LEVEL")
    log_format: Literal["text", "json"] = Field(default="text", alias="DAREBOT_LOG_FORMAT")
    # How long a start keeps retrying an unreachable database (compose starts both at once).
    db_connect_seconds: float = Field(default=60.0, ge=0, le=3600, alias="DAREBOT_DB_CONNECT_SECONDS")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return check_database_url(value)

    @field_validator("state_dir")
    @classmethod
    def _state_dir(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"the folder {str(value)!r} does not exist")
        return value

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone: use an Area/City name such as Europe/Paris") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        keys = [k.strip() for k in value.split(",")]
        for i, key in enumerate(keys, 1):
            if len(key) < MIN_SECRET_KEY or re.search(r"\s", key):
                which = f"key {i} of {len(keys)}" if len(keys) > 1 else "the key"
                raise ValueError(
                    f"{which} is too short or has spaces: each key needs at least {MIN_SECRET_KEY} "
                    "characters (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
        return ",".join(keys)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str | None) -> str | None:
        if value and not value.startswith("xoxb-"):
            raise ValueError("a bot token starts with xoxb- (OAuth & Permissions > Bot User OAuth Token)")
        return value or None

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: str | None) -> str | None:
        if value and not value.startswith("xapp-"):
            raise ValueError("an app-level token starts with xapp- (Basic Information > App-Level Tokens)")
        return value or None

    @field_validator("slack_api_url", "discord_api_url", "discord_gateway_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        if value and value.startswith(("ws://", "wss://")):
            return value
        return _url(value)

    @field_validator("discord_guild_id")
    @classmethod
    def _guild(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not re.fullmatch(r"\d{1,20}", value.strip()):
            raise ValueError(
                f"{value!r} is not a server id: it is a number (Developer Mode > right-click the server "
                "> Copy Server ID)"
            )
        return value.strip()

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a level: use one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @property
    def secret_keys(self) -> list[str]:
        """Every configured key, the encrypting one first."""
        return self.secret_key.split(",") if self.secret_key else []

    def pick_platform(self) -> PlatformName:
        """Slack when Slack tokens are set, Discord when a Discord token is, else the console."""
        if self.slack_bot_token or self.slack_app_token or (self.slack_client_id and self.slack_client_secret):
            return "slack"
        if self.discord_token:
            return "discord"
        return "console"


_FIELD_ENV = {name: (f.alias or name) for name, f in Settings.model_fields.items()}


def describe(err: ValidationError) -> str:
    """The first error as one line: `VARIABLE: what is wrong`."""
    first = err.errors()[0]
    loc = first.get("loc") or ("?",)
    name = str(loc[0])
    env = _FIELD_ENV.get(name, name)
    msg = str(first.get("msg", "is not valid"))
    msg = msg.removeprefix("Value error, ")
    kind = first.get("type", "")
    if kind in ("int_parsing", "float_parsing"):
        msg = f"must be a number, not {first.get('input')!r}"
    elif kind in ("greater_than_equal", "less_than_equal") or kind == "literal_error":
        msg = f"{msg.lower()} (got {first.get('input')!r})"
    elif kind == "bool_parsing":
        msg = f"must be true or false, not {first.get('input')!r}"
    return f"{env}: {msg}"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and .env, or a ConfigError with a one-line reason."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        raise ConfigError(describe(err)) from None
