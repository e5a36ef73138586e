"""The /dare text grammar: one parser for Slack's command text and the console.

`parse(text)` turns `contact "Ada Lovelace" --org Analytical --decides` into the typed command its
declaration names (bot.registry), or raises UsageError naming what was wrong and the right form.
Users are written `@name`; adapters turn their platform's mention syntax into that neutral form
before the text gets here (see `user_token`).
"""

from __future__ import annotations

import difflib
import re
import shlex
from typing import Any, cast

from bot import commands as c
from bot.errors import UsageError
from bot.registry import CommandSpec, command_for, commands, groups

# Slack and phones turn straight double quotes into curly ones; apostrophes (’) stay as they are.
_CURLY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
# A word of text with no backslash or apostrophe, split on shlex's whitespace (not str.split's).
_PLAIN_WORD = re.compile(r'(?:[^ \t\r\n"]+|"[^"]*")+')
# A user reference as adapters hand it over: `@id` or `@id|Display Name` (the name is optional).
_USER = re.compile(r"^@([A-Za-z0-9._-]{1,40})(?:\|([^|]{0,80}))?$")


def user_token(user_id: str, name: str = "") -> str:
    """The neutral text form of a user reference; adapters write platform mentions this way."""
    # Only a name that survives the tokenizer as one word travels along; the adapter's directory
    # knows the rest.
    return f"@{user_id}|{name}" if re.fullmatch(r"[\w.-]{1,80}", name) and name != user_id else f"@{user_id}"


def parse_user(token: str) -> c.UserRef:
    """A user named in a command: `@ada` (console) or `@U123|Ada` (an adapter's translated mention)."""
    token = token.strip()
    if m := _USER.match(token):
        return c.UserRef(m.group(1), m.group(2) or m.group(1))
    raise UsageError(f"'{token[:40]}' isn't a person: mention them, e.g. @ada.")


def tokenize(text: str) -> list[str]:
    """Words as a POSIX shell splits them (shlex): quotes group, a backslash escapes."""
    text = text.translate(_CURLY)
    if "\\" not in text and "'" not in text and text.count('"') % 2 == 0:
        # Without backslashes or apostrophes, shlex's rules come down to runs of other characters and
        # "..." groups, which one regular expression splits several times faster than shlex reads them.
        return [word.replace('"', "") for word in _PLAIN_WORD.findall(text)]
    try:
        return shlex.split(text)
    except ValueError:
        raise UsageError('A quote was left open: close it, e.g. /dare contact "Ada Lovelace".') from None


def _strip_prefix(text: str) -> str:
    t = text.strip()
    if t == "/dare" or t.startswith("/dare "):
        t = t[5:].strip()
    return t


def parse(text: str) -> Any:
    """Parse the text after `/dare`. Raises UsageError with the right form on any mistake."""
    body = _strip_prefix(text)
    if not body:
        return _construct(_declared(("help",)), {})
    head = body.split(None, 1)[0].lower()
    free = command_for((head,))
    if free is not None and free.free_text:
        return _parse_free_text(free, body[len(head) :])
    tokens = tokenize(body)
    words = [tokens[0].lower()]
    group = groups().get(words[0])
    if group:
        if len(tokens) < 2:
            raise UsageError(
                f"'{words[0]}' needs one of: {', '.join(s.words[1] for s in group)}.",
                usage=" | ".join(s.usage for s in group),
            )
        words.append(tokens[1].lower())
    spec = command_for(tuple(words))
    if spec is None:
        raise _unknown(words)
    return _build(spec, tokens[len(words) :])


# Words people type for a command whose name they don't know (a near spelling could point elsewhere:
# "status" is closest to "start", the instructor's command).
_MEANT = {
    "status": "progress",
    "stat": "progress",
    "stats": "progress",
    "me": "progress",
    "leaderboard": "board",
    "ranking": "board",
    "rank": "board",
    "scores": "board",
    "interview": "log",
    "interviewed": "log",
    "stop": "settings nudges off",
    "mute": "settings nudges off",
    "delete": "forget-me",
    "erase": "forget-me",
    "data": "mydata",
}


