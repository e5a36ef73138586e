"""Slack burst: signed slash commands at a fixed concurrency against darebot's HTTP mode and a bare
slack-bolt AsyncApp that only acknowledges (the floor), both started here in the same run.

darebot is the real server process (`darebot run --platform slack --http`), on SQLite or
PostgreSQL, calling a fake Slack Web API (tests/fakes/slack_api.py, its own process) for users.info,
views.publish and response_url. The load is an aiohttp client; every request is signed as Slack
signs it. `profile()` samples darebot under the burst with py-spy and folds the samples into the
frames that take the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.slack_api import signature

ROOT = Path(__file__).resolve().parent.parent
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T1"
TOKEN = "xoxb-bench-token"
COHORT = "Bench"
COMMANDS = {
    "help": "help",
    "progress": "progress",
    "story (a write)": "story It went well, I learned a lot",
    "board (50 people)": f"board {COHORT}",
}


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: not ready in {timeout}s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# --- the processes -------------------------------------------------------------------------------


def users(n: int) -> list[str]:
    return [f"U{i:04d}" for i in range(n)]


def start_fake(n_users: int) -> tuple[subprocess.Popen, str]:
    """The fake Slack Web API in its own process; returns (process, SLACK_API_URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.burst", "fake", str(n_users)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("http"):
        raise RuntimeError(f"fake Slack API did not start: {line!r}")
    return proc, line


def _serve_fake(n_users: int) -> None:
    from tests.fakes.slack_api import FakeSlackAPI

    fake = FakeSlackAPI().start()
    fake.add_team(TEAM, TOKEN)
    fake.add_user(TEAM, "UINS", "ines")
    for u in users(n_users):
        fake.add_user(TEAM, u, u.lower())
    print(fake.url, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin (or dies)
    fake.stop()


def seed(db_url: str, people: int) -> None:
    """One cohort of `people` with a started dare and some of everything, through the engine."""
    from bot.clock import SystemClock
    from bot.engine import Engine
    from bot.identity import Actor, WorkspaceRef
    from storage.db import open_database

    db = open_database(db_url)
    engine = Engine(db, SystemClock(), default_tz="UTC")
    ws = WorkspaceRef("slack", TEAM, "bench")
    say = lambda who, text: engine.handle_text(ws, Actor(who, who.lower()), text)  # noqa: E731
    say("UINS", f"/dare cohort create {COHORT} --goal 2")
    for u in users(people):
        say(u, f"/dare cohort join {COHORT}")
    say("UINS", f"/dare start {COHORT}")
    for i, u in enumerate(users(people)):
        if i % 5 == 4:
            continue  # some never accept
        say(u, "/dare accept")
        say(u, f'/dare contact "Person {i}" --decides')
        say(u, f'/dare outreach "Person {i}"')
        if i % 3 == 0:
            say(u, f'/dare reply "Person {i}" --meeting today')
            say(u, f'/dare log "Person {i}" --minutes 15 --outcome advice')
    db.dispose()


def start_darebot(db_url: str, api_url: str, *, workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = _env() | {
        "DAREBOT_DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api_url,
        "DAREBOT_TZ": "UTC",
    }
    for key in ("SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "DISCORD_TOKEN"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "adapters.cli", "run", "--platform", "slack", "--http", "--port", str(port)]
    if workers != 1:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(
        cmd, cwd=tempfile.gettempdir(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/healthz", proc)
    return proc, url


def start_bare(api_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.burst", "bare", str(port), api_url],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/healthz", proc)
    return proc, url


def _serve_bare(port: int, api_url: str) -> None:
    """The floor: bolt's AsyncApp on aiohttp, served like darebot's, whose listener only acks."""
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(
        signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=api_url), process_before_response=True
    )

    @app.command("/dare")
    async def dare(ack):  # type: ignore[no-untyped-def]
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    webapp = web.Application()
    webapp.router.add_post("/slack/events", events)
    webapp.router.add_get("/healthz", healthz)
    web.run_app(webapp, host="127.0.0.1", port=port, access_log=None, print=None)


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Burst:
    """One burst: when each command was acknowledged and when its answer arrived (the ack's own body,
    or the POST to its response_url), both from the moment the request was sent."""

    latencies: list[float]  # seconds to the HTTP ack, one per request
    wall: float  # seconds from the first request to the last ack
    errors: int  # non-200 answers or failed requests
    answers: list[float] = field(default_factory=list)  # seconds to the answer, one per answered command
    answer_wall: float = 0.0  # seconds from the first request to the last answer
    inline: int = 0  # answers carried by the ack itself
    missing: int = 0  # commands never answered (within the wait)
    duplicated: int = 0  # answers beyond the first for one command

    @property
    def p50(self) -> float:
        return _pct(self.latencies, 0.5)

    @property
    def p99(self) -> float:
        return _pct(self.latencies, 0.99)

    @property
    def max(self) -> float:
        return max(self.latencies) * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall

    @property
    def answer_p50(self) -> float:
        return _pct(self.answers, 0.5)

    @property
    def answer_p99(self) -> float:
        return _pct(self.answers, 0.99)

    @property
    def answer_throughput(self) -> float:
        """Commands answered per second: what the class experiences, whatever the ack did."""
        return len(self.answers) / self.answer_wall if self.answer_wall else 0.0


def _pct(xs: list[float], q: float) -> float:
    """The q-quantile in ms, nearest rank (p50 the median)."""
    if not xs:
        return float("nan")
    if q == 0.5:
        return statistics.median(xs) * 1000
    ys = sorted(xs)
    return ys[max(0, math.ceil(q * len(ys)) - 1)] * 1000


class Answers:
    """Where darebot's response_url POSTs land, in the load generator's own process and clock: the
    arrival time and count per command."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.count: Counter[int] = Counter()
        self.arrived = asyncio.Event()
        self.each: dict[int, asyncio.Event] = {}  # per command, for clients that wait for their answer
        self.url = ""
        self._runner: Any = None

    async def start(self) -> None:
        from aiohttp import web

        async def receive(request: web.Request) -> web.Response:
            at = time.perf_counter()
            await request.read()
            name = request.match_info["name"]
            i = int(name.removeprefix("cmd")) if name.startswith("cmd") else -1
            self.count[i] += 1
            self.first.setdefault(i, at)
            self.arrived.set()
            self.event(i).set()
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/response/{name}", receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/response"

    def event(self, i: int) -> asyncio.Event:
        return self.each.setdefault(i, asyncio.Event())

    async def wait(self, expected: set[int], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not expected <= self.first.keys() and time.perf_counter() < deadline:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - time.perf_counter()))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _burst(
    url: str,
    text: str,
    people: list[str],
    n: int,
    concurrency: int,
    *,
    answers: bool,
    answer_timeout: float,
    closed: bool = False,
) -> Burst:
    import aiohttp

    endpoint = url + "/slack/events"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    latencies: list[float] = []
    sent: dict[int, float] = {}
    inline: dict[int, float] = {}  # command -> when its ack (carrying the answer) arrived
    errors = 0
    got = Answers()
    await got.start()

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            form = {
                "token": "legacy",
                "team_id": TEAM,
                "team_domain": "bench",
                "channel_id": "C1",
                "channel_name": "general",
                "user_id": people[i % len(people)],
                "user_name": people[i % len(people)].lower(),
                "command": "/dare",
                "text": text,
                "api_app_id": "A0DAREBOT",
                "is_enterprise_install": "false",
                "response_url": f"{got.url}/cmd{i}",
                "trigger_id": f"{i}.1.trigger",
            }
            body = urllib.parse.urlencode(form)
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": signature(SECRET, ts, body),
            }
            t0 = sent[i] = time.perf_counter()
            try:
                async with session.post(endpoint, data=body.encode(), headers=headers) as resp:
                    content = await resp.read()
                    if resp.status != 200:
                        errors += 1
                    elif content.strip():
                        inline[i] = time.perf_counter()
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - t0)
            if closed and i not in inline:  # like a person: read the answer, then press Enter again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(got.event(i).wait(), answer_timeout)

    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as session:
            t0 = time.perf_counter()
            await asyncio.gather(*(client(session) for _ in range(concurrency)))
            wall = time.perf_counter() - t0
        result = Burst(latencies, wall, errors)
        if answers:
            await got.wait(set(sent) - set(inline), answer_timeout)
            await asyncio.sleep(0.2)  # a second answer to the same command would arrive about now
            done = {i: at for i, at in got.first.items() if i in sent}
            both = set(done) & set(inline)  # answered in the ack and again through response_url
            done.update(inline)
            result.answers = [done[i] - sent[i] for i in done]
            result.answer_wall = max(done.values()) - t0 if done else 0.0
            result.inline = len(inline)
            result.missing = len(set(sent) - set(done))
            result.duplicated = sum(c - 1 for i, c in got.count.items() if c > 1) + len(both)
        return result
    finally:
        await got.stop()


def burst(
    url: str,
    text: str,
    people: list[str],
    n: int = 500,
    concurrency: int = 20,
    *,
    answers: bool = False,
    answer_timeout: float = 120.0,
    closed: bool = False,
) -> Burst:
    """`n` signed `/dare text` at `concurrency`; with `answers`, also wait for every answer. With
    `closed`, each client sends its next command only once the last one's answer arrived (as 20
    people do), so at most `concurrency` commands are ever waiting; without it, on the ack."""
    return asyncio.run(
        _burst(
            url, text, people, n, concurrency, answers=answers or closed, answer_timeout=answer_timeout, closed=closed
        )
    )


# --- the profile ---------------------------------------------------------------------------------


def fold(raw: str, top: int = 12) -> str:
    """py-spy's raw (folded) samples -> the frames taking the time, as a Markdown table."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    if not total:
        return "(no samples)"
    ours = [(f, c) for f, c in inclusive.most_common() if any(p in f for p in ("bot/", "adapters/", "storage/"))]
    lines = [f"{total} samples (busy threads only).", "", "| darebot frame (inclusive) | share |", "|---|---:|"]
    lines += [f"| `{f}` | {100 * c / total:.0f}% |" for f, c in ours[:top]]
    lines += ["", "| leaf frame (self) | share |", "|---|---:|"]
    lines += [f"| `{f}` | {100 * c / total:.0f}% |" for f, c in own.most_common(top)]
    return "\n".join(lines)


def _frame(f: str) -> str:
    """`func (path/to/file.py:123)` -> `func (package/file.py)`: line numbers folded together."""
    name, _, where = f.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    if "site-packages" not in parts:  # darebot's own code, wherever the checkout lives
        ours = next((i for i, p in enumerate(parts) if p in ("bot", "adapters", "storage", "bench", "tests")), None)
        if ours is not None:
            parts = parts[ours:]
    for anchor in ("site-packages", "wt", "main"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            if anchor == "wt":
                parts = parts[1:]
            break
    short = "/".join(parts[-3:]) if len(parts) > 3 else "/".join(parts)
    if "/lib/python3" in path and "site-packages" not in path:
        short = "stdlib/" + Path(path).name
    return f"{name} ({short})"


def profile(pid: int, run_load) -> str:  # type: ignore[no-untyped-def]
    """Sample process `pid` (and its threads) with py-spy while `run_load()` runs."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        return "(py-spy not installed: pip install py-spy)"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.txt"
        proc = subprocess.Popen(
            [spy, "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", str(out), "--nonblocking", "-d", "600"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)  # py-spy attaches
        try:
            run_load()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
        if not out.exists():
            return f"(py-spy produced no profile: {err.strip()[-300:]})"
        return fold(out.read_text(encoding="utf-8", errors="replace"))


# --- the section ---------------------------------------------------------------------------------


def run(
    rep,
    *,
    n: int = 500,
    concurrency: int = 20,
    people: int = 50,
    do_profile: bool = True,
    workers_compare: bool = True,
    settle: float | None = None,
) -> None:  # type: ignore[no-untyped-def]
    """`settle`: seconds left after each darebot burst for its trailing work (App Home refreshes,
    at most one per person per 5 s) before the next measurement starts; 6 s, 0.5 s for the quick
    bench's tiny bursts."""
    from bench.report import Figure, md_table

    if settle is None:
        settle = 6.0 if n >= 100 else 0.5
    tmp = Path(tempfile.mkdtemp(prefix="darebot-burst-"))
    fake = dare = bare = None
    try:
        fake, api_url = start_fake(people)
        db_url = f"sqlite:///{tmp / 'burst.sqlite3'}"
        seed(db_url, people)
        bare, bare_url = start_bare(api_url)
        dare, dare_url = start_darebot(db_url, api_url)
        who = users(people)
        burst(bare_url, "help", who, n=min(n, 40), concurrency=concurrency)  # warm-up
        burst(dare_url, "help", who, n=min(n, 40), concurrency=concurrency, answers=True)
        time.sleep(settle)
        section = f"Slack burst: {n} signed commands at concurrency {concurrency}, cohort of {people}, SQLite"
        rows: list[tuple[str, ...]] = []
        for label, text in COMMANDS.items():
            floor = burst(bare_url, text, who, n, concurrency)
            got = burst(dare_url, text, who, n, concurrency, answers=True)
            rep.add(
                Figure(section, f"{label}: bare AsyncApp ack p99", floor.p99, "ms"),
                Figure(section, f"{label}: darebot ack p50", got.p50, "ms", floor=floor.p50),
                Figure(section, f"{label}: darebot ack p99", got.p99, "ms", floor=floor.p99),
                Figure(section, f"{label}: darebot ack p99 vs 3x floor", got.p99, "ms", limit=3 * floor.p99),
                Figure(section, f"{label}: darebot ack max", got.max, "ms", limit=1000.0),
                Figure(section, f"{label}: darebot answer p50", got.answer_p50, "ms"),
                Figure(section, f"{label}: darebot answer p99", got.answer_p99, "ms"),
                Figure(section, f"{label}: darebot answered/s", got.answer_throughput, "cmd/s", higher_is_better=True),
                Figure(
                    section, f"{label}: commands not answered exactly once", got.missing + got.duplicated, "", limit=0.0
                ),
            )
            time.sleep(settle)
            # The same commands from 20 people who each wait for their answer before the next one.
            paced = burst(dare_url, text, who, n, concurrency, closed=True)
            rep.add(
                Figure(section, f"{label}: answer p50, each client waiting for its answer", paced.answer_p50, "ms"),
                Figure(section, f"{label}: answer p99, each client waiting for its answer", paced.answer_p99, "ms"),
                Figure(
                    section,
                    f"{label}: answered/s, each client waiting for its answer",
                    paced.answer_throughput,
                    "cmd/s",
                    higher_is_better=True,
                ),
                Figure(
                    section,
                    f"{label}: commands not answered exactly once (clients waiting)",
                    paced.missing + paced.duplicated,
                    "",
                    limit=0.0,
                ),
            )
            if got.errors or floor.errors or paced.errors:
                rep.note(
                    section, f"{label}: {got.errors} + {paced.errors} darebot and {floor.errors} bare requests failed."
                )
            rows.append(
                (
                    label,
                    f"{floor.p99:.0f}",
                    f"{got.p50:.0f}",
                    f"{got.p99:.0f}",
                    f"{got.max:.0f}",
                    f"{got.p99 / floor.p99:.1f}x",
                    f"{got.answer_throughput:.0f}",
                    f"{got.inline}",
                    f"{got.missing}/{got.duplicated}",
                    f"{paced.answer_p50:.0f}",
                    f"{paced.answer_p99:.0f}",
                    f"{paced.answer_throughput:.0f}",
                )
            )
            print(
                f"  burst {label:<18} floor p99 {floor.p99:6.1f} ms | darebot ack p50 {got.p50:6.1f} p99 "
                f"{got.p99:7.1f} max {got.max:7.1f} ms, {got.answer_throughput:5.0f}/s answered ({got.inline} in "
                f"the ack), missing {got.missing}, twice {got.duplicated}, errors {got.errors} | waiting for "
                f"answers: p50 {paced.answer_p50:6.1f} p99 {paced.answer_p99:7.1f} ms, "
                f"{paced.answer_throughput:5.0f}/s",
                flush=True,
            )
            time.sleep(settle)
        rep.note(
            section,
            "Ack: the HTTP answer to the signed request (what Slack's 3 seconds bound); in the "
            "first burst each client sends its next command on the ack, so once acks come at once the "
            "commands queue behind the engine and only answered/s compares. Answer: when the person sees the "
            "reply, the ack itself when it carries it, else darebot's POST to the command's response_url "
            '(received by the benchmark). "Waiting": the same 500 commands again, each client sending its '
            "next one only once its answer arrived, as 20 people at their keyboards do. Times in ms from "
            "sending the request.\n\n"
            + md_table(
                (
                    "command",
                    "floor ack p99",
                    "ack p50",
                    "ack p99",
                    "ack max",
                    "ack p99 / floor",
                    "answered/s",
                    "in the ack",
                    "missing/twice",
                    "waiting: answer p50",
                    "waiting: answer p99",
                    "waiting: answered/s",
                ),
                rows,
            ),
        )
        if do_profile:

            def load() -> None:
                for text in (COMMANDS["progress"], COMMANDS["board (50 people)"], COMMANDS["story (a write)"]):
                    burst(dare_url, text, who, n, concurrency, answers=True)

            rep.note("Profile of darebot under the burst (py-spy, progress + board + story)", profile(dare.pid, load))
    finally:
        for p in (dare, bare):
            stop(p)
        if fake is not None and fake.stdin is not None:
            fake.stdin.close()
            stop(fake)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["fake"]:
        _serve_fake(int(sys.argv[2]))
    elif sys.argv[1:2] == ["bare"]:
        _serve_bare(int(sys.argv[2]), sys.argv[3])
    else:
        print("usage: python -m bench.burst fake N | bare PORT API_URL", file=sys.stderr)
        raise SystemExit(2)


def run_workers(
    rep, pg, *, n: int = 500, concurrency: int = 20, people: int = 50, counts: tuple[int, ...] = (1, 2)
) -> None:  # type: ignore[no-untyped-def]
    """Throughput of `darebot run --http --workers N` on PostgreSQL, for each N, side by side."""
    from bench.report import Figure

    fake = None
    try:
        fake, api_url = start_fake(people)
        db_url = pg.url("bench_workers")
        seed(db_url, people)
        who = users(people)
        section = f"Several processes: `--workers N` on PostgreSQL, {n} commands at concurrency {concurrency}"
        base: dict[str, float] = {}
        for workers in counts:
            proc, url = start_darebot(db_url, api_url, workers=workers)
            try:
                burst(url, "help", who, n=min(n, 40), concurrency=concurrency)  # warm-up
                for label in ("progress", "board (50 people)"):
                    got = burst(url, COMMANDS[label], who, n, concurrency, answers=True)
                    floor = base.setdefault(label, got.answer_throughput)
                    rep.add(
                        Figure(
                            section,
                            f"{label}: {workers} worker{'s' if workers > 1 else ''} answered/s",
                            got.answer_throughput,
                            "cmd/s",
                            floor=None if workers == counts[0] else floor,
                            higher_is_better=True,
                        ),
                        Figure(
                            section, f"{label}: {workers} worker{'s' if workers > 1 else ''} ack p99", got.p99, "ms"
                        ),
                        Figure(
                            section,
                            f"{label}: {workers} worker{'s' if workers > 1 else ''} answer p99",
                            got.answer_p99,
                            "ms",
                        ),
                    )
                    print(
                        f"  workers={workers} {label:<18} {got.answer_throughput:5.0f}/s answered, ack p50 "
                        f"{got.p50:6.1f} p99 {got.p99:7.1f} ms, answer p99 {got.answer_p99:7.1f} ms, "
                        f"errors {got.errors}",
                        flush=True,
                    )
            finally:
                stop(proc)
        rep.note(
            section,
            f"The ratio of the {counts[-1]}-worker throughput is to the 1-worker figure of the same "
            f"run. This machine has {os.cpu_count()} CPUs shared with the load generator, the fake Slack API "
            "and PostgreSQL, so a second worker can add at most what the first leaves idle.",
        )
    finally:
        if fake is not None and fake.stdin is not None:
            fake.stdin.close()
            stop(fake)
