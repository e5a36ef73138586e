"""Property tests: arbitrary text never crashes the parser or the engine, and failures write nothing."""

from __future__ import annotations

import shlex
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from bot import commands as c
from bot.errors import UsageError
from bot.grammar import _CURLY, parse, tokenize
from bot.registry import commands, spec_of
from bot.replies import Reply, Section, Table, render_plain
from storage.models import Contact, Interview, Outreach, Story
from tests.fakes.chat import Chat

SUBCOMMANDS = sorted({s.words[0] for s in commands()})

WORDS = st.sampled_from(
    [
        *SUBCOMMANDS,
        "cohort",
        "create",
        "join",
        "--goal",
        "--on",
        "--via",
        "--to",
        "--meeting",
        "--outcome",
        "--decides",
        "today",
        "2026-13-40",
        '"',
        "'",
        "@ann",
        "<!channel>",
        "\x00",
        "email",
        "advice",
        "Ada",
        "-",
        "--",
        "=",
        "\u202e",
    ]
)
LINES = st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=8).map(" ".join)


@given(
    st.lists(
        st.one_of(
            st.sampled_from(['"', "'", "\\", " ", "\t", "\n", "\xa0", "\u201c", "--on", "Ada"]), st.text(max_size=6)
        ),
        max_size=12,
    ).map("".join)
)
def test_the_tokenizer_splits_as_shlex_does(text: str) -> None:
    try:
        expected: list[str] | None = shlex.split(text.translate(_CURLY))
    except ValueError:
        expected = None
    try:
        assert tokenize(text) == expected
    except UsageError:
        assert expected is None


@given(st.text(max_size=200))
def test_parser_only_ever_raises_usage_errors(text: str) -> None:
    try:
        parse(text)
    except UsageError as err:
        assert str(err) and len(str(err)) < 600


@given(LINES)
def test_parser_on_command_like_text(text: str) -> None:
    try:
        command = parse("/dare " + text)
    except UsageError:
        return
    assert spec_of(command).type is type(command)


# A quoted token that starts with "--" still reads as an option (shlex drops the quotes): no real name does.
@given(
    st.text(alphabet=string.ascii_letters + " .'-", min_size=1, max_size=60).filter(
        lambda s: s.strip() and not s.strip().startswith("--")
    )
)
def test_quoted_names_round_trip(name: str) -> None:
    quoted = '"' + name.replace('"', "") + '"'
    command = parse(f"/dare contact {quoted} --decides")
    assert isinstance(command, c.AddContact)
    assert command.name == name.replace('"', "").strip()
    assert command.decides


@given(st.lists(st.tuples(st.text(max_size=15), st.text(max_size=15)), max_size=6), st.text(max_size=40))
def test_plain_rendering_keeps_every_cell(rows: list[tuple[str, str]], title: str) -> None:
    reply = Reply(title=title, sections=(Section(table=Table(("a", "b"), tuple(rows))),))
    out = render_plain(reply)
    for a, b in rows:
        assert a.rstrip() in out and b.rstrip() in out


def _counts(chat: Chat) -> tuple[int, ...]:
    with chat.db.session() as s:
        return tuple(s.exec(select(func.count()).select_from(t)).one() for t in (Contact, Outreach, Interview, Story))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(LINES)
def test_engine_never_raises_and_a_refusal_writes_nothing(tmp_path, text: str) -> None:  # type: ignore[no-untyped-def]
    chat = _shared_chat(tmp_path)
    before = _counts(chat)
    reply = chat.say("ann", "/dare " + text)
    assert isinstance(reply, Reply)
    if reply.is_error:
        assert reply.ephemeral
        assert _counts(chat) == before


_CHATS: dict[str, Chat] = {}


def _shared_chat(tmp_path) -> Chat:  # type: ignore[no-untyped-def]
    key = str(tmp_path)
    if key not in _CHATS:
        chat = Chat.open(f"sqlite:///{tmp_path}/prop.sqlite3")
        chat.ok("prof", "/dare cohort create CS101")
        chat.ok("ann", "/dare cohort join CS101")
        chat.ok("prof", "/dare start")
        chat.ok("ann", '/dare contact "Ada"')
        _CHATS[key] = chat
    return _CHATS[key]