def _unknown(words: list[str]) -> UsageError:
    """The error for words that name no command, with the command they most likely meant."""
    if len(words) == 2:
        group, sub = words
        subs = [s.words[1] for s in groups()[group]]
        close = difflib.get_close_matches(sub, subs, n=1, cutoff=0.6)
        hint = f"Did you mean /dare {group} {close[0]}?" if close else f"Try /dare help {group}."
        return UsageError(f"'{' '.join(words)[:40]}' isn't a command. {hint}")
    word = words[0]
    # A word people use for a command, a group's command without its group (/dare join), else a near
    # spelling (/dare progres).
    grouped = [s.words for s in commands() if len(s.words) == 2 and s.words[1] == word]
    if word in _MEANT:
        meant = _MEANT[word]
    elif len(grouped) == 1:
        meant = " ".join(grouped[0])
    else:
        close = difflib.get_close_matches(word, sorted({s.words[0] for s in commands()}), n=1, cutoff=0.65)
        meant = close[0] if close else ""
    hint = f"Did you mean /dare {meant}?" if meant else "Try /dare help for the list."
    return UsageError(f"'{word[:30]}' isn't a /dare command. {hint}")


def _declared(words: tuple[str, ...]) -> CommandSpec:
    spec = command_for(words)
    assert spec is not None, words
    return spec


def _parse_free_text(spec: CommandSpec, rest: str) -> Any:
    """Free text (a story, apostrophes and all): only trailing `--option VALUE` pairs are options."""
    rest = rest.strip()
    values: dict[str, object] = {}
    while True:
        m = re.search(r"(?:^|\s)(--[a-z-]+)(?:\s+|=)(\S+)\s*$", rest)
        if m is None or m.group(1) not in spec.options or spec.options[m.group(1)].field in values:
            break
        values[spec.options[m.group(1)].field] = m.group(2)
        rest = rest[: m.start()].strip()
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "\"'":
        rest = rest[1:-1]
    text_param = spec.positionals[0]
    if not rest:
        raise UsageError(f"Write the {text_param.metavar.lower()} after the command.", usage=spec.usage)
    values[text_param.field] = rest
    return _construct(spec, values)


def _build(spec: CommandSpec, tokens: list[str]) -> Any:
    kwargs: dict[str, object] = {}
    positionals: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and len(tok) > 2:
            flag, _, inline = tok.partition("=")
            opt = spec.options.get(flag.lower())
            if opt is None:
                known = ", ".join(spec.options) or "none"
                raise UsageError(f"'{flag[:30]}' isn't an option of {spec.name} (options: {known}).", usage=spec.usage)
            if opt.kind == "bool":
                if inline:
                    raise UsageError(f"{flag} takes no value.", usage=spec.usage)
                kwargs[opt.field] = True
                i += 1
                continue
            if inline:
                value = inline
                i += 1
            else:
                if i + 1 >= len(tokens) or (tokens[i + 1].startswith("--") and len(tokens[i + 1]) > 2):
                    raise UsageError(f"{flag} needs a value {opt.display.split(' ', 1)[1]}.", usage=spec.usage)
                value = tokens[i + 1]
                i += 2
            if opt.kind == "int":
                try:
                    kwargs[opt.field] = int(value)
                except ValueError:
                    raise UsageError(f"{flag} needs a whole number, not '{value[:20]}'.", usage=spec.usage) from None
            elif opt.kind == "list":
                kwargs[opt.field] = (*cast("tuple[str, ...]", kwargs.get(opt.field, ())), *_split_csv(value))
            elif opt.kind == "csv":
                kwargs[opt.field] = _split_csv(value)
            else:
                if opt.field in kwargs:
                    raise UsageError(f"{flag} was given twice.", usage=spec.usage)
                kwargs[opt.field] = value
        else:
            positionals.append(tok)
            i += 1
    required = sum(1 for p in spec.positionals if p.required)
    if len(positionals) < required:
        missing = spec.positionals[len(positionals)].metavar.strip('"').upper()
        raise UsageError(f"{spec.name} needs {missing}.", usage=spec.usage)
    params = list(spec.positionals)
    # An optional @user may be left out: `progress CS101` names the cohort, not a person.
    if (
        params
        and params[0].kind == "user"
        and not params[0].required
        and len(params) > 1
        and positionals
        and not positionals[0].startswith("@")
        and len(positionals) < len(params)
    ):
        params = params[1:]
    if len(positionals) > len(params):
        extra = positionals[len(params)]
        hint = " Put names with spaces in quotes." if params else ""
        raise UsageError(f"Unexpected '{extra[:30]}'.{hint}", usage=spec.usage)
    for param, value in zip(params, positionals, strict=False):
        kwargs[param.field] = parse_user(value) if param.kind == "user" else value
    return _construct(spec, kwargs)


def _construct(spec: CommandSpec, kwargs: dict[str, object]) -> Any:
    try:
        return spec.build(kwargs)
    except UsageError as err:
        raise UsageError(str(err).split("\nUsage:")[0], field=err.field, usage=spec.usage) from None
    except TypeError:  # a required part missing that the declaration doesn't know of
        raise UsageError(f"{spec.name} is missing something.", usage=spec.usage) from None


def _split_csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())
