"""Key rotation: DAREBOT_SECRET_KEY holds several keys (the first encrypts, all decrypt), and `darebot keys
rotate` re-encrypts every stored token with the first, so the old key can then be dropped."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from storage.db import open_database
from storage.slack_store import InstallationRecord, SlackInstallations

ROOT = Path(__file__).resolve().parents[1]
OLD, NEW, STRAY = "old-key-0123456789abcdef", "new-key-0123456789abcdef", "stray-key-0123456789abc"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def rotate(url: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "DAREBOT_"))}
    env.update(DAREBOT_DATABASE_URL=url, DAREBOT_SECRET_KEY=keys, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "keys", "rotate"], env=env, capture_output=True, text=True, timeout=120
    )


def test_rotating_keys_keeps_every_workspace_installed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/keys.sqlite3"
    db = open_database(url)
    old = SlackInstallations(db, OLD)
    old.save(
        InstallationRecord(
            team_id="T1", bot_token="xoxb-one", bot_refresh_token="xoxe-one", user_id="U1", user_token="xoxp-one"
        ),
        NOW,
    )
    old.save(InstallationRecord(team_id="T2", bot_token="xoxb-two"), NOW)
    SlackInstallations(db, STRAY).save(InstallationRecord(team_id="T3", bot_token="xoxb-three"), NOW)

    # Step 1: the new key in front; tokens written with the old one are still read.
    both = SlackInstallations(db, f"{NEW},{OLD}")
    assert both.find(None, "T1").bot_token == "xoxb-one"  # type: ignore[union-attr]
    # Step 2: re-encrypt. T3 was written with a key nobody has: reported, left alone.
    done = rotate(url, f"{NEW},{OLD}")
    assert done.returncode == 1, done.stderr
    assert "Re-encrypted 2 installation(s)" in done.stdout and "1 installation(s) could not be read" in done.stderr
    # Step 3: the old key can go.
    new_only = SlackInstallations(db, NEW)
    one = new_only.find(None, "T1")
    assert one is not None and (one.bot_token, one.bot_refresh_token, one.user_token) == (
        "xoxb-one",
        "xoxe-one",
        "xoxp-one",
    )
    assert new_only.find(None, "T2").bot_token == "xoxb-two"  # type: ignore[union-attr]
    assert SlackInstallations(db, OLD).find(None, "T2") is None  # unreadable with the old key alone
    db.dispose()


def test_rotate_without_a_key_is_a_configuration_error(tmp_path: Path) -> None:
    done = rotate(f"sqlite:///{tmp_path}/keys.sqlite3", "")
    assert done.returncode == 2 and "DAREBOT_SECRET_KEY is not set" in done.stderr
