"""manifest.yml is real YAML, fits the fields Slack's app-manifest reference allows, and asks for exactly the
bot scopes the code needs: no more (a reviewer would refuse), no fewer (a call would fail with missing_scope)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yml"


# -- the schema, written from Slack's app manifest reference (manifest version 1) -------------------------
# Unknown keys are refused (extra="forbid"): Slack rejects a manifest with a misspelt field.


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metadata(_Strict):
    major_version: Literal[1, 2] = 1
    minor_version: int = Field(default=1, ge=0)


class DisplayInformation(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=35)]
    description: Annotated[str, Field(max_length=140)] | None = None
    background_color: Annotated[str, Field(pattern=r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")] | None = None
    long_description: Annotated[str, Field(min_length=174, max_length=4000)] | None = None


class AppHome(_Strict):
    home_tab_enabled: bool = False
    messages_tab_enabled: bool = False
    messages_tab_read_only_enabled: bool = False


class BotUser(_Strict):
    display_name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9._-]+$")]
    always_online: bool = False


class SlashCommand(_Strict):
    command: Annotated[str, Field(pattern=r"^/[a-z0-9_-]{1,31}$")]
    description: Annotated[str, Field(min_length=1, max_length=2000)]
    url: HttpUrl | None = None
    usage_hint: Annotated[str, Field(max_length=1000)] | None = None
    should_escape: bool = False


class Shortcut(_Strict):
    name: Annotated[str, Field(max_length=24)]
    callback_id: Annotated[str, Field(max_length=255)]
    description: Annotated[str, Field(max_length=150)]
    type: Literal["message", "global"]


class Features(_Strict):
    app_home: AppHome | None = None
    bot_user: BotUser | None = None
    shortcuts: Annotated[list[Shortcut], Field(max_length=10)] | None = None
    slash_commands: Annotated[list[SlashCommand], Field(max_length=50)] | None = None
    unfurl_domains: Annotated[list[str], Field(max_length=5)] | None = None


class Scopes(_Strict):
    bot: Annotated[list[str], Field(max_length=255)] = []
    user: Annotated[list[str], Field(max_length=255)] = []


class OAuthConfig(_Strict):
    redirect_urls: Annotated[list[HttpUrl], Field(max_length=1000)] | None = None
    scopes: Scopes | None = None
    token_management_enabled: bool | None = None


class EventSubscriptions(_Strict):
    request_url: HttpUrl | None = None
    bot_events: Annotated[list[str], Field(max_length=100)] = []
    user_events: Annotated[list[str], Field(max_length=100)] = []


class Interactivity(_Strict):
    is_enabled: bool
    request_url: HttpUrl | None = None
    message_menu_options_url: HttpUrl | None = None


class AppSettings(_Strict):
    allowed_ip_address_ranges: Annotated[list[str], Field(max_length=10)] | None = None
    event_subscriptions: EventSubscriptions | None = None
    interactivity: Interactivity | None = None
    org_deploy_enabled: bool = False
    socket_mode_enabled: bool = False
    token_rotation_enabled: bool = False
    is_hosted: bool | None = None
    function_runtime: Literal["remote", "slack"] | None = None


class Manifest(_Strict):
    metadata: Metadata | None = Field(default=None, alias="_metadata")
    display_information: DisplayInformation
    features: Features | None = None
    oauth_config: OAuthConfig | None = None
    settings: AppSettings | None = None


# -- which Web API method needs which bot scope (Slack's method reference; None: no scope needed) --------
METHOD_SCOPES: dict[str, str | None] = {
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "conversations_open": "im:write",
    "conversations_history": "im:history",  # darebot reads only its DMs (an unanswered send, looked for)
    "users_info": "users:read",
    "users_lookupByEmail": "users:read.email",
    "files_upload_v2": "files:write",
    "views_open": None,
    "views_publish": None,
    "views_update": None,
    "auth_test": None,
}
_CALL = re.compile(r"\.(chat_\w+|conversations_\w+|users_\w+|files_\w+|views_\w+|auth_\w+|team_\w+|reactions_\w+)\(")


def load() -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(data, dict)
    return data


def code_scopes() -> set[str]:
    """The scopes the adapters' Web API calls need, plus `commands` for the slash command itself."""
    called: set[str] = set()
    for path in (ROOT / "adapters").glob("*.py"):
        called |= set(_CALL.findall(path.read_text()))
    unknown = called - METHOD_SCOPES.keys()
    assert not unknown, f"map these Web API methods to their scopes in METHOD_SCOPES: {sorted(unknown)}"
    return {"commands"} | {s for m in called if (s := METHOD_SCOPES[m]) is not None}


def test_the_manifest_is_yaml_that_fits_slacks_schema() -> None:
    manifest = Manifest.model_validate(load())
    assert manifest.features and manifest.features.slash_commands
    dare = manifest.features.slash_commands[0]
    assert dare.command == "/dare" and dare.should_escape
    assert manifest.settings and manifest.settings.socket_mode_enabled
    assert manifest.settings.interactivity and manifest.settings.interactivity.is_enabled
    assert manifest.features.app_home and manifest.features.app_home.home_tab_enabled
    events = manifest.settings.event_subscriptions
    assert events and set(events.bot_events) == {"app_home_opened", "app_uninstalled", "tokens_revoked"}
    # One public URL serves the command, interactivity and events (HTTP mode).
    urls = {str(dare.url), str(events.request_url), str(manifest.settings.interactivity.request_url)}
    assert urls == {"https://darebot.example.com/slack/events"}


def test_the_bot_scopes_are_exactly_those_the_code_calls_for() -> None:
    from adapters.slack_oauth import BOT_SCOPES

    requested = Manifest.model_validate(load()).oauth_config.scopes.bot  # type: ignore[union-attr]
    assert sorted(requested) == sorted(code_scopes())
    assert sorted(BOT_SCOPES) == sorted(requested)  # the OAuth install asks for the same


@pytest.mark.parametrize(
    "breakage",
    [
        lambda m: m["display_information"].update(name="x" * 36),
        lambda m: m["features"]["slash_commands"][0].update(command="dare"),
        lambda m: m["settings"].update(socket_mode=True),
        lambda m: m["display_information"].update(background_color="grey"),
        lambda m: m.update(oauth={}),
    ],
)
def test_the_schema_refuses_what_slack_refuses(breakage) -> None:  # type: ignore[no-untyped-def]
    data = load()
    breakage(data)
    with pytest.raises(ValidationError):
        Manifest.model_validate(data)
