"""Reply -> Discord payloads: escaping, and every Discord limit met with a visible cut mark."""

from __future__ import annotations

import discord

from adapters.discord_render import (
    CONTENT_MAX,
    CUT,
    EMBED_TOTAL_MAX,
    FIELDS_MAX,
    FormModal,
    cut,
    escape,
    render,
)
from bot.forms import build_form
from bot.replies import Button, Field, Reply, Section, Table


def test_escape_neutralises_markdown_and_every_ping():
    out = escape("@everyone @here <@123456789012345678> <@&123456789012345678> **bold** _x_ `code`")
    assert "@everyone" not in out and "@here" not in out
    assert "<@123456789012345678>" not in out and "<@&123456789012345678>" not in out
    assert "\\*\\*bold\\*\\*" in out and "\\`code\\`" in out


def test_long_text_moves_to_an_embed_and_is_cut_there_with_a_mark_and_no_dangling_escape():
    r = render(Reply(sections=(Section(text="a" * 3000),)))
    assert r.content is None and r.embeds[0].description == "a" * 3000  # fits an embed: not cut
    r = render(Reply(sections=(Section(text="*" * 5000),)))
    desc = r.embeds[0].description
    assert len(desc) <= 4096 and desc.endswith(CUT)
    head = desc[: -len(CUT)]
    assert (len(head) - len(head.rstrip("\\"))) % 2 == 0  # no half escape before the mark
    assert cut("short", 10) == "short"
    assert len(cut("x" * 3000, CONTENT_MAX)) == CONTENT_MAX


def test_every_message_carries_allowed_mentions_none():
    kw = render(Reply(sections=(Section(text="@everyone"),))).kwargs()
    assert kw["allowed_mentions"].to_dict()["parse"] == []


def test_embeds_stay_within_discord_limits():
    fields = tuple(Field("f" * 300, "v" * 2000) for _ in range(40))
    sections = (Section(text="d" * 9000, fields=fields), Section(title="t" * 400, text="x" * 5000, fields=fields))
    r = render(Reply(title="T" * 300, sections=sections))
    assert 1 <= len(r.embeds) <= 10
    assert sum(len(e) for e in r.embeds) <= EMBED_TOTAL_MAX
    for e in r.embeds:
        assert len(e.title or "") <= 256 and len(e.description or "") <= 4096 and len(e.fields) <= FIELDS_MAX
        for f in e.fields:
            assert len(f.name) <= 256 and len(f.value) <= 1024
    assert r.embeds[0].title.endswith(CUT)
    assert CUT in (r.embeds[-1].footer.text or "")


def test_tables_render_as_code_blocks_that_cannot_be_broken_out_of():
    table = Table(("Name", "Points"), (("```@everyone", "3"),))
    r = render(Reply(title="Board", sections=(Section(table=table),)))
    desc = r.embeds[0].description
    assert desc.startswith("```\n") and desc.endswith("\n```") and desc.count("```") == 2


def test_buttons_become_a_persistent_view_with_action_and_value_in_the_custom_id():
    r = render(
        Reply(sections=(Section(text="hi"),), buttons=(Button("Snooze 3 days", "nudge.snooze", "3"),)),
        workspace_id="42",
    )
    assert r.view is not None and r.view.timeout is None and r.view.is_persistent()
    [item] = r.view.children
    assert item.custom_id == "dare:42:nudge.snooze:3"


def test_a_form_becomes_a_modal_within_five_components():
    form = build_form("log", ["Ada Lovelace"])
    modal = FormModal(form, "42", on_submit=None)  # type: ignore[arg-type]
    assert len(modal.children) <= 5 and modal.custom_id == "dareform:42:log"
    names = [child.component.custom_id for child in modal.children]  # type: ignore[attr-defined]
    assert "contact" in names and "learned" in names
    assert isinstance(modal.children[0].component, discord.ui.Select)  # type: ignore[attr-defined]


def test_a_cut_inside_a_code_block_closes_it():
    out = cut("intro\n```\n" + "x" * 5000 + "\n```", 1000)
    assert len(out) <= 1000 and out.endswith(CUT) and out.count("```") == 2


def test_a_select_with_more_choices_than_discord_allows_becomes_a_text_input():
    form = build_form("outreach", [f"Person {i:03d}" for i in range(40)])
    modal = FormModal(form, "42", on_submit=None)  # type: ignore[arg-type]
    contact = modal.children[0].component  # type: ignore[attr-defined]
    assert isinstance(contact, discord.ui.TextInput) and "Person 000" in (contact.placeholder or "")


# -- properties: whatever text users typed, a rendered reply fits Discord and pings nobody -------------

import re  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bot.replies import Table as _Table  # noqa: E402

_PINGY = st.sampled_from(["@everyone", "@here", "<@123456789012>", "<@&98765>", "```", "**", "|| ||", "\\", "\n"])
_TEXT = st.lists(st.one_of(_PINGY, st.text(max_size=300)), max_size=12).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    title=_TEXT,
    texts=st.lists(_TEXT, max_size=4),
    fields=st.lists(st.tuples(_TEXT, _TEXT), max_size=30),
    rows=st.lists(st.tuples(_TEXT, _TEXT), max_size=8),
)
def test_any_reply_fits_discord_and_pings_nobody(title, texts, fields, rows) -> None:  # type: ignore[no-untyped-def]
    sections = tuple(Section(text=t, fields=tuple(Field(a, b) for a, b in fields)) for t in texts)
    sections += (Section(table=_Table(("a", "b"), tuple(rows))),)
    r = render(Reply(title=title, sections=sections))
    assert r.content is None or len(r.content) <= CONTENT_MAX
    assert len(r.embeds) <= 10 and sum(len(e) for e in r.embeds) <= EMBED_TOTAL_MAX
    for e in r.embeds:
        assert len(e.title or "") <= 256 and len(e.description or "") <= 4096 and len(e.fields) <= FIELDS_MAX
        assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in e.fields)
    assert r.kwargs()["allowed_mentions"].to_dict()["parse"] == []
    rendered = (r.content or "") + "".join(
        (e.title or "") + (e.description or "") + "".join(f.name + f.value for f in e.fields) for e in r.embeds
    )
    # Outside code blocks (where Discord shows text verbatim and parses no mention) every @ is escaped.
    prose = re.sub(r"```.*?```", "", rendered, flags=re.S)
    assert "@everyone" not in prose and "@here" not in prose
