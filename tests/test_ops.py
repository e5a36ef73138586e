"""Operations through the real entry point, in real processes: configuration mistakes end the start with
one line and exit code 2; SIGTERM/SIGINT stop every mode cleanly at any moment; /healthz and /metrics
tell the truth; migrations take turns under PostgreSQL's advisory lock."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "adapters.cli"]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "DAREBOT_"))}
    env.update({"DAREBOT_DATABASE_URL": f"sqlite:///{tmp_path}/ops.sqlite3", "PYTHONPATH": str(ROOT), **extra})
    return env


def darebot(tmp_path: Path, *args: str, stdin: str | None = "", **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI; `stdin=None` gives it /dev/null, as a container without a terminal has."""
    feed = {"stdin": subprocess.DEVNULL} if stdin is None else {"input": stdin}
    return subprocess.run(
        [*CLI, *args],
        **feed,
        text=True,
        capture_output=True,
        cwd=tmp_path,  # type: ignore[call-overload]
        env=clean_env(tmp_path, **env),
        timeout=120,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return 0, ""


class Proc:
    """A darebot process whose stderr is collected line by line as it runs."""

    def __init__(self, tmp_path: Path, *args: str, **env: str) -> None:
        self.p = subprocess.Popen(
            [*CLI, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=clean_env(tmp_path, **env),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.p.stderr is not None
        for line in self.p.stderr:
            self.lines.append(line)

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send `sig`; the exit code, which must come within `timeout` seconds."""
        self.p.send_signal(sig)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("darebot did not stop in time:\n" + "".join(self.lines[-30:])) from None

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.kill()


# -- configuration mistakes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DAREBOT_SECRET_KEY": "short"}, "DAREBOT_SECRET_KEY: the key is too short"),
        ({"DAREBOT_SECRET_KEY": "a-long-enough-secret-key,tiny"}, "DAREBOT_SECRET_KEY: key 2 of 2 is too short"),
        ({"DISCORD_GUILD_ID": "my-server"}, "DISCORD_GUILD_ID: 'my-server' is not a server id"),
        ({"DAREBOT_SWEEP_SECONDS": "abc"}, "DAREBOT_SWEEP_SECONDS: must be a number, not 'abc'"),
        ({"DAREBOT_SWEEP_SECONDS": "0"}, "DAREBOT_SWEEP_SECONDS: input should be greater than or equal to 1"),
        ({"DAREBOT_DATABASE_URL": "mysql://db/darebot"}, "uses 'mysql': darebot supports sqlite and postgresql"),
        ({"DAREBOT_DATABASE_URL": "postgresql+asyncpg://h/db"}, "uses the driver 'asyncpg'"),
        ({"DAREBOT_DATABASE_URL": "postgresql+psycopg://h/"}, "names no database"),
        ({"DAREBOT_DATABASE_URL": "not a url"}, "is not a database URL"),
        ({"DAREBOT_DATABASE_URL": "sqlite://darebot.sqlite3"}, "names a host"),
        ({"DAREBOT_DATABASE_URL": "sqlite:///data/darebot.sqlite3"}, "for an absolute path use four slashes"),
        ({"DAREBOT_TZ": "Europe/Atlantis"}, "DAREBOT_TZ: 'Europe/Atlantis' is not a time zone"),
        ({"DAREBOT_LOG_LEVEL": "chatty"}, "DAREBOT_LOG_LEVEL: 'chatty' is not a level"),
        ({"DAREBOT_LOG_FORMAT": "xml"}, "DAREBOT_LOG_FORMAT: input should be 'text' or 'json' (got 'xml')"),
        ({"SLACK_BOT_TOKEN": "xapp-swapped"}, "SLACK_BOT_TOKEN: a bot token starts with xoxb-"),
        ({"SLACK_APP_TOKEN": "xoxb-swapped"}, "SLACK_APP_TOKEN: an app-level token starts with xapp-"),
    ],
)
def test_each_setting_is_checked_with_a_one_line_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("SLACK_", "DISCORD_", "DAREBOT_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "data").exists()  # a misplaced SQLite path creates no folder


def test_good_settings_pass_and_postgres_urls_get_the_shipped_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAREBOT_DATABASE_URL", "postgres://u:p@db:5432/darebot")
    monkeypatch.setenv("DAREBOT_SECRET_KEY", "new-key-0123456789, old-key-0123456789")
    monkeypatch.setenv("DISCORD_GUILD_ID", " 123456789012345678 ")
    settings = load_settings(_env_file=None)
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/darebot"
    assert settings.secret_keys == ["new-key-0123456789", "old-key-0123456789"]
    assert settings.discord_guild_id == "123456789012345678"


@pytest.mark.slow
def test_mistakes_end_the_start_with_one_line_and_exit_2_before_anything_is_created(tmp_path: Path) -> None:
    cases = [
        (("run", "--platform", "console"), {"DAREBOT_SWEEP_SECONDS": "abc"}, "DAREBOT_SWEEP_SECONDS"),
        (("run", "--platform", "console", "--start", "notadate"), {}, "--start: 'notadate' is not a date"),
        (("run",), {"stdin": None}, "no platform configured: set SLACK_BOT_TOKEN"),  # no terminal, no script
        (("run", "--platform", "slack"), {"SLACK_BOT_TOKEN": "xoxb-1"}, "Socket Mode needs SLACK_APP_TOKEN"),
        (("run", "--platform", "discord"), {}, "DISCORD_TOKEN is not set"),
    ]
    for args, env, expected in cases:
        done = darebot(tmp_path, *args, **env)  # type: ignore[arg-type]
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
        assert done.stdout == ""
    assert not list(tmp_path.iterdir())  # no database file was created by any of them


def test_a_piped_script_runs_the_console_without_asking(tmp_path: Path) -> None:
    done = darebot(tmp_path, "run", stdin="@prof /dare cohort create Lab\n")
    assert done.returncode == 0, done.stderr
    assert "Cohort created" in done.stdout


def test_version(tmp_path: Path) -> None:
    done = darebot(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.startswith("darebot ") and done.stdout.strip() != "darebot"


@pytest.mark.slow
def test_a_token_slack_refuses_ends_the_start(tmp_path: Path) -> None:
    from tests.fakes.slack_api import FakeSlackAPI

    with FakeSlackAPI() as fake:
        fake.add_team("T1", "xoxb-good")
        fake.app_tokens.add("xapp-good")
        bad_bot = darebot(
            tmp_path,
            "run",
            "--platform",
            "slack",
            SLACK_API_URL=fake.url,
            SLACK_BOT_TOKEN="xoxb-typo",
            SLACK_APP_TOKEN="xapp-good",
        )
        bad_app = darebot(
            tmp_path,
            "run",
            "--platform",
            "slack",
            SLACK_API_URL=fake.url,
            SLACK_BOT_TOKEN="xoxb-good",
            SLACK_APP_TOKEN="xapp-typo",
        )
    assert bad_bot.returncode == 2 and "SLACK_BOT_TOKEN was refused by Slack (invalid_auth)" in bad_bot.stderr
    assert bad_app.returncode == 2 and "SLACK_APP_TOKEN was refused by Slack (invalid_auth)" in bad_app.stderr
    assert len(bad_bot.stderr.strip().splitlines()) == 1, bad_bot.stderr


@pytest.mark.slow
def test_a_database_that_never_answers_ends_the_start_after_the_allowed_wait(tmp_path: Path) -> None:
    started = time.monotonic()
    done = darebot(
        tmp_path,
        "run",
        "--platform",
        "console",
        DAREBOT_DATABASE_URL=f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/x",
        DAREBOT_DB_CONNECT_SECONDS="2",
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("darebot: the database did not answer within 2 s")
    assert "retrying in" in done.stderr  # it did retry before giving up
    assert time.monotonic() - started < 60


# -- stopping ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_slack_http_mode_serves_health_and_metrics_and_stops_on_sigterm(tmp_path: Path, procs: list[Proc]) -> None:
    from tests.fakes.slack_api import FakeSlackAPI

    with FakeSlackAPI() as fake:
        fake.add_team("T1", "xoxb-good")
        port = free_port()
        proc = Proc(
            tmp_path,
            "run",
            "--platform",
            "slack",
            "--http",
            "--port",
            str(port),
            SLACK_API_URL=fake.url,
            SLACK_BOT_TOKEN="xoxb-good",
            SLACK_SIGNING_SECRET="s" * 32,
        )
        procs.append(proc)
        wait_until(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, what="/healthz")
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        assert json.loads(body) == {
            "platform": "slack",
            "database": "ok",
            "connected": True,
            "ok": True,
            "held_workspaces": [],
        }
        status, metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "darebot_outbox_pending 0.0" in metrics and "darebot_sweep_seconds_count" in metrics
        assert fake.calls_to("auth.test")  # the token was checked at start
        assert proc.stop(signal.SIGTERM) == 0
    assert not proc.saw("Traceback")


@pytest.mark.slow
def test_socket_mode_against_a_refusing_slack_reports_unhealthy_and_stops_on_sigterm(
    tmp_path: Path, procs: list[Proc]
) -> None:
    refusing = free_port()  # nothing listens there: every connection is refused
    health = free_port()
    proc = Proc(
        tmp_path,
        "run",
        "--platform",
        "slack",
        "--health-port",
        str(health),
        SLACK_API_URL=f"http://127.0.0.1:{refusing}/api/",
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_APP_TOKEN="xapp-1",
    )
    procs.append(proc)
    wait_until(lambda: proc.saw("Failed to connect"), what="a failed connection attempt")
    status, body = get(f"http://127.0.0.1:{health}/healthz")
    assert status == 503 and json.loads(body)["connected"] is False and json.loads(body)["database"] == "ok"
    assert proc.stop(signal.SIGTERM) == 0
    assert not proc.saw("Traceback")


@pytest.mark.slow
def test_socket_mode_stops_on_sigint_too(tmp_path: Path, procs: list[Proc]) -> None:
    proc = Proc(
        tmp_path,
        "run",
        "--platform",
        "slack",
        SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_APP_TOKEN="xapp-1",
    )
    procs.append(proc)
    wait_until(lambda: proc.saw("Failed to connect"), what="a failed connection attempt")
    assert proc.stop(signal.SIGINT) == 0


@pytest.mark.slow
def test_discord_mode_connects_then_stops_on_sigterm_and_a_refused_token_is_exit_2(tmp_path: Path) -> None:
    from tests.fakes.discord_server import FakeDiscord

    async def scenario() -> None:
        fake = await FakeDiscord().start()
        fake.add_guild("Bootcamp", [fake.add_user("ann")])
        env = clean_env(tmp_path, DISCORD_TOKEN=fake.token, DISCORD_API_URL=fake.api_url)
        health = free_port()
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            "run",
            "--platform",
            "discord",
            "--health-port",
            str(health),
            cwd=tmp_path,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await fake.wait_identified(timeout=30)
            for _ in range(300):
                status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{health}/healthz")
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert json.loads(body)["connected"] is True
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
            err = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
            assert "Traceback" not in err
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        bad = await asyncio.create_subprocess_exec(
            *CLI,
            "run",
            "--platform",
            "discord",
            cwd=tmp_path,
            env={**env, "DISCORD_TOKEN": "wrong"},
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(bad.communicate(), 60)
        assert bad.returncode == 2 and "DISCORD_TOKEN was refused by Discord" in err.decode(), err.decode()
        assert len(err.decode().strip().splitlines()) == 1
        await fake.close()

    asyncio.run(scenario())


@pytest.mark.slow
def test_the_console_serves_metrics_and_stops_on_sigterm_while_waiting_for_input(
    tmp_path: Path, procs: list[Proc]
) -> None:
    health = free_port()
    proc = Proc(tmp_path, "run", "--platform", "console", "--health-port", str(health))
    procs.append(proc)
    assert proc.p.stdin is not None
    proc.p.stdin.write("@prof /dare cohort create Lab\n@ann /dare frobnicate\n")
    proc.p.stdin.flush()

    def counted() -> bool:
        status, text = get(f"http://127.0.0.1:{health}/metrics")
        return (
            status == 200
            and 'darebot_commands_total{command="cohort create",outcome="ok"} 1.0' in text
            and 'darebot_commands_total{command="unparsed",outcome="error"} 1.0' in text
        )

    wait_until(counted, what="both lines in /metrics")
    _, text = get(f"http://127.0.0.1:{health}/metrics")
    assert 'darebot_command_seconds_count{command="cohort create"} 1.0' in text
    status, body = get(f"http://127.0.0.1:{health}/healthz")
    assert status == 200 and json.loads(body)["ok"] is True
    assert proc.stop(signal.SIGTERM) == 0


# -- health, logs ----------------------------------------------------------------------------------------


def test_healthz_says_503_when_the_database_is_down() -> None:
    from adapters.health import HealthServer, Probe
    from storage.db import Database

    down = Database(f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/x?connect_timeout=2")
    server = HealthServer(Probe(down, "discord", lambda: True), 0, "127.0.0.1").start()
    try:
        status, body = get(f"http://127.0.0.1:{server.bound}/healthz")
    finally:
        server.stop()
        down.dispose()
    assert status == 503
    report = json.loads(body)
    assert report["ok"] is False and report["connected"] is True and report["database"].startswith("error")


def test_json_logs_are_one_object_a_line_and_library_chatter_is_quiet() -> None:
    import logging

    from adapters.observability import setup_logging

    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    # Earlier tests on this worker may have left a darebot logger raised or disabled (a configuration
    # loaded from a file, say): this test is about the formatter and the library levels, so start clean.
    for name in ("darebot", "darebot.test"):
        logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger(name).disabled = False
    try:
        setup_logging("INFO", "json", stream=out)
        logging.getLogger("darebot.test").info("hello %s", "there", extra={"team": "T1"})
        logging.getLogger("apscheduler.scheduler").info("Running job every minute")
        logging.getLogger("alembic.runtime.plugins").info("setup plugin")
        logging.getLogger("apscheduler.scheduler").warning("job missed")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("darebot.test").exception("failed")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [entry["message"] for entry in lines] == ["hello there", "job missed", "failed"]
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "darebot.test" and lines[0]["team"] == "T1"
    assert lines[0]["time"].endswith("+00:00")
    assert "RuntimeError: boom" in lines[2]["exc"]


# -- migrations ------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
def test_two_processes_migrate_one_fresh_postgres_database_together(tmp_path: Path, pg_url: str) -> None:
    from sqlalchemy import create_engine, text

    env = clean_env(tmp_path, DAREBOT_DATABASE_URL=pg_url)
    procs = [
        subprocess.Popen(
            [*CLI, "db", "upgrade"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    assert len(versions) == 1
    current = subprocess.run([*CLI, "db", "current"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert current.returncode == 0 and versions[0] in current.stdout
    history = subprocess.run([*CLI, "db", "history"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert history.returncode == 0 and versions[0] in history.stdout


def test_alembic_ini_at_the_root_drives_alembic_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/alembic.sqlite3"
    env = clean_env(tmp_path, DAREBOT_DATABASE_URL=url)
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "alembic.sqlite3") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()
        assert conn.execute("SELECT count(*) FROM nudge").fetchone() == (0,)
