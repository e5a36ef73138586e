"""darebot's real discord.py client against the local fake Discord: the Slack issue's scenarios, end to end.

Interactions arrive through the gateway (INTERACTION_CREATE), answers leave through the REST
callbacks and webhooks; DMs go out through the coach and the Discord messenger.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from storage.models import Cohort, Nudge, Person
from tests.fakes.discord_harness import buttons_of, running_bot, text_of
from tests.fakes.discord_server import EPHEMERAL, FakeDiscord, FakeUser


async def slash(w: Any, user: FakeUser, guild: dict, path: str, **options: Any) -> dict:
    """Run `/dare <path> options` as `user`; returns the message the user ends up seeing."""
    payload = w.fake.command_interaction(user, guild, ["dare", *path.split()], options)
    await w.fake.dispatch("INTERACTION_CREATE", payload)
    return await w.fake.wait_final(payload)


async def world(tmp_path):
    fake = await FakeDiscord().start()
    people = {n: fake.add_user(n) for n in ("prof", "ann", "bob", "cy")}
    guild = fake.add_guild("Bootcamp", list(people.values()))
    return fake, people, guild


def test_cohort_dare_by_dm_reports_modals_board_and_refusal(tmp_path):
    async def scenario():
        fake, p, g = await world(tmp_path)
        fake.dm_closed.add(p["cy"].id)  # cy closed DMs from server members
        async with running_bot(tmp_path, fake=fake) as w:
            out = await slash(w, p["prof"], g, "cohort create", name="CS101", goal=2)
            assert "instructor" in text_of(out) and out["flags"] & EPHEMERAL
            for s in ("ann", "bob", "cy"):
                assert "Welcome to CS101" in text_of(await slash(w, p[s], g, "cohort join", name="CS101"))

            # the instructor issues the dare: the engine plans DMs, the coach delivers them at once
            out = await slash(w, p["prof"], g, "start", name="CS101", reward="a book")
            assert "out to 3 participants" in text_of(out)
            assert not (out.get("flags", 0) & EPHEMERAL)  # an announcement in the channel
            await asyncio.to_thread(w.nudges.deliver_due)
            [dm_ann] = fake.dm_messages(p["ann"])
            [dm_bob] = fake.dm_messages(p["bob"])
            assert fake.dm_messages(p["cy"]) == []
            assert dm_ann["allowed_mentions"]["parse"] == []
            with w.db.session() as s:
                cy = s.exec(select(Person).where(Person.external_id == p["cy"].id)).one()
                assert cy.unreachable_at is not None
                statuses = {n.status for n in s.exec(select(Nudge).where(Nudge.person_id == cy.id))}
                assert statuses == {"unreachable"}
            cy_channel = fake.dm_channels[p["cy"].id]
            await asyncio.to_thread(w.nudges.deliver_due)  # a refusal (50007) is never retried
            assert len(fake.calls_to("POST", f"/channels/{cy_channel}/messages")) == 1

            # ann takes the dare with the DM's button
            accept_id = buttons_of(dm_ann)["I'm in"]
            press = fake.component_interaction(p["ann"], dm_ann, accept_id)
            await fake.dispatch("INTERACTION_CREATE", press)
            out = await fake.wait_final(press)
            assert "dare" in text_of(out).lower()

            # reports through commands
            out = await slash(w, p["ann"], g, "contact", name="Ada Lovelace", title="CTO", decides=True)
            assert "Ada Lovelace" in text_of(out)
            auto = fake.command_interaction(p["ann"], g, ["dare", "outreach"], {"contact": "ad"}, focused="contact")
            choices = (await fake.interact(auto))["data"]["choices"]
            assert [c["value"] for c in choices] == ["Ada Lovelace"]
            out = await slash(w, p["ann"], g, "outreach", contact="Ada Lovelace", via="linkedin")
            assert "First attempt" in text_of(out)

            # /dare log with no contact opens a modal; its submission logs the interview
            opener = fake.command_interaction(p["ann"], g, ["dare", "log"], {})
            cb = await fake.interact(opener)
            assert cb["type"] == 9  # MODAL
            modal = cb["data"]
            sub = fake.modal_submit_interaction(
                p["ann"],
                modal,
                {"contact": ["Ada Lovelace"], "minutes": "20", "outcomes": ["referral"], "learned": "Persist"},
                g,
            )
            await fake.dispatch("INTERACTION_CREATE", sub)
            out = await fake.wait_final(sub)
            assert "Reverse interview #1 logged" in text_of(out), text_of(out)

            # the board: private first, then posted to the channel with its button
            board = fake.command_interaction(p["ann"], g, ["dare", "board"], {})
            await fake.dispatch("INTERACTION_CREATE", board)
            out = await fake.wait_final(board)
            assert out["flags"] & EPHEMERAL and "```" in text_of(out)
            shown = fake.originals[board["token"]]  # the message as Discord holds it
            post = fake.component_interaction(p["ann"], shown, buttons_of(out)["Post to channel"], g)
            await fake.dispatch("INTERACTION_CREATE", post)
            out = await fake.wait_final(post)
            assert not out.get("flags", 0) & EPHEMERAL and "Ann" in text_of(out)

            # a participant is refused the report, privately; the instructor gets it
            out = await slash(w, p["ann"], g, "report", name="CS101")
            assert "Only instructors of CS101" in text_of(out) and out["flags"] & EPHEMERAL
            out = await slash(w, p["prof"], g, "report", name="CS101")
            assert "Take-up" in text_of(out) and out.get("embeds")
            export = fake.command_interaction(p["prof"], g, ["dare", "export"], {"name": "CS101"})
            await fake.dispatch("INTERACTION_CREATE", export)
            await fake.wait_final(export)
            [call] = fake.calls_to("POST", rf"/interactions/{export['id']}/.*")
            [(filename, body)] = call.files
            assert filename.endswith(".csv") and b"Ann" in body
        await fake.close()

    asyncio.run(scenario())


def test_mentions_typed_by_users_are_escaped_and_never_ping(tmp_path):
    async def scenario():
        fake, p, g = await world(tmp_path)
        async with running_bot(tmp_path, fake=fake) as w:
            await slash(w, p["prof"], g, "cohort create", name="CS101")
            await slash(w, p["ann"], g, "cohort join", name="CS101")
            payload = fake.command_interaction(
                p["ann"],
                g,
                ["dare", "contact"],
                {"name": "@everyone Boss", "org": "@here <@&123456789012345678> **Inc**"},
            )
            cb = await fake.interact(payload)
            data = cb["data"]
            shown = text_of(data)
            assert "@everyone" not in shown and "@\u200beveryone" in shown
            assert data["allowed_mentions"]["parse"] == []
        await fake.close()

    asyncio.run(scenario())


def test_a_duplicate_interaction_is_handled_once(tmp_path, db_url):
    async def scenario():
        fake, p, g = await world(tmp_path)
        async with running_bot(tmp_path, fake=fake, db_url=db_url) as w:
            payload = fake.command_interaction(p["prof"], g, ["dare", "cohort", "create"], {"name": "CS101"})
            await fake.dispatch("INTERACTION_CREATE", payload)
            await fake.dispatch("INTERACTION_CREATE", payload)  # Discord (or a resume) delivers it again
            first = await fake.wait_final(payload)
            assert "instructor" in text_of(first)
            # a later interaction is answered, and the twin never produced a second callback
            await slash(w, p["ann"], g, "cohort join", name="CS101")
            with pytest.raises(asyncio.TimeoutError):
                await fake.wait_for(
                    lambda c: c.path.startswith(f"/interactions/{payload['id']}/") and c.status != 200, timeout=0.3
                )
            assert len(fake.calls_to("POST", rf"/interactions/{payload['id']}/.*")) == 1
            with w.db.session() as s:
                assert len(s.exec(select(Cohort)).all()) == 1
        await fake.close()

    asyncio.run(scenario())


def test_bad_modal_input_gets_a_private_error_and_writes_nothing(tmp_path):
    async def scenario():
        fake, p, g = await world(tmp_path)
        async with running_bot(tmp_path, fake=fake) as w:
            await slash(w, p["prof"], g, "cohort create", name="CS101")
            await slash(w, p["ann"], g, "cohort join", name="CS101")
            cb = await fake.interact(fake.command_interaction(p["ann"], g, ["dare", "log"], {}))
            sub = fake.modal_submit_interaction(p["ann"], cb["data"], {"contact": "Nobody Known", "minutes": "9999"}, g)
            await fake.dispatch("INTERACTION_CREATE", sub)
            out = await fake.wait_final(sub)
            assert out["flags"] & EPHEMERAL and "minutes" in text_of(out).lower()
            from storage.models import Interview

            with w.db.session() as s:
                assert s.exec(select(Interview)).all() == []
        await fake.close()

    asyncio.run(scenario())


def test_contact_and_story_modals_and_cohort_autocomplete(tmp_path):
    async def scenario():
        fake, p, g = await world(tmp_path)
        async with running_bot(tmp_path, fake=fake) as w:
            await slash(w, p["prof"], g, "cohort create", name="CS101")
            await slash(w, p["prof"], g, "cohort create", name="Design 2")
            auto = fake.command_interaction(p["ann"], g, ["dare", "cohort", "join"], {"name": "cs"}, focused="name")
            cb = await fake.interact(auto)
            assert cb["type"] == 8 and [c["value"] for c in cb["data"]["choices"]] == ["CS101"]
            await slash(w, p["ann"], g, "cohort join", name="CS101")

            cb = await fake.interact(fake.command_interaction(p["ann"], g, ["dare", "contact"], {}))
            assert cb["type"] == 9
            kinds = {c["component"]["custom_id"]: c["component"]["type"] for c in cb["data"]["components"]}
            assert kinds == {"name": 4, "title": 4, "org": 4, "kind": 3, "decides": 23}
            sub = fake.modal_submit_interaction(
                p["ann"],
                cb["data"],
                {"name": "Grace @everyone Hopper", "org": "Navy", "kind": ["decision-maker"], "decides": True},
                g,
            )
            await fake.dispatch("INTERACTION_CREATE", sub)
            out = await fake.wait_final(sub)
            shown = text_of(out)
            assert "Grace" in shown and "@everyone" not in shown and out["allowed_mentions"]["parse"] == []
            from storage.models import Contact

            with w.db.session() as s:
                [contact] = s.exec(select(Contact)).all()
                assert contact.kind == "decision-maker" and contact.can_decide

            cb = await fake.interact(fake.command_interaction(p["ann"], g, ["dare", "story"], {}))
            sub = fake.modal_submit_interaction(
                p["ann"], cb["data"], {"text": "She answered on my third try.", "to": ["cohort"]}, g
            )
            await fake.dispatch("INTERACTION_CREATE", sub)
            out = await fake.wait_final(sub)
            assert not text_of(out).startswith("⚠️"), text_of(out)
        await fake.close()

    asyncio.run(scenario())


async def run(w: Any, who: FakeUser, guild: dict, path: str, options: dict[str, Any] | None = None) -> dict:
    """Like `slash`, with the options as a dict (a `user` option can't be a keyword there)."""
    payload = w.fake.command_interaction(who, guild, ["dare", *path.split()], options or {})
    await w.fake.dispatch("INTERACTION_CREATE", payload)
    return await w.fake.wait_final(payload)


def test_the_instructors_view_through_discord(tmp_path):
    """Close, reopen, rename, remove and leave; one student's record; compare; boards; the word button."""

    async def scenario():
        fake, p, g = await world(tmp_path)
        async with running_bot(tmp_path, fake=fake) as w:
            await run(w, p["prof"], g, "cohort create", dict(name="CS101", goal=2))
            for s in ("ann", "bob", "cy"):
                await slash(w, p[s], g, "cohort join", name="CS101")
            await run(w, p["prof"], g, "start", dict(name="CS101"))
            await run(w, p["ann"], g, "accept")
            await run(w, p["ann"], g, "contact", dict(name="Ada Lovelace", decides=True))
            await run(w, p["ann"], g, "outreach", dict(contact="Ada Lovelace"))

            # a participant is refused every instructor-only tool, privately
            for path, opts in (
                ("cohort close", {"name": "CS101"}),
                ("cohort reopen", {"name": "CS101"}),
                ("cohort remove", {"name": "CS101", "user": p["bob"]}),
                ("cohort rename", {"name": "CS101", "new_name": "X"}),
                ("report", {"name": "CS101", "compare": "CS101"}),
            ):
                out = await run(w, p["ann"], g, path, opts)
                assert "Only instructors of CS101" in text_of(out) and out["flags"] & EPHEMERAL, path
            out = await run(w, p["ann"], g, "progress", dict(user=p["bob"]))
            assert "Only instructors see someone else's progress" in text_of(out)

            out = await run(w, p["prof"], g, "progress", dict(user=p["ann"], name="CS101"))
            assert "Ann: progress" in text_of(out) and "Ada" not in text_of(out)
            rep = fake.command_interaction(p["prof"], g, ["dare", "report"], {"name": "CS101"})
            await fake.dispatch("INTERACTION_CREATE", rep)
            out = await fake.wait_final(rep)
            assert "Who needs a word" in text_of(out) and "accepted the dare" in text_of(out)
            word = buttons_of(out)["Word to Cy"]
            shown = fake.originals[rep["token"]]
            before = len(fake.dm_messages(p["cy"]))
            press = fake.component_interaction(p["prof"], shown, word, g)
            await fake.dispatch("INTERACTION_CREATE", press)
            # Cy had the dare's announcement today: one DM a day, so the word waits for tomorrow and says so.
            assert "goes to Cy tomorrow" in text_of(await fake.wait_final(press))
            w.clock.advance(timedelta(days=1))
            await asyncio.to_thread(w.nudges.deliver_due)
            dms = fake.dm_messages(p["cy"])
            assert len(dms) == before + 1 and "word from your instructor" in text_of(dms[-1]).lower()

            out = await run(w, p["prof"], g, "board", dict(name="CS101", period="week"))
            assert "last 7 days" in text_of(out) and "Shown as" in text_of(out)
            out = await run(w, p["prof"], g, "cohort remove", dict(name="CS101", user=p["cy"]))
            assert "no longer in CS101" in text_of(out)
            assert "left CS101" in text_of(await run(w, p["bob"], g, "cohort leave", dict(name="CS101")))
            out = await run(w, p["prof"], g, "cohort close", dict(name="CS101"))
            assert "CS101 is closed" in text_of(out)
            await run(w, p["prof"], g, "cohort create", dict(name="Next", goal=1))
            out = await run(w, p["prof"], g, "report", dict(name="Next", compare="CS101"))
            assert "Side by side" in text_of(out) and "CS101 (closed)" in text_of(out)
            assert "open again" in text_of(await run(w, p["prof"], g, "cohort reopen", dict(name="CS101")))
            out = await run(w, p["prof"], g, "cohort rename", dict(name="CS101", new_name="CS102"))
            assert "now called CS102" in text_of(out)
        await fake.close()

    asyncio.run(scenario())


def test_meeting_the_goal_is_cheered_in_the_guild_channel(tmp_path):
    async def scenario():
        fake, p, g = await world(tmp_path)
        async with running_bot(tmp_path, fake=fake) as w:
            await run(w, p["prof"], g, "cohort create", dict(name="Duo", goal=1))
            await slash(w, p["ann"], g, "cohort join", name="Duo")
            await run(w, p["prof"], g, "start", dict(name="Duo"))
            await run(w, p["ann"], g, "accept")
            await run(w, p["ann"], g, "contact", dict(name="Ada Lovelace"))
            await run(w, p["ann"], g, "outreach", dict(contact="Ada Lovelace"))
            payload = fake.command_interaction(p["ann"], g, ["dare", "log"], {"contact": "Ada Lovelace"})
            await fake.dispatch("INTERACTION_CREATE", payload)
            private = await fake.wait_final(payload)
            assert "you met your goal" in text_of(private) and private["flags"] & EPHEMERAL
            for _ in range(100):
                public = [
                    f
                    for f in fake.followups.get(payload["token"], [])
                    if f["kind"] == "followup" and not (f.get("flags") or 0) & EPHEMERAL
                ]
                if public:
                    break
                await asyncio.sleep(0.05)
            assert len(public) == 1 and "just met the goal of 1 reverse interview in Duo" in text_of(public[0])

    asyncio.run(scenario())
