"""Every /dare subcommand and every button action, declared once.

A subcommand is two things side by side in one module of bot/:

* a frozen dataclass whose fields say what the command takes: `arg(...)` for a positional value,
  `opt(...)` for an `--option` (its kind, choices, range and a line of help), and whose
  `__post_init__` validates the values (every surface builds the dataclass, so every surface is
  checked the same way);
* its handler, `def handler(ctx: Context, cmd: TheDataclass) -> Reply`, decorated with
  `@command("words", summary=..., ...)`.

From that declaration come the text grammar used by Slack and the console (bot.grammar), the usage
line, `/dare help` and `/dare help COMMAND`, the Discord app-command options (adapters/discord_bot.py
generates them), the permission shown in help, the form it opens with no arguments, and dispatch.

    @dataclass(frozen=True)
    class Wave:
        name: str = arg("NAME", "Whom to wave at")
        times: int | None = opt("--times", "How often", kind="int", minimum=1, maximum=3)

    @command("wave", summary="Wave at someone.", examples=("/dare wave Ada --times 2",))
    def wave(ctx: Context, cmd: Wave) -> Reply: ...

A button is an `@action("name", ...)` handler `(ctx, value) -> Reply`; its flags say whether it opens
a form instead or replaces the message it sits on. Adapters never match action names.

The modules holding declarations are listed in COMMAND_MODULES and imported on first use.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from bot.replies import Reply

ParamKind = Literal["text", "int", "bool", "date", "choice", "list", "csv", "user", "zone"]
Lookup = Literal["cohort", "contact"]

COMMAND_MODULES = (
    "bot.help",
    "bot.cohorts",
    "bot.term",
    "bot.activity",
    "bot.progress",
    "bot.board",
    "bot.report",
    "bot.people",
    "bot.instructor",
    "bot.dashboard",
    "bot.privacy",
)
_META = "darebot"


@dataclass(frozen=True)
class Param:
    """One value a command takes: positional when `flag` is None."""

    field: str
    flag: str | None
    kind: ParamKind
    metavar: str
    help: str
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_len: int | None = None
    lookup: Lookup | None = None  # Discord offers autocomplete from the person's cohorts or contacts

    @property
    def display(self) -> str:
        """How the value is written in a usage line."""
        if self.kind == "bool":
            return self.flag or self.metavar
        value = "|".join(self.choices) if self.kind == "choice" and self.choices else self.metavar
        return f"{self.flag} {value}" if self.flag else value


def _field(param: dict[str, Any], default: Any) -> Any:
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={_META: param})
    if isinstance(default, tuple | list):
        frozen = tuple(default)
        return dataclasses.field(default_factory=lambda: frozen, metadata={_META: param})
    return dataclasses.field(default=default, metadata={_META: param})


def arg(
    metavar: str,
    help: str,
    *,
    kind: ParamKind = "text",
    optional: bool = False,
    max_len: int | None = None,
    lookup: Lookup | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A positional value; `optional` ones default to None and may be left out."""
    return _field(
        dict(
            flag=None,
            kind=kind,
            metavar=metavar,
            help=help,
            required=not optional,
            max_len=max_len,
            lookup=lookup,
            choices=choices,
        ),
        None if optional else dataclasses.MISSING,
    )


def opt(
    flag: str,
    help: str,
    *,
    kind: ParamKind = "text",
    metavar: str = "",
    choices: tuple[str, ...] = (),
    minimum: int | None = None,
    maximum: int | None = None,
    max_len: int | None = None,
    default: Any = None,
) -> Any:
    """An `--option`. `bool` options are flags; `list` ones may repeat; `csv` ones take `a,b`."""
    if kind == "bool" and default is None:
        default = False
    if kind in ("list", "csv") and default is None:
        default = ()
    meta = metavar or {"int": "N", "date": "DATE", "zone": "AREA/CITY", "list": "TAG", "csv": "ID,ID"}.get(kind, "TEXT")
    return _field(
        dict(
            flag=flag,
            kind=kind,
            metavar=meta,
            help=help,
            choices=choices,
            minimum=minimum,
            maximum=maximum,
            max_len=max_len,
        ),
        default,
    )


def params_of(cls: type) -> tuple[Param, ...]:
    """The declared values of a command dataclass, positionals first in field order."""
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get(_META)
        if meta is not None:
            out.append(Param(field=f.name, **meta))
    return tuple([p for p in out if p.flag is None] + [p for p in out if p.flag is not None])


@dataclass(frozen=True)
class CommandSpec:
    words: tuple[str, ...]
    type: type
    handler: Callable[..., Reply]
    summary: str
    params: tuple[Param, ...]
    instructor: bool = False
    form: str | None = None  # the form (modal) it opens when given no arguments
    details: str = ""
    examples: tuple[str, ...] = ()
    free_text: bool = False  # everything after the words is one text, but a trailing `--option VALUE`
    writes: bool = True  # changes what is stored (repeat submissions are de-duplicated)
    usage_override: str | None = None

    @property
    def name(self) -> str:
        return " ".join(self.words)

    # Cached: the parser reads them for every command (params never change; a cached_property writes
    # the instance's __dict__ directly, which a frozen dataclass allows).
    @functools.cached_property
    def positionals(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.flag is None)

    @functools.cached_property
    def options(self) -> dict[str, Param]:
        return {p.flag: p for p in self.params if p.flag is not None}

    @property
    def usage(self) -> str:
        if self.usage_override:
            return self.usage_override
        parts = ["/dare", *self.words]
        for p in self.params:
            shown = p.display
            if p.flag is None:
                parts.append(shown if p.required else f"[{shown}]")
            else:
                parts.append(f"[{shown}]" + ("..." if p.kind == "list" else ""))
        return " ".join(parts)

    def build(self, values: dict[str, Any]) -> Any:
        """The command from parsed values; the dataclass validates them."""
        return self.type(**values)


