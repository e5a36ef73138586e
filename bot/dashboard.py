"""The instructor's web dashboard: signed, expiring links, and the page's data.

A link carries (workspace id, person id, expiry) and an HMAC-SHA256 over them. The key is derived
from DAREBOT_SECRET_KEY when one is configured, else generated once and kept in the database, so a
link survives a restart and only this deployment can make one. The page itself (adapters/dashboard.py)
only renders what `page_for` returns: who may see what is decided here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from bot import commands as c
from bot.context import Context
from bot.insight import (
    CohortNumbers,
    CohortView,
    Stall,
    Weekly,
    cohort_view,
    comparison_rows,
    numbers,
    weekly,
    who_needs_a_word,
)
from bot.registry import command
from bot.replies import Reply, Section
from storage.models import AppSecret, Cohort, Membership, Person, Workspace, pk

LINK_HOURS = 24
KEY_NAME = "dashboard-link-key"
_PURPOSE = b"darebot dashboard links v1"


@dataclass(frozen=True)
class DashboardConfig:
    """Where links point and how they are signed; given to the engine by the composition root."""

    base_url: str | None = None  # DAREBOT_PUBLIC_URL, or the local address the dashboard listens on
    secret_key: str | None = None  # DAREBOT_SECRET_KEY
    hours: int = LINK_HOURS


_served: DashboardConfig | None = None


def serve_links(config: DashboardConfig | None) -> None:
    """Record that this process serves the dashboard: engines without their own config sign links to it."""
    global _served
    _served = config


def served() -> DashboardConfig | None:
    return _served


class LinkRefused(Exception):
    """A link that is altered, expired, or for a workspace that has closed; the text says which, plainly."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def link_key(session: Session, secret_key: str | None, now: datetime) -> bytes:
    """The signing key: derived from the configured secret, else one generated and stored on first use."""
    if secret_key:
        return hmac.new(secret_key.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()
    row = session.get(AppSecret, KEY_NAME)
    if row is None:
        row = AppSecret(name=KEY_NAME, value=secrets.token_urlsafe(48), created_at=now)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except Exception:  # another process stored one a moment ago: use theirs
            row = session.get(AppSecret, KEY_NAME)
            assert row is not None
    return hmac.new(row.value.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()


def sign(key: bytes, workspace_id: int, person_id: int, expires: datetime) -> str:
    payload = f"{workspace_id}.{person_id}.{int(expires.timestamp())}".encode("ascii")
    mac = hmac.new(key, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify(key: bytes, token: str, now: datetime) -> tuple[int, int]:
    """(workspace id, person id) of a genuine, unexpired token; LinkRefused otherwise."""
    try:
        body, _, mac_text = token.partition(".")
        payload = _unb64(body)
        mac = _unb64(mac_text)
    except (ValueError, UnicodeError):
        raise LinkRefused("This link is damaged or was changed.") from None
    if _b64(payload) != body or _b64(mac) != mac_text:  # only the one canonical spelling opens
        raise LinkRefused("This link is damaged or was changed.")
    if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()):
        raise LinkRefused("This link is damaged or was changed.")
    try:
        ws_text, person_text, exp_text = payload.decode("ascii").split(".")
        ws_id, person_id, expires = int(ws_text), int(person_text), int(exp_text)
    except ValueError:
        raise LinkRefused("This link is damaged or was changed.") from None
    if now.timestamp() >= expires:
        raise LinkRefused("This link has expired. Ask darebot for a fresh one: /dare dashboard.")
    return ws_id, person_id


def taught(session: Session, person_id: int) -> list[Cohort]:
    """Cohorts (open and closed) a person teaches now, newest first."""
    return list(
        session.exec(
            select(Cohort)
            .join(Membership, col(Membership.cohort_id) == col(Cohort.id))
            .where(
                Membership.person_id == person_id,
                Membership.is_instructor == True,  # noqa: E712
                Membership.removed_at == None,  # noqa: E711
            )
            .order_by(col(Cohort.created_at).desc(), col(Cohort.id).desc())
        ).all()
    )


@command(
    "dashboard",
    summary="A private link to your cohorts' web dashboard, valid for a day.",
    instructor=True,
    writes=False,
    examples=("/dare dashboard",),
    details="The link is yours alone and opens every cohort you teach; ask again for a fresh one when it expires.",
)
def dashboard(ctx: Context, _cmd: c.Dashboard) -> Reply:
    from bot.errors import NotAllowed, UsageError

    if not taught(ctx.session, pk(ctx.me)):
        raise NotAllowed("The dashboard is for instructors. Create a cohort with /dare cohort create NAME.")
    config = ctx.dashboard or served()
    if config is None or not config.base_url:
        raise UsageError(
            "The dashboard isn't switched on here. Whoever runs darebot starts it with "
            "--dashboard-port N and sets DAREBOT_PUBLIC_URL."
        )
    if ctx.ws.closed_at is not None:  # asked from the workspace, so darebot is installed there again
        ctx.ws.closed_at = None
    expires = ctx.now + timedelta(hours=config.hours)
    token = sign(link_key(ctx.session, config.secret_key, ctx.now), pk(ctx.ws), pk(ctx.me), expires)
    url = f"{config.base_url.rstrip('/')}/dashboard/{token}"
    until = expires.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Reply(
        title="Your dashboard",
        sections=(
            Section(
                text=f"{url}\nOnly for you: it opens your cohorts read-only, until {until}. "
                "Don't share it; ask again for a new one any time."
            ),
        ),
    )


# --- the page's data -------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortPage:
    view: CohortView
    numbers: CohortNumbers
    board: list[tuple[str, ...]]
    stalls: list[Stall]
    weekly: Weekly | None
    report: Reply


@dataclass(frozen=True)
class DashboardPage:
    person: Person
    workspace: Workspace
    expires_at: datetime
    cohorts: list[CohortPage] = field(default_factory=list)
    comparison: tuple[tuple[str, ...], tuple[tuple[str, ...], ...]] = ((), ())


BOARD_HEADERS = ("#", "Name", "Shown as", "Points", "Interviews", "Attempts", "Follow-ups", "Stories")


def open_link(session: Session, secret_key: str | None, token: str, now: datetime) -> tuple[Workspace, Person]:
    """The workspace and instructor a token stands for; LinkRefused when it must not open."""
    ws_id, person_id = verify(link_key(session, secret_key, now), token, now)
    ws = session.get(Workspace, ws_id)
    person = session.get(Person, person_id)
    if ws is None or person is None or person.workspace_id != ws.id:
        raise LinkRefused("This link is no longer valid.")
    if ws.closed_at is not None:
        raise LinkRefused("darebot was removed from this workspace, so its dashboard is closed.")
    return ws, person


def page_for(session: Session, secret_key: str | None, token: str, now: datetime) -> DashboardPage:
    from bot.board import SHOWN_AS
    from bot.scoring import score  # noqa: F401  (the board's points, as on /dare board)
    from bot.stats import ranked

    ws, person = open_link(session, secret_key, token, now)
    cohorts = taught(session, pk(person))
    if not cohorts:
        raise LinkRefused("You no longer teach a cohort here.")
    expires = datetime.fromtimestamp(int(_unb64(token.partition(".")[0]).decode().split(".")[2]), UTC)
    pages: list[CohortPage] = []
    for cohort in cohorts:
        view = cohort_view(session, cohort, now)
        rows: list[tuple[str, ...]] = [
            (
                str(rank),
                st.person.display_name,
                SHOWN_AS.get(st.person.board_mode, st.person.board_mode),
                str(st.score),
                f"{st.interviews}/{view.goal}",
                str(st.attempts),
                str(st.follow_ups),
                str(st.stories),
            )
            for rank, st in ranked(view.stats)
        ]
        pages.append(
            CohortPage(
                view,
                numbers(view),
                rows,
                who_needs_a_word(session, view, now),
                weekly(session, view),
                report_for(session, ws, person, cohort, now),
            )
        )
    return DashboardPage(person, ws, expires, pages, comparison_rows([p.numbers for p in pages]))


def report_for(session: Session, ws: Workspace, person: Person, cohort: Cohort, now: datetime) -> Reply:
    """The same report `/dare report` gives, without its chart (the page draws its own SVGs)."""
    from bot.identity import Actor
    from bot.ports import NoDirectory
    from bot.report import report

    ctx = Context(
        session=session,
        now=now,
        ws=ws,
        me=person,
        actor=Actor(person.external_id, person.display_name),
        default_tz=cohort.tz,
        directory=NoDirectory(),
    )
    return report(ctx, c.Report(cohort.name), chart=False)


def export_for(
    session: Session, secret_key: str | None, token: str, cohort_id: int, now: datetime
) -> tuple[str, bytes]:
    """(file name, CSV) of one of the link owner's cohorts, as `/dare export` makes it."""
    from bot.identity import Actor
    from bot.ports import NoDirectory
    from bot.report import export

    ws, person = open_link(session, secret_key, token, now)
    cohort = next((ch for ch in taught(session, pk(person)) if ch.id == cohort_id), None)
    if cohort is None:
        raise LinkRefused("That cohort isn't one of yours.")
    ctx = Context(
        session=session,
        now=now,
        ws=ws,
        me=person,
        actor=Actor(person.external_id, person.display_name),
        default_tz=cohort.tz,
        directory=NoDirectory(),
    )
    reply = export(ctx, c.Export(cohort.name))
    assert reply.file is not None
    return reply.file.filename, reply.file.content
