"""The local console: the whole coach in a terminal, on an SQLite file, with a clock you can move.

Lines: `@NAME /dare ...` acts as NAME; `/dare ...` acts as the previous speaker; `/wait 3d` moves
time on and delivers the nudges due in that span, each shown as it was sent, in the recipient's
own time zone. Piped input runs as a script and exits 0 at its end.
"""

from __future__ import annotations

import contextlib
import getpass
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.clock import ManualClock
from bot.engine import Engine
from bot.identity import Actor, WorkspaceRef
from bot.ports import Observer, Sent
from bot.replies import Reply
from bot.zones import stored_zone
from storage.db import Database

WORKSPACE = WorkspaceRef("console", "local", "Local console")
_SPEAKER = re.compile(r"^@([A-Za-z0-9._-]{1,40})\s+(.*)$")
_WAIT = re.compile(r"^(?:(\d{1,4})w)?(?:(\d{1,4})d)?(?:(\d{1,4})h)?(?:(\d{1,4})m)?$")

BANNER = """darebot console: you can play the instructor and every student.
  @NAME /dare ...   run a command as NAME (created on first use)
  /dare ...         run it as the previous speaker
  /wait 3d          move the clock on (3d, 12h, 30m, 1w, 3d15h) and see the nudges sent meanwhile
  /dare help        every command; /quit to leave"""


class ConsoleMessenger:
    """Delivers DMs by printing them with the moment of sending in the recipient's time zone."""

    def __init__(self, engine: Engine, out: TextIO) -> None:
        self.engine = engine
        self.out = out
        self.sent = 0

    def send_dm(
        self, workspace_external_id: str, user_id: str, reply: Reply, *, key: str = "", check: bool = False
    ) -> Sent:
        tz = self.engine.person_zone(WORKSPACE, user_id)
        local = self.engine.clock.now().astimezone(stored_zone(tz))
        body = reply.plain_text().replace("\n", "\n    ")
        self.out.write(f"[{local:%Y-%m-%d %H:%M} {tz}] DM to @{user_id}: {body}\n")
        self.out.flush()
        self.sent += 1
        return Sent(message_id=f"console-{self.sent}")


def parse_wait(text: str) -> timedelta | None:
    """`3d`, `12h`, `30m`, `1w`, or combined largest first: `1w2d3h`, `3d15h`."""
    m = _WAIT.match("".join(text.split()).lower())
    if not m or not any(m.groups()):
        return None
    w, d, h, mins = (int(g or 0) for g in m.groups())
    delta = timedelta(weeks=w, days=d, hours=h, minutes=mins)
    return delta if delta > timedelta(0) else None


class Console:
    def __init__(
        self,
        db: Database,
        *,
        start: datetime,
        default_tz: str,
        out: TextIO,
        files_dir: Path = Path("darebot-files"),
        observer: Observer | None = None,
    ) -> None:
        from adapters.wiring import build_console

        self.clock = ManualClock(start)
        bot, self.messenger = build_console(db, self.clock, default_tz=default_tz, out=out, observer=observer)
        self.engine = bot.engine
        assert bot.nudges is not None
        self.nudges = bot.nudges
        self.out = out
        self.files_dir = files_dir
        self.speaker = getpass.getuser() or "me"

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def handle_line(self, raw: str) -> bool:
        """Run one line; False means quit."""
        line = raw.strip()
        if not line or line.startswith("#"):
            return True
        if line in ("/quit", "/exit"):
            return False
        if m := _SPEAKER.match(line):
            self.speaker, line = m.group(1), m.group(2).strip()
        if line.startswith("/wait"):
            delta = parse_wait(line[5:])
            if delta is None:
                self.say("! /wait takes a span like 3d, 12h, 30m, 1w or 3d15h.")
                return True
            self.nudges.simulate_until(self.clock.now() + delta)
            self.say(f"(the clock is now {self.clock.now():%Y-%m-%d %H:%M} UTC)")
            return True
        if not line.startswith("/dare"):
            self.say("! Lines start with /dare, @NAME /dare, or /wait. Try /dare help.")
            return True
        reply = self.engine.handle_text(WORKSPACE, Actor(self.speaker, self.speaker), line)
        self.show(reply)
        self.nudges.deliver_due()
        return True

    def show(self, reply: Reply) -> None:
        prefix = "! " if reply.is_error else ""
        where = "" if reply.is_error or reply.ephemeral else " (posted in the channel)"
        self.say(f"darebot -> @{self.speaker}{where}:\n{prefix}" + reply.plain_text().replace("\n", "\n  "))
        for att in (reply.image, reply.file):
            if att is not None:
                self.files_dir.mkdir(parents=True, exist_ok=True)
                path = self.files_dir / att.filename
                path.write_bytes(att.content)
                self.say(f"  (saved {path})")
        if reply.public is not None:  # the console is one shared channel
            self.say("darebot -> the channel:\n" + reply.public.plain_text().replace("\n", "\n  "))

    def run(self, lines: Iterable[str], *, interactive: bool) -> None:
        if interactive:
            self.say(BANNER)
        for raw in lines:
            if not interactive and raw.strip() and not raw.lstrip().startswith("#"):
                self.say(f"> {raw.rstrip()}")
            if not self.handle_line(raw):
                break


def _prompted_lines(console: Console) -> Iterable[str]:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    while True:
        try:
            yield input(f"{console.speaker}> ")
        except EOFError:
            return


def run_console(
    db: Database,
    *,
    default_tz: str,
    start: datetime | None = None,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    observer: Observer | None = None,
) -> int:
    """Open the console; with no `start`, the clock resumes where the file's last run left it (or now)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    console = Console(db, start=start or now, default_tz=default_tz, out=out, observer=observer)
    if start is None:
        # An earlier run may have /wait-ed into the future: carry on from there, not back in time.
        latest = console.engine.latest_activity(WORKSPACE)
        if latest is not None and latest > now:
            console.clock.set(latest)
    interactive = stdin.isatty()
    console.run(_prompted_lines(console) if interactive else stdin, interactive=interactive)
    return 0
