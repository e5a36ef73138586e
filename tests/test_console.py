"""The console adapter through its real entry point: `darebot run` reading a script on stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "cohort-demo.txt"


def run_console(tmp_path: Path, script: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAREBOT_DATABASE_URL": f"sqlite:///{tmp_path}/console.sqlite3", "DAREBOT_TZ": "UTC"}
    for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_TOKEN", "SLACK_CLIENT_ID"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "run", "--platform", "console", *extra],
        input=script,
        text=True,
        capture_output=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
        check=False,
    )


@pytest.mark.slow
def test_the_demo_script_runs_to_the_board_and_the_report(tmp_path: Path) -> None:
    done = run_console(tmp_path, DEMO.read_text(), "--start", "2026-09-07T13:00:00+00:00")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # The dare reaches every student by DM, in their own time zone.
    assert out.count("DM to @") > 40
    assert "[2026-09-07 08:00 America/Chicago] DM to @ana:" in out
    assert "Asia/Singapore] DM to @chen:" in out
    # Nudges come in the order they were sent.
    stamps = [line[1:17] for line in out.splitlines() if " DM to @" in line and line.startswith("[")]
    assert stamps  # (each stamp is local time, so order is checked per person below)
    ana = [line for line in out.splitlines() if "DM to @ana" in line]
    assert ana == sorted(ana)
    # The script ends with the board and the report, whose headline is take-up against the baseline.
    board_at, report_at = out.rindex("Careers101 leaderboard"), out.rindex("Careers101: take-up report")
    assert board_at < report_at
    assert "Take-up: 4 of 20 (20%) did at least one reverse interview, 4.0x the 5% baseline" in out[report_at:]
    assert (tmp_path / "darebot-files" / "careers101-take-up.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_speakers_waits_and_errors(tmp_path: Path) -> None:
    script = (
        "\n".join(
            [
                "@prof /dare cohort create Lab",
                "@ann /dare cohort join Lab",
                "/dare progress",  # still ann
                "/dare frobnicate",
                "/wait 2x",
                "hello",
                "@prof /dare start Lab",
                "/wait 30m",
            ]
        )
        + "\n"
    )
    done = run_console(tmp_path, script, "--start", "2026-09-07T13:00:00+00:00")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "darebot -> @ann:\nYour progress" in out
    assert "! 'frobnicate' isn't a /dare command" in out
    assert "! /wait takes a span like 3d, 12h, 30m, 1w or 3d15h." in out
    assert "! Lines start with /dare" in out
    assert "[2026-09-07 13:00 UTC] DM to @ann:" in out
    assert "(the clock is now 2026-09-07 13:30 UTC)" in out
    # The reply to /dare start is printed before the DM it caused.
    assert out.index("Dare issued to Lab") < out.index("DM to @ann")


def test_run_picks_the_console_without_tokens_and_survives_a_restart(tmp_path: Path) -> None:
    first = run_console(tmp_path, "@prof /dare cohort create Lab\n")
    assert first.returncode == 0 and "Cohort created" in first.stdout
    again = run_console(tmp_path, "@prof /dare cohort create Lab\n@prof /dare board Lab\n")
    assert "already exists" in again.stdout and "Lab leaderboard" in again.stdout


def test_a_second_run_resumes_the_clock_where_the_first_left_it(tmp_path: Path) -> None:
    first = run_console(
        tmp_path,
        "@prof /dare cohort create Lab\n@ann /dare cohort join Lab\n"
        "@ann /dare contact Ada\n/dare outreach Ada\n/wait 10d\n/dare progress\n",
    )
    assert first.returncode == 0, first.stderr
    again = run_console(tmp_path, "@ann /dare outreach Ada\n")
    assert "Follow-up recorded" in again.stdout, again.stdout


def test_the_instructors_view_on_the_console(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "@prof /dare cohort create Lab --goal 1",
            "@ann /dare cohort join Lab",
            "@bob /dare cohort join Lab",
            "@prof /dare start Lab",
            "@ann /dare accept",
            '@ann /dare contact "Ada Lovelace" --decides',
            '@ann /dare outreach "Ada Lovelace"',
            "/wait 8d",
            "@bob /dare report Lab",
            "@bob /dare cohort close Lab",
            "@bob /dare progress @ann",
            "@prof /dare progress @ann Lab",
            "@prof /dare report Lab",
            "@prof /dare board Lab --period week",
            "@prof /dare cohort create Next",
            "@prof /dare report Next --compare Lab",
            "@prof /dare cohort close Lab",
            "@prof /dare cohort reopen Lab",
            "@prof /dare cohort rename Lab Lab2",
            "@prof /dare cohort remove Lab2 @bob",
            "@ann /dare cohort leave Lab2",
            "@prof /dare dashboard",
        ]
    )
    done = run_console(tmp_path, script, "--start", "2026-09-07T13:00:00+00:00")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("Only instructors of Lab can do that.") == 2
    assert "Only instructors see someone else's progress" in out
    assert "ann: progress" in out and "Ada" not in out.split("ann: progress")[1].split("Lab: take-up report")[0]
    assert "Who needs a word (2)" in out and "bob: hasn't accepted the dare" in out and "[Word to bob]" in out
    assert "ann: waiting on a reply for 8 days" in out
    assert "last 7 days" in out and "Side by side" in out
    assert "Lab is closed" in out and "open again" in out and "now called Lab2" in out
    assert "no longer in Lab2" in out and "You've left Lab2" in out
    assert "The dashboard isn't switched on here" in out
