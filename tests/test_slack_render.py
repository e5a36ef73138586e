"""Block Kit rendering: escaping, Slack's size limits, visible cuts, forms to modals and back."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import slack_render as r
from bot.forms import FORMS, build_form
from bot.replies import Button, Field, Reply, Section, Table

text_st = st.text(alphabet=st.sampled_from(list("ab <>&!@*`_~\n") + ["é", "💥"]), max_size=8000)


def _mrkdwn_texts(payload: object) -> list[str]:
    return [t for kind, t in r.iter_text(payload) if kind == "mrkdwn"]


def _unescaped(text: str) -> bool:
    """True if text holds a raw < or > or an & that does not start one of the three entities."""
    if "<" in text or ">" in text:
        return True
    rest = text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    return "&" in rest


def _check_limits(blocks: list[dict], max_blocks: int) -> None:
    assert 1 <= len(blocks) <= max_blocks
    for b in blocks:
        if b["type"] == "section":
            if "text" in b:
                assert len(b["text"]["text"]) <= r.SECTION_TEXT
            if "fields" in b:
                assert len(b["fields"]) <= r.MAX_FIELDS
                assert all(len(f["text"]) <= r.FIELD_TEXT for f in b["fields"])
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= r.HEADER_TEXT
        if b["type"] == "actions":
            assert len(b["elements"]) <= r.BUTTONS_PER_BLOCK
            for el in b["elements"]:
                assert len(el["text"]["text"]) <= r.BUTTON_TEXT


def test_escape_only_three_characters() -> None:
    assert r.escape("<!channel> & <@U1> *b*") == "&lt;!channel&gt; &amp; &lt;@U1&gt; *b*"


def test_mention_typed_as_text_is_shown_not_pinging() -> None:
    reply = Reply(
        title="<!here> hi", sections=(Section(text="Saved <!channel> & @here", fields=(Field("<!everyone>", "x"),)),)
    )
    msg = r.render_message(reply)
    for text in _mrkdwn_texts(msg) + [msg["text"]]:
        assert "<!" not in text and not _unescaped(text)
    assert "&lt;!channel&gt;" in json.dumps(msg)


def test_long_text_is_cut_with_a_visible_mark() -> None:
    msg = r.render_message(Reply(sections=(Section(text="&" * 10_000),)))
    texts = [b["text"]["text"] for b in msg["blocks"] if b["type"] == "section"]
    assert all(len(t) <= r.SECTION_TEXT for t in texts)
    assert texts[-1].endswith(r.CUT)
    assert not any(t.endswith("&am") or t.endswith("&") for t in texts[:-1])


def test_long_board_is_paginated_and_cut_visibly() -> None:
    rows = tuple((str(i), f"participant {i} <x>", str(i % 7)) for i in range(6000))
    reply = Reply(
        title="Board",
        sections=(Section(table=Table(("#", "Name", "Score"), rows)),),
        buttons=(Button("Post", "board.post", "c1"),),
    )
    blocks = r.render_message(reply)["blocks"]
    _check_limits(blocks, r.MESSAGE_BLOCKS)
    tables = [b for b in blocks if b["type"] == "section"]
    assert len(tables) > 1
    assert all(t["text"]["text"].startswith("```\n#") for t in tables)  # header repeated per page
    assert blocks[-1]["type"] == "actions"  # buttons survive the cut
    assert "cut" in json.dumps(blocks[-2])


def test_table_cells_cannot_break_out_of_preformatted() -> None:
    blocks = r.render_blocks(Reply(sections=(Section(table=Table(("a",), (("```<!channel>",),))),)))
    text = blocks[0]["text"]["text"]
    assert text.count("```") == 2 and "&lt;!channel&gt;" in text


def test_buttons_round_trip_their_action() -> None:
    reply = Reply(
        buttons=(
            Button("Log it", "nudge.log"),
            Button("Snooze 3 days", "nudge.snooze", "3"),
            Button("Stop", "nudge.stop", style="danger"),
        )
    )
    els = r.render_blocks(reply)[-1]["elements"]
    assert [r.decode_action_id(e["action_id"]) for e in els] == ["nudge.log", "nudge.snooze", "nudge.stop"]
    assert els[1]["value"] == "3" and els[2]["style"] == "danger"


@settings(max_examples=150, deadline=None)
@given(
    title=st.one_of(st.none(), text_st),
    texts=st.lists(text_st, max_size=4),
    fields=st.lists(st.tuples(text_st, text_st), max_size=25),
    labels=st.lists(text_st, max_size=30),
    error=st.booleans(),
)
def test_any_reply_fits_slack_limits_and_is_escaped(title, texts, fields, labels, error) -> None:
    reply = Reply(
        title=title,
        sections=tuple(Section(text=t) for t in texts) + (Section(fields=tuple(Field(a, b) for a, b in fields)),),
        buttons=tuple(Button(lbl or "x", f"a{i}", lbl) for i, lbl in enumerate(labels)),
        is_error=error,
    )
    for max_blocks, payload in ((r.MESSAGE_BLOCKS, r.render_message(reply)), (r.VIEW_BLOCKS, r.render_home(reply))):
        _check_limits(payload["blocks"], max_blocks)
        for text in _mrkdwn_texts(payload):
            assert not _unescaped(text)
    assert not _unescaped(r.fallback_text(reply)) and len(r.fallback_text(reply)) <= r.FALLBACK_TEXT


@given(st.text(max_size=500), st.integers(min_value=10, max_value=400))
def test_escape_cut_never_splits_an_entity(text, limit) -> None:
    out = r.escape_cut(text, limit)
    assert len(out) <= limit
    if out != r.escape(text):
        assert out.endswith(r.CUT)
        assert not _unescaped(out.removesuffix(r.CUT))


def test_every_form_renders_as_a_valid_modal_and_parses_back() -> None:
    for name in FORMS:
        form = build_form(name, ["Ada Lovelace", "Grace <Hopper>"])
        view = r.render_modal(form, metadata={"channel": "C1"})
        assert view["type"] == "modal" and r.form_name(view["callback_id"]) == name
        assert all(len(view[k]["text"]) <= r.MODAL_TITLE for k in ("title", "submit", "close"))
        assert [b["block_id"] for b in view["blocks"]] == [f.name for f in form.fields]
        assert json.loads(view["private_metadata"]) == {"channel": "C1"}
        empty = r.form_values(form, {})
        assert set(empty) == {f.name for f in form.fields}


def test_log_modal_values_parse_like_the_engine_expects() -> None:
    form = build_form("log", ["Ada Lovelace"])
    state = {
        "contact": {"value": {"type": "static_select", "selected_option": {"value": "Ada Lovelace"}}},
        "on": {"value": {"type": "datepicker", "selected_date": "2026-11-20"}},
        "minutes": {"value": {"type": "number_input", "value": "25"}},
        "outcomes": {
            "value": {"type": "multi_static_select", "selected_options": [{"value": "advice"}, {"value": "referral"}]}
        },
        "asked": {"value": {"type": "multi_static_select", "selected_options": []}},
        "learned": {"value": {"type": "plain_text_input", "value": "<!channel> ask early"}},
    }
    assert r.form_values(form, state) == {
        "contact": "Ada Lovelace",
        "on": "2026-11-20",
        "minutes": "25",
        "outcomes": ["advice", "referral"],
        "asked": [],
        "learned": "<!channel> ask early",
    }
    contact_form = build_form("contact", [])
    vals = r.form_values(
        contact_form, {"decides": {"value": {"type": "checkboxes", "selected_options": [{"value": "yes"}]}}}
    )
    assert vals["decides"] is True and vals["name"] == ""


def test_field_errors_target_the_named_field() -> None:
    form = build_form("log", [])
    assert r.field_errors(form, "minutes", "Minutes must be a number.") == {"minutes": "Minutes must be a number."}
    assert list(r.field_errors(form, None, "Nope")) == ["contact"]


def test_a_chart_is_noted_where_it_went_escaped_and_within_the_limits() -> None:
    from bot.replies import Attachment

    chart = Attachment("<!here>&co-take-up.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100, "image/png")
    csv = Attachment("x.csv", b"a,b\n", "text/csv")
    buttons = tuple(Button(f"b{i}", "board.page", str(i)) for i in range(3))
    reply = Reply(
        title="T", sections=tuple(Section(text=f"s{i}") for i in range(60)), buttons=buttons, image=chart, file=csv
    )
    small = r.render_message(Reply(title="T", sections=(Section(text="numbers"),), image=chart))
    notes = [b for b in small["blocks"] if b["type"] == "context"]
    assert notes and notes[0]["elements"][0]["text"] == "Chart: &lt;!here&gt;&amp;co-take-up.png, sent to you by DM"
    assert "(image:" not in json.dumps(small["blocks"])  # the bytes never go into Block Kit
    blocks = r.render_message(reply)["blocks"]
    _check_limits(blocks, r.MESSAGE_BLOCKS)
    assert blocks[-1]["type"] == "actions"  # the buttons survive the cut
