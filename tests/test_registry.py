"""The command registry: one declaration gives every surface its command, options and choices."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from discord import app_commands

from adapters.discord_commands import build_dare_group, option_name
from bot import grammar, registry
from bot.context import Context
from bot.errors import UsageError
from bot.grammar import parse
from bot.help import help_sections
from bot.registry import CommandSpec, arg, command, opt
from bot.replies import Reply, text_reply
from tests.fakes.chat import Chat
from tests.fakes.slack_harness import TEAM, SlackHarness


def discord_commands() -> dict[str, app_commands.Command]:  # type: ignore[type-arg]
    group = build_dare_group(lambda: None)  # type: ignore[arg-type,return-value]
    return {
        c.qualified_name.removeprefix("dare "): c for c in group.walk_commands() if isinstance(c, app_commands.Command)
    }


@pytest.mark.parametrize("spec", registry.commands(), ids=lambda s: s.name)
def test_each_command_has_the_same_options_and_choices_on_discord(spec: CommandSpec) -> None:
    found = discord_commands().get(spec.name)
    assert found is not None, f"/dare {spec.name} is missing on Discord"
    options = {p.name: p for p in found.parameters}
    assert set(options) == {option_name(p) for p in spec.params}
    for p in spec.params:
        offered = [c.value for c in options[option_name(p)].choices]
        if p.choices and len(p.choices) <= 25:
            assert offered == list(p.choices), f"{spec.name} {p.flag or p.field}"
        else:
            assert offered == []


def test_discord_has_no_command_the_registry_does_not_declare() -> None:
    assert set(discord_commands()) == {s.name for s in registry.commands()}


@pytest.mark.parametrize("spec", registry.commands(), ids=lambda s: s.name)
def test_usage_and_help_name_every_option(spec: CommandSpec) -> None:
    explained = help_sections(spec.name)[0].text
    for p in spec.params:
        if p.flag is not None:
            assert p.flag in spec.usage or spec.usage_override, f"{spec.name}: usage lacks {p.flag}"
            assert p.flag in explained
        for choice in p.choices[:25]:
            assert choice in explained
    for example in spec.examples:  # every example in the help really parses
        assert type(parse(example)) is spec.type


@pytest.mark.parametrize(
    "spec", [s for s in registry.commands() if s.options and not s.free_text], ids=lambda s: s.name
)
def test_an_unknown_option_names_the_known_ones(spec: CommandSpec) -> None:
    positional = " ".join('"x"' if p.required else "" for p in spec.positionals if p.kind != "user")
    users = " ".join("@ada" for p in spec.positionals if p.kind == "user" and p.required)
    with pytest.raises(UsageError) as err:
        parse(f"/dare {spec.name} {positional} {users} --no-such-option 1")
    assert next(iter(spec.options)) in str(err.value)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("/dare join Spring", "/dare cohort join"),
        ("/dare progres", "/dare progress"),
        ("/dare status", "/dare progress"),
        ("/dare leaderboard", "/dare board"),
        ("/dare cohort jion Spring", "/dare cohort join"),
        ("/dare stories", "/dare story"),
    ],
)
def test_a_mistyped_command_names_the_one_meant(typed: str, meant: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(typed)
    assert f"Did you mean {meant}?" in str(err.value)


@pytest.mark.parametrize("typed", ["/dare fly", "/dare cohort frob", "/dare " + "x" * 200])
def test_a_command_like_no_other_gets_the_help(typed: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(typed)
    assert "Did you mean" not in str(err.value) and "/dare help" in str(err.value)


def test_every_suggestion_is_a_command() -> None:
    words = {w for s in registry.commands() for w in s.words} | set(grammar._MEANT)
    for word in sorted(words | {w[:-1] for w in words} | {w + "s" for w in words}):
        try:
            parse(f"/dare {word}")
        except UsageError as err:
            if "Did you mean /dare " in str(err):
                meant = str(err).split("Did you mean /dare ")[1].rstrip("?").split()
                assert (
                    registry.command_for(tuple(meant[:2]))
                    or registry.command_for((meant[0],))
                    or meant == [meant[0]]
                    and meant[0] in registry.groups()
                ), word


# -- a toy subcommand, added in one place --------------------------------------------------------


@dataclass(frozen=True)
class Wave:
    name: str = arg("NAME", "Whom to wave at")
    times: int | None = opt("--times", "How many waves", kind="int", minimum=1, maximum=3)
    style: str | None = opt("--style", "What kind", kind="choice", choices=("small", "big"))


def wave(_ctx: Context, cmd: Wave) -> Reply:
    return text_reply(f"{'👋' * (cmd.times or 1)} {cmd.name} ({cmd.style or 'small'})")


@pytest.fixture
def toy() -> Iterator[None]:
    command("wave", summary="Wave at someone.", writes=False, examples=("/dare wave Ada --times 2",))(wave)
    try:
        yield
    finally:
        registry.unregister("wave")


def test_a_toy_subcommand_reaches_the_console_slack_and_discord(toy: None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the console (and any text surface): grammar, usage errors and help come from the declaration
    chat = Chat.open(f"sqlite:///{tmp_path}/toy.sqlite3")
    assert "👋👋 Ada (big)" in chat.ok("ann", "/dare wave Ada --times 2 --style big")
    assert "/dare wave NAME [--times N] [--style small|big]" in chat.err("ann", "/dare wave")
    assert "--style must be one of" not in chat.ok("ann", "/dare help wave")
    assert "Wave at someone." in chat.ok("ann", "/dare help")
    # Slack: a real signed slash command through the bolt app
    h = SlackHarness(f"sqlite:///{tmp_path}/slack.sqlite3")
    try:
        h.fake.add_user(TEAM, "UA", "ada")
        assert "👋 Bo (small)" in h.reply(h.slack.command("UA", "wave Bo"))["text"]
    finally:
        h.close()
    # Discord: the generated group has it, with its options and choices
    found = discord_commands()["wave"]
    assert {p.name: [c.value for c in p.choices] for p in found.parameters} == {
        "name": [],
        "times": [],
        "style": ["small", "big"],
    }