@dataclass(frozen=True)
class ActionSpec:
    """A button's action: its handler, or the form it opens instead."""

    name: str
    handler: Callable[..., Reply] | None
    opens_form: str | None = None
    replaces_message: bool = False  # the answer takes the place of the message the button sits on
    posts_publicly: bool = False  # its answer goes to the channel: pressed twice, posted once
    transaction: bool = True


_COMMANDS: dict[tuple[str, ...], CommandSpec] = {}
_BY_TYPE: dict[type, CommandSpec] = {}
_ACTIONS: dict[str, ActionSpec] = {}
_GROUPS: dict[str, list[CommandSpec]] | None = None  # groups(), built again after any (un)registration
_loaded = False

H = TypeVar("H", bound=Callable[..., Any])


def _command_type(handler: Callable[..., Any]) -> type:
    names = list(inspect.signature(handler).parameters)
    if len(names) < 2:
        raise TypeError(f"{handler.__qualname__} must take (ctx, command)")
    hint = typing.get_type_hints(handler)[names[1]]
    if not isinstance(hint, type) or not dataclasses.is_dataclass(hint):
        raise TypeError(f"{handler.__qualname__}: the command parameter must be a dataclass")
    return hint


def command(
    words: str,
    *,
    summary: str,
    instructor: bool = False,
    form: str | None = None,
    details: str = "",
    examples: tuple[str, ...] = (),
    free_text: bool = False,
    writes: bool = True,
    usage: str | None = None,
) -> Callable[[H], H]:
    """Declare a subcommand: decorate its handler `(ctx, cmd) -> Reply`."""

    def register(handler: H) -> H:
        cls = _command_type(handler)
        key = tuple(words.split())
        if key in _COMMANDS and _COMMANDS[key].handler is not handler:
            raise ValueError(f"/dare {words} is declared twice")
        if cls in _BY_TYPE and _BY_TYPE[cls].words != key:  # dispatch goes by the value's type
            raise ValueError(f"{cls.__name__} already stands for /dare {_BY_TYPE[cls].name}")
        spec = CommandSpec(
            key, cls, handler, summary, params_of(cls), instructor, form, details, examples, free_text, writes, usage
        )
        global _GROUPS
        _COMMANDS[key] = spec
        _BY_TYPE[cls] = spec
        _GROUPS = None
        return handler

    return register


def action(
    name: str,
    *,
    opens_form: str | None = None,
    replaces_message: bool = False,
    posts_publicly: bool = False,
    transaction: bool = True,
) -> Callable[[H], H]:
    """Declare a button action: decorate its handler `(ctx, value) -> Reply`."""

    def register(handler: H) -> H:
        _ACTIONS[name] = ActionSpec(name, handler, opens_form, replaces_message, posts_publicly, transaction)
        return handler

    return register


def form_action(name: str, form: str) -> None:
    """A button that only opens a form."""
    _ACTIONS[name] = ActionSpec(name, None, opens_form=form, transaction=False)


def form_usage(form: str) -> str:
    """The usage line of the command a form stands for."""
    return next((s.usage for s in commands() if s.form == form), "/dare help")


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in COMMAND_MODULES:
            importlib.import_module(module)
        _loaded = True


def commands() -> tuple[CommandSpec, ...]:
    """Every subcommand, in the order of /dare help."""
    _load()
    return tuple(_COMMANDS.values())


def command_for(words: tuple[str, ...]) -> CommandSpec | None:
    _load()
    return _COMMANDS.get(words)


def spec_of(cmd: object) -> CommandSpec:
    """The declaration a command value was built from."""
    _load()
    spec = _BY_TYPE.get(type(cmd))
    if spec is None:
        raise KeyError(type(cmd).__name__)
    return spec


def action_for(name: str) -> ActionSpec | None:
    _load()
    return _ACTIONS.get(name)


def actions() -> tuple[ActionSpec, ...]:
    _load()
    return tuple(_ACTIONS.values())


def groups() -> dict[str, list[CommandSpec]]:
    """Two-word commands by their first word (`cohort` -> create, join, ...). Built once (the parser
    asks for every command); callers must not change it."""
    global _GROUPS
    if _GROUPS is None:
        out: dict[str, list[CommandSpec]] = {}
        for spec in commands():
            if len(spec.words) == 2:
                out.setdefault(spec.words[0], []).append(spec)
        _GROUPS = out
    return _GROUPS


def unregister(words: str) -> None:
    """Remove a declaration (tests that add a toy command clean up after themselves)."""
    global _GROUPS
    spec = _COMMANDS.pop(tuple(words.split()), None)
    if spec is not None and _BY_TYPE.get(spec.type) is spec:
        del _BY_TYPE[spec.type]
    _GROUPS = None
