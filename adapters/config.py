"""Configuration from the environment and a `.env` file; names as in DESIGN.md."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PlatformName = Literal["console", "slack", "discord"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default="sqlite:///darebot.sqlite3", alias="DAREBOT_DATABASE_URL")
    tz: str = Field(default="UTC", alias="DAREBOT_TZ")
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

    sweep_seconds: int = Field(default=60, alias="DAREBOT_SWEEP_SECONDS")
    # A stable id lets a restarted process take back the DMs it had in flight at once, instead of
    # after the claim expires. Give each concurrently running process its own.
    worker_id: str | None = Field(default=None, alias="DAREBOT_WORKER_ID")

    def pick_platform(self) -> PlatformName:
        """Slack when Slack tokens are set, Discord when a Discord token is, else the console."""
        if self.slack_bot_token or self.slack_app_token or (self.slack_client_id and self.slack_client_secret):
            return "slack"
        if self.discord_token:
            return "discord"
        return "console"
