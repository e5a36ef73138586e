"""Checks made once at start, before serving: the Slack settings a mode needs, and the tokens themselves.

A token Slack refuses ends the start (exit 2) instead of logging "connected" and failing on every call.
Slack being unreachable is not a configuration mistake: the start carries on and the connection retries.
"""

from __future__ import annotations

import logging
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from adapters.config import ConfigError, Settings
from adapters.slack_messenger import api_base_url

log = logging.getLogger("darebot.preflight")

# Errors meaning "this token will never work" (as opposed to rate limits or outages).
REFUSED = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
    "invalid_token",
    "no_permission",
    "missing_scope",
}


def slack_settings_problem(settings: Settings, *, http: bool) -> str | None:
    """What Slack's chosen mode is missing, as one line, or None."""
    if http and not settings.slack_signing_secret:
        return "HTTP mode needs SLACK_SIGNING_SECRET (Basic Information > App Credentials)"
    if not http and not settings.slack_app_token:
        return "Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write), or use --http"
    if not settings.slack_bot_token and not (settings.slack_client_id and settings.slack_client_secret):
        return "set SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for multi-workspace OAuth"
    if not settings.slack_bot_token and not http:
        return "multi-workspace OAuth needs HTTP mode (--http) for its install pages"
    if not settings.slack_bot_token and not settings.secret_key:
        return "multi-workspace OAuth needs DAREBOT_SECRET_KEY to encrypt the tokens it stores"
    return None


def check_slack_tokens(settings: Settings, *, http: bool, timeout: int = 10) -> None:
    """auth.test the bot token, and (Socket Mode) apps.connections.open the app token."""
    quiet = logging.getLogger("darebot.preflight.slack_sdk")
    quiet.setLevel(logging.CRITICAL)  # its failures are reported below, in one line
    client = WebClient(base_url=api_base_url(settings.slack_api_url), timeout=timeout, logger=quiet)
    checks: list[tuple[str, str | None]] = [("SLACK_BOT_TOKEN", settings.slack_bot_token)]
    if not http:
        checks.append(("SLACK_APP_TOKEN", settings.slack_app_token))
    for name, token in checks:
        if not token:
            continue
        try:
            if name == "SLACK_BOT_TOKEN":
                resp = client.auth_test(token=token)
                log.info("Slack bot token accepted for team %s (%s)", resp.get("team"), resp.get("team_id"))
            else:
                client.apps_connections_open(app_token=token)
        except SlackApiError as err:
            code = str(err.response.get("error", "")) if err.response is not None else ""
            if code in REFUSED:
                raise ConfigError(
                    f"{name} was refused by Slack ({code}): copy the token again from the app's settings"
                ) from None
            log.warning("Slack answered %s to the %s check; carrying on", code or err, name)
        except (SlackClientError, URLError, OSError) as err:
            log.warning("could not reach Slack to check %s (%s); carrying on and retrying the connection", name, err)
