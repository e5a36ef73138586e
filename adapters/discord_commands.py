"""The /dare app-command group, generated from the command declarations in bot.registry.

Each declared subcommand becomes an app command whose options are the declaration's values: text,
whole numbers with their range, flags, choices, users, and autocomplete for cohorts and contacts.
A command that has a form opens it when its first value is left empty. Nothing here lists commands.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import discord
from discord import app_commands

from bot import commands as c
from bot.registry import CommandSpec, Param, commands

DESCRIPTION_MAX = 100  # Discord's limit for command and option descriptions
CHOICES_MAX = 25
ROOT_DESCRIPTION = "darebot: the reverse-interview dare and your progress"
GROUP_DESCRIPTIONS = {"cohort": "Create, join and run a cohort"}


class CommandRunner(Protocol):
    """What the generated callbacks need from the client."""

    async def run_command(self, interaction: discord.Interaction, build: Callable[[], object]) -> None: ...

    async def open_form(self, interaction: discord.Interaction, name: str) -> None: ...

    async def autocomplete(
        self, interaction: discord.Interaction, current: str, which: str
    ) -> list[app_commands.Choice[str]]: ...


def option_name(p: Param) -> str:
    """The Discord option for a declared value: the flag's word (`--followup-days` -> followup_days)."""
    if p.flag is None:
        return p.field
    name = p.flag.lstrip("-").replace("-", "_")
    return p.field if keyword.iskeyword(name) else name


def _description(text: str) -> str:
    return text if len(text) <= DESCRIPTION_MAX else text[: DESCRIPTION_MAX - 1] + "…"


def _annotation(p: Param, optional: bool) -> Any:
    base: Any
    if p.kind == "int" and p.minimum is not None and p.maximum is not None:
        base = app_commands.Range[int, p.minimum, p.maximum]
    elif p.kind == "int":
        base = int
    elif p.kind == "bool":
        return bool
    elif p.kind == "user":
        base = discord.User
    elif p.max_len is not None and p.kind == "text":
        base = app_commands.Range[str, 1, p.max_len]
    else:
        base = str
    return base | None if optional else base  # type: ignore[operator]


def _choices(p: Param) -> list[app_commands.Choice[str]] | None:
    if not p.choices or len(p.choices) > CHOICES_MAX or p.kind not in ("choice", "list", "csv"):
        return None
    return [app_commands.Choice(name=v.replace("-", " "), value=v) for v in p.choices]


def _value(p: Param, raw: Any) -> Any:
    """An option's value as the command dataclass takes it."""
    if isinstance(raw, app_commands.Choice):
        raw = raw.value
    if p.kind == "user":
        return c.UserRef(str(raw.id), raw.display_name)
    if p.kind in ("list", "csv"):
        return tuple(v.strip() for v in str(raw).split(",") if v.strip())
    return raw


def _callback(spec: CommandSpec, runner: Callable[[], CommandRunner]) -> Callable[..., Awaitable[None]]:
    names = {option_name(p): p for p in spec.params}
    first = spec.positionals[0] if spec.positionals else None

    async def callback(interaction: discord.Interaction, **options: Any) -> None:
        client = runner()
        if spec.form and first is not None and options.get(option_name(first)) is None:
            await client.open_form(interaction, spec.form)
            return
        values = {names[k].field: _value(names[k], v) for k, v in options.items() if v is not None}
        await client.run_command(interaction, lambda: spec.build(values))

    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)]
    descriptions: dict[str, str] = {}
    choices: dict[str, list[app_commands.Choice[str]]] = {}
    completers: dict[str, Callable[..., Any]] = {}
    for p in spec.params:
        name = option_name(p)
        # A form stands in for every value; elsewhere a positional the grammar requires is required here too.
        required = p.flag is None and p.required and not spec.form
        default: Any = inspect.Parameter.empty if required else (False if p.kind == "bool" else None)
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(p, optional=not required and p.kind != "bool"),
                default=default,
            )
        )
        descriptions[name] = _description(p.help + (" (leave empty for a form)" if p is first and spec.form else ""))
        if (options := _choices(p)) is not None:
            choices[name] = options
        elif p.lookup is not None:
            completers[name] = _completer(runner, f"{p.lookup}_names")
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_choices__ = choices  # type: ignore[attr-defined]
    callback.__discord_app_commands_param_autocomplete__ = completers  # type: ignore[attr-defined]
    callback.__qualname__ = callback.__name__ = "dare_" + "_".join(spec.words).replace("-", "_")
    return callback


def _completer(runner: Callable[[], CommandRunner], which: str) -> Callable[..., Any]:
    async def complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await runner().autocomplete(interaction, current, which)

    return complete


def build_dare_group(runner: Callable[[], CommandRunner]) -> app_commands.Group:
    """`/dare` and its subgroups, one app command per declared subcommand."""
    root = app_commands.Group(name="dare", description=ROOT_DESCRIPTION, guild_only=True)
    groups: dict[str, app_commands.Group] = {}
    for spec in commands():
        parent = root
        if len(spec.words) == 2:
            head = spec.words[0]
            if head not in groups:
                groups[head] = app_commands.Group(
                    name=head, parent=root, description=GROUP_DESCRIPTIONS.get(head, f"/dare {head} commands")
                )
            parent = groups[head]
        summary = spec.summary + (" (instructors)" if spec.instructor else "")
        parent.add_command(
            app_commands.Command(
                name=spec.words[-1], description=_description(summary), callback=_callback(spec, runner), parent=parent
            )
        )
    return root
