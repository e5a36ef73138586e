"""`make bench` at tiny sizes, so its code paths cannot rot. Timings are printed, never asserted."""

from __future__ import annotations

import pytest

from bench.__main__ import main
from bench.burst import fold
from bench.report import Figure, Run, markdown, write_doc


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)
@pytest.mark.parametrize("sections", ["engine,sweep,campus", "burst,workers,delivery"])
def test_quick_bench_runs(sections: str, pg_server, capsys) -> None:  # noqa: ARG001 (PostgreSQL must be here)
    assert main(["--quick", "--no-write", "--only", sections]) == 0
    out = capsys.readouterr().out
    for section in sections.split(","):
        assert f"== {section}" in out
    assert "total" in out


def test_report_keeps_the_hand_written_part(tmp_path) -> None:
    import datetime as dt

    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nBefore and after, by hand.\n", encoding="utf-8")
    run = Run()
    run.add(
        Figure("s", "progress p99", 12.0, "ms", limit=15.0),
        Figure("s", "rate", 40.0, "DM/s", limit=45.0, higher_is_better=True),
    )
    when = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)
    write_doc(run, when, "--quick", doc)
    write_doc(run, when, "--quick", doc)  # rewritten in place, not appended
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\nBefore and after, by hand.\n")
    assert text.count("progress p99") == 1
    assert "| 0.80x | ok |" in text and "| 0.89x | MISSED |" in text
    assert "CPUs" in markdown(run, when, "")


def test_fold_ranks_darebot_frames_and_leaves() -> None:
    raw = (
        "run (/x/site-packages/aiohttp/web.py:10);handle_text (/srv/darebot/bot/engine.py:80);"
        "do_execute (/x/site-packages/sqlalchemy/engine/default.py:9) 30\n"
        "run (/x/site-packages/aiohttp/web.py:10);select (/usr/lib/python3.11/selectors.py:468) 10\n"
    )
    out = fold(raw)
    assert "40 samples" in out
    assert "| `handle_text (bot/engine.py)` | 75% |" in out
    assert "| `do_execute (sqlalchemy/engine/default.py)` | 75% |" in out
