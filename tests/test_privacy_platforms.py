"""mydata and forget-me through the real bolt app and discord.py: the file goes to the DM, the danger button deletes,
uninstalling (or removing from a guild) marks the workspace for deletion in 30 days."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select

from adapters import slack_render as r
from storage.models import Contact, Person, Workspace
from tests.fakes.slack_harness import TEAM, SlackHarness


@pytest.fixture
def h(tmp_path) -> Iterator[SlackHarness]:  # type: ignore[no-untyped-def]
    harness = SlackHarness(f"sqlite:///{tmp_path}/darebot.sqlite3")
    harness.fake.add_user(TEAM, "UA", "ada")
    try:
        yield harness
    finally:
        harness.close()


def _buttons(payload: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {el["text"]["text"]: el for b in payload.get("blocks", []) if b["type"] == "actions" for el in b["elements"]}


def test_mydata_is_uploaded_to_the_dm_and_forget_me_deletes_on_the_button(h: SlackHarness) -> None:
    assert h.slack.command("UA", 'contact "Ottoline Farnsworth" --org Quietco').status == 200
    h.drain()
    h.fake.clear()
    summary = h.reply(h.slack.command("UA", "mydata"))
    assert summary["response_type"] == "ephemeral" and "Contacts" in json.dumps(summary["blocks"])
    h.fake.wait_for_calls("files.completeUploadExternal")
    h.drain()
    [export] = h.fake.shared_files("DA")
    assert export.filename.startswith("darebot-mydata-") and export.content is not None
    data = json.loads(export.content)
    assert data["you"]["external_id"] == "UA"
    assert [c["name"] for c in data["tables"]["contact"]] == ["Ottoline Farnsworth"]

    ask = h.reply(h.slack.command("UA", "forget-me"))
    button = _buttons(ask)["Delete everything"]
    assert button["style"] == "danger"
    assert r.decode_action_id(button["action_id"]) == "privacy.forget"
    with h.db.session() as s:
        assert s.exec(select(Contact)).all()
    assert h.slack.block_action("UA", button["action_id"], button.get("value", "")).status == 200
    h.drain()
    with h.db.session() as s:
        assert s.exec(select(Contact)).all() == []
        people = s.exec(select(Person)).all()
        # The App Home refresh after the answer may greet the same user afresh: an empty profile only.
        print("PEOPLE", [(p.external_id, p.display_name) for p in people])
        assert all(p.created_at >= h.clock.now() for p in people)
    assert "Ottoline" not in json.dumps([c.args for c in h.fake.calls_to("chat.postMessage")][-1:])


def test_uninstall_marks_the_workspace_for_deletion_in_30_days(h: SlackHarness, caplog) -> None:  # type: ignore[no-untyped-def]
    assert h.slack.command("UA", 'contact "Ottoline Farnsworth"').status == 200
    h.drain()
    caplog.set_level("INFO")
    assert h.slack.event({"type": "app_uninstalled"}).status == 200
    h.drain()
    with h.db.session() as s:
        ws = s.exec(select(Workspace).where(Workspace.external_id == TEAM)).one()
        assert ws.uninstalled_at == h.clock.now()
    assert any("in 30 days" in rec.getMessage() for rec in caplog.records)
    h.clock.advance(timedelta(days=31))
    assert h.nudges.purge().workspaces == 1
    with h.db.session() as s:
        assert s.exec(select(Contact)).all() == [] and s.exec(select(Workspace)).all() == []


def test_discord_mydata_attachment_forget_button_and_guild_removal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from tests.fakes.discord_harness import buttons_of, running_bot, text_of
    from tests.fakes.discord_server import FakeDiscord

    async def scenario() -> None:
        fake = await FakeDiscord().start()
        ann = fake.add_user("ann")
        guild = fake.add_guild("Bootcamp", [ann])

        async def slash(w, path: str, **options):  # type: ignore[no-untyped-def]
            payload = w.fake.command_interaction(ann, guild, ["dare", *path.split()], options)
            await w.fake.dispatch("INTERACTION_CREATE", payload)
            return payload, await w.fake.wait_final(payload)

        async with running_bot(tmp_path, fake=fake) as w:
            await slash(w, "contact", name="Ottoline Farnsworth")
            asked, _out = await slash(w, "mydata")
            [call] = fake.calls_to("POST", rf"/interactions/{asked['id']}/.*")
            [(filename, body)] = call.files
            assert filename.startswith("darebot-mydata-") and b"Ottoline Farnsworth" in body

            _p, out = await slash(w, "forget-me")
            shown = fake.originals[_p["token"]]
            press = fake.component_interaction(ann, shown, buttons_of(out)["Delete everything"], guild)
            await fake.dispatch("INTERACTION_CREATE", press)
            done = await fake.wait_final(press)
            assert "deleted everything" in text_of(done)
            with w.db.session() as s:
                assert s.exec(select(Contact)).all() == []
                assert [p.external_id for p in s.exec(select(Person)).all()] in ([], ["~deleted"])

            await slash(w, "contact", name="Someone Else")
            await fake.dispatch("GUILD_DELETE", {"id": guild["id"]})
            for _ in range(100):
                with w.db.session() as s:
                    if s.exec(select(Workspace)).one().uninstalled_at is not None:
                        break
                await asyncio.sleep(0.05)
            with w.db.session() as s:
                assert s.exec(select(Workspace)).one().uninstalled_at == w.clock.now()
        await fake.close()

    asyncio.run(scenario())
