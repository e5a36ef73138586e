"""The shape of DESIGN.md, enforced: dependencies point down only (adapters -> bot -> storage)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "bot": ("slack_bolt", "slack_sdk", "discord", "aiohttp", "adapters", "typer"),
    "storage": ("bot", "adapters", "slack_bolt", "discord"),
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_import_nothing_from_above(package: str) -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(imports_of(p) & set(FORBIDDEN[package]))
        for p in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_engine_reads_time_only_from_its_clock() -> None:
    # clock.py is the clock; scheduler.py hands APScheduler its first wall-clock run time (APScheduler
    # itself fires on wall time; every rule it triggers reads the injected clock).
    for path in (ROOT / "bot").rglob("*.py"):
        if path.name in ("clock.py", "scheduler.py"):
            continue
        text = path.read_text()
        assert "datetime.now(" not in text and "datetime.utcnow(" not in text and "time.time(" not in text, path


def test_apscheduler_lives_in_one_module() -> None:
    users = [str(p.relative_to(ROOT)) for p in (ROOT / "bot").rglob("*.py") if "apscheduler" in imports_of(p)]
    assert users == ["bot/scheduler.py"]
