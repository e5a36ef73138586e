"""The coaching engine's front door: adapters hand it a workspace, an actor and a command.

Each call is one transaction: it commits whole or, on any refusal, rolls back whole and returns a
short private error. No exception escapes to an adapter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot import board, dedupe, progress, registry, report
from bot import commands as c
from bot.clock import Clock
from bot.context import Context, find_actor, get_person, get_workspace, needs_objects, new_actor, objects_of
from bot.dashboard import DashboardConfig
from bot.errors import DareError, NotFound, UsageError
from bot.forms import Form, build_form, to_command
from bot.grammar import parse
from bot.help import questions
from bot.identity import Actor, WorkspaceRef
from bot.nudges import marks
from bot.ports import Directory, NoDirectory, NoObserver, Observer
from bot.replies import OOPS, Reply, Section, error_reply
from bot.validate import name_key
from bot.zones import effective_zone
from storage.db import Database
from storage.models import Cohort, Contact, Person, ProcessedEvent, Workspace

log = logging.getLogger(__name__)


class AlreadyDone(DareError):
    """The idempotency key of this submission was recorded before: it was handled already."""


class Engine:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        default_tz: str = "UTC",
        directory: Directory | None = None,
        outbox_listener: Callable[[], None] | None = None,
        observer: Observer | None = None,
        dashboard: DashboardConfig | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.default_tz = default_tz
        self.directory: Directory = directory or NoDirectory()
        # Called after a command planned DMs that are due now (the scheduler's kick).
        self.outbox_listener = outbox_listener
        # Told each command's name, outcome and duration (metrics).
        self.observer: Observer = observer or NoObserver()
        # Where /dare dashboard links point and how they are signed (None: the process-wide one, if served).
        self.dashboard = dashboard

    # -- entry points -------------------------------------------------------------------------
    def handle_text(self, ws: WorkspaceRef, actor: Actor, text: str) -> Reply:
        """The text after `/dare`, as typed in Slack or the console."""
        stripped = text.strip()
        bare = stripped[5:].strip() if stripped.startswith("/dare") else stripped
        bare_spec = registry.command_for((bare.lower(),)) if bare and " " not in bare else None
        if bare_spec is not None and bare_spec.form:
            return self._form_prompt(bare_spec.form, bare_spec.usage)
        try:
            command = parse(text)
        except UsageError as err:
            self._observe("unparsed", error_reply(str(err)), time.perf_counter())
            return error_reply(str(err))
        except Exception:  # the parser must never take the adapter down
            log.exception("parser failed on %r", text[:200])
            return error_reply(OOPS)
        return self.run(ws, actor, command)

    def run(self, ws: WorkspaceRef, actor: Actor, command: object) -> Reply:
        started = time.perf_counter()
        try:
            reply = self._transaction(ws, actor, lambda ctx: self._dispatch(ctx, command))
        except DareError as err:
            reply = error_reply(str(err))
        try:
            name = registry.spec_of(command).name
        except KeyError:
            name = "unknown"
        self._observe(name, reply, started)
        return reply

    def press(self, ws: WorkspaceRef, actor: Actor, action: str, value: str) -> Reply:
        """A button came back from a DM or a reply; its declaration (bot.registry) says what it does."""
        started = time.perf_counter()
        reply = self._press(ws, actor, action, value)
        self._observe(f"button {action}" if registry.action_for(action) else "button unknown", reply, started)
        return reply

    def _observe(self, name: str, reply: Reply, started: float) -> None:
        try:
            self.observer.command(name, "error" if reply.is_error else "ok", time.perf_counter() - started)
        except Exception:  # metrics must never break a command
            log.exception("observer failed")

    def _press(self, ws: WorkspaceRef, actor: Actor, action: str, value: str) -> Reply:
        spec = registry.action_for(action)
        if spec is None:
            return error_reply("That button has expired. Try the command instead: /dare help.")
        if spec.opens_form:
            return self._form_prompt(spec.opens_form, registry.form_usage(spec.opens_form))
        handler = spec.handler
        assert handler is not None
        try:
            if not spec.transaction:
                reply = handler(None, value)
            else:
                reply = self._transaction(ws, actor, lambda ctx: handler(ctx, value))
        except DareError as err:
            return error_reply(str(err))
        if spec.replaces_message and not reply.is_error:
            reply = replace(reply, replaces_message=True)
        return reply

    def form(self, ws: WorkspaceRef, actor: Actor, name: str) -> Form:
        return build_form(name, self.contact_names(ws, actor))

    def submit_form(
        self,
        ws: WorkspaceRef,
        actor: Actor,
        name: str,
        values: dict[str, object],
        *,
        idempotency_key: str | None = None,
    ) -> Reply | None:
        """Raises UsageError (with `.field`) on bad input; nothing is written then.

        With `idempotency_key`, the key is recorded in the same transaction as the write, so a
        retried submission returns None (already done) while a refused one can be sent again.
        """
        command = to_command(name, values)

        def work(ctx: Context) -> Reply:
            if idempotency_key is not None:
                ctx.session.add(ProcessedEvent(key=idempotency_key[:200], created_at=ctx.now))
                ctx.session.flush()  # a duplicate key fails here, before the command runs
            return self._dispatch(ctx, command)

        try:
            return self._transaction(ws, actor, work)
        except AlreadyDone:
            return None
        except NotFound as err:
            raise UsageError(str(err), field="contact" if name != "contact" else "name") from None
        except UsageError:
            raise
        except DareError as err:
            raise UsageError(str(err)) from None

    def home(self, ws: WorkspaceRef, actor: Actor) -> Reply:
        """An overview: my progress, the questions and, for instructors, their cohorts."""

        def build(ctx: Context) -> Reply:
            mine = progress.progress(ctx, c.Progress())
            sections = list(mine.sections)
            for cohort, m in ctx.memberships():
                if m.is_instructor:
                    rep = report.report(ctx, c.Report(cohort.name), chart=False, brief=True)
                    sections.append(Section(title=f"Teaching: {cohort.name}", text=rep.sections[0].text))
                    sections.extend(board.board(ctx, c.Board(cohort.name)).sections[:1])
            sections.extend(questions(ctx, c.Questions()).sections)
            return Reply(title="darebot", sections=tuple(sections))

        def stranger() -> Reply:
            # Looking at the Home tab registers nobody (nor brings back someone who was just forgotten).
            return Reply(
                title="darebot",
                sections=(
                    Section(text="You're not in a cohort yet: /dare cohort join NAME. /dare help shows the rest."),
                    *questions(None, c.Questions()).sections,
                ),
            )

        try:
            return self._transaction(ws, actor, build, stranger=stranger)
        except DareError as err:
            return error_reply(str(err))

    def cohort_names(self, ws: WorkspaceRef, actor: Actor, prefix: str = "") -> list[str]:
        with self.db.session() as s:
            w = get_workspace(s, ws, self.clock.now())
            rows = s.exec(
                select(Cohort.name)
                .where(
                    Cohort.workspace_id == w.id,
                    Cohort.closed_at == None,  # noqa: E711
                    col(Cohort.name_key).startswith(name_key(prefix)),
                )
                .order_by(col(Cohort.name))
                .limit(25)
            )
            return list(rows)

    def contact_names(self, ws: WorkspaceRef, actor: Actor, prefix: str = "") -> list[str]:
        with self.db.session() as s:
            w = get_workspace(s, ws, self.clock.now())
            person = get_person(s, w, actor.user_id, actor.display_name, self.clock.now(), actor.tz)
            rows = s.exec(
                select(Contact.name)
                .where(Contact.person_id == person.id, col(Contact.name_key).startswith(name_key(prefix)))
                .order_by(col(Contact.name))
                .limit(25)
            )
            return list(rows)

    def first_time(self, key: str) -> bool:
        """Records an idempotency key; False when it was seen before (a retried delivery)."""
        try:
            with self.db.session() as s:
                s.add(ProcessedEvent(key=key[:200], created_at=self.clock.now()))
            return True
        except IntegrityError:
            return False

    def close_workspace(self, ws: WorkspaceRef) -> None:
        """darebot was removed from the workspace: its dashboard links stop working (a later command reopens it)."""
        with self.db.session() as s:
            get_workspace(s, ws, self.clock.now()).closed_at = self.clock.now()

    def latest_activity(self, ws: WorkspaceRef) -> datetime | None:
        """The last moment anyone in the workspace acted (the console resumes its clock from here)."""
        from sqlalchemy import func

        from storage.models import Person

        with self.db.session() as s:
            w = get_workspace(s, ws, self.clock.now())
            return s.exec(select(func.max(Person.last_active_at)).where(Person.workspace_id == w.id)).one()

    def uninstalled(self, ws: WorkspaceRef) -> None:
        """The app was removed from a workspace: its data is deleted 30 days later (bot.privacy)."""
        from bot.privacy import mark_uninstalled

        with self.db.session() as s:
            mark_uninstalled(s, ws.platform, ws.external_id, self.clock.now())

    def person_zone(self, ws: WorkspaceRef, user_id: str) -> str:
        """A person's time zone: their own, else their cohort's, else the default."""
        from storage.models import Person

        with self.db.session() as s:
            w = get_workspace(s, ws, self.clock.now())
            person = s.exec(select(Person).where(Person.workspace_id == w.id, Person.external_id == user_id)).first()
            return effective_zone(s, person, self.default_tz)[0] if person else self.default_tz

    # -- internals ----------------------------------------------------------------------------
    def _form_prompt(self, name: str, usage: str) -> Reply:
        spec = build_form(name, [])
        return Reply(title=spec.title, sections=(Section(text=f"Usage: {usage}"),), form=name)

    def _transaction(
        self,
        ws: WorkspaceRef,
        actor: Actor,
        work: Callable[[Context], Reply],
        *,
        stranger: Callable[[], Reply] | None = None,
    ) -> Reply:
        """`stranger`, when given, answers someone not stored yet instead of registering them."""
        now: datetime = self.clock.now()
        ctx: Context | None = None
        try:
            with self.db.unit({marks.NOW_KEY: now}) as unit:  # change marks for the sweep carry the command's moment
                found = find_actor(unit.conn, ws, actor)
                w: Workspace | None = None
                me: Person | None = None
                if found is None or needs_objects(found, actor):
                    # Someone new, or a change the platform tells of them: through the ORM's objects.
                    if found is not None:
                        w, me = objects_of(unit.session, found, actor, now)
                    elif stranger is not None:
                        return stranger()
                    else:
                        w, me = new_actor(unit.session, ws, actor, now)
                    s = unit.session
                    if me in s.dirty or me in s.new:  # written first anyway (a new name): in the same UPDATE
                        me.last_active_at = now
                ctx = Context(
                    unit=unit,
                    found=found,
                    ws=w,
                    me=me,
                    now=now,
                    actor=actor,
                    default_tz=self.default_tz,
                    directory=self.directory,
                    dashboard=self.dashboard,
                    cohort_zone=(found.cohort_tz if found else None) or self.default_tz,
                )
                reply = work(ctx)
                # Written last: on SQLite the first write takes the database's write lock until the
                # commit, so marking the person active first made every command, even a read-only
                # progress or board, hold that lock for all its reads, and a burst ran one at a time.
                ctx.finish()
        except DareError:
            raise
        except IntegrityError as err:
            if "processedevent" in str(err).lower():
                raise AlreadyDone() from None
            log.info("conflicting write for %s", actor.user_id, exc_info=True)
            raise UsageError("That was already recorded (it looks like a double submission).") from None
        except Exception:
            log.exception("command failed")
            return error_reply(OOPS)
        if ctx is not None and ctx.planned_dms and self.outbox_listener is not None:
            try:
                self.outbox_listener()
            except Exception:  # delivery trouble must not undo a committed command
                log.exception("outbox listener failed")
        return reply

    def _dispatch(self, ctx: Context, command: object) -> Reply:
        try:
            spec = registry.spec_of(command)
        except KeyError:
            raise UsageError("That command isn't available here. Try /dare help.") from None
        reply = spec.handler(ctx, command)
        if not dedupe.is_write(command):
            return replace(reply, read_only=True)
        dedupe.once(ctx, command)  # after the handler: its own, more specific refusal comes first
        return reply
