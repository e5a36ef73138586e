"""Golden transcripts: the README's demo and examples/cohort-demo.txt are real console runs.

Each is run through `darebot run` and compared with the text kept in the repository, so the docs
cannot drift from what darebot says. After an intended change of copy, rewrite them with
`make test PYTEST_ARGS="--update-golden -k golden"` and read the diff.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_console import ROOT, run_console

README = ROOT / "README.md"
DEMO = ROOT / "examples" / "cohort-demo.txt"
DEMO_TRANSCRIPT = ROOT / "examples" / "cohort-demo.transcript.txt"
DEMO_START = "2026-09-07T13:00:00+00:00"
# The README's block: <!-- golden: demo start=ISO --> then a ```text fence holding the console's output.
_BLOCK = re.compile(r"(<!-- golden: demo start=(\S+) -->\n```text\n)(.*?)(```)", re.S)


def _compare(expected: str, actual: str, where: str) -> None:
    if expected != actual:
        exp, act = expected.splitlines(), actual.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(exp, act, strict=False)) if a != b), min(len(exp), len(act)))
        pytest.fail(
            f"{where} drifted at line {first + 1}:\n  kept: {exp[first : first + 3]}\n  now:  "
            f"{act[first : first + 3]}\nRun with --update-golden to rewrite it, then read the diff."
        )


@pytest.mark.slow
def test_readme_demo_is_a_real_console_run(tmp_path: Path, update_golden: bool) -> None:
    text = README.read_text()
    m = _BLOCK.search(text)
    assert m is not None, "README.md has no golden demo block"
    script = "".join(line[2:] + "\n" for line in m.group(3).splitlines() if line.startswith("> "))
    done = run_console(tmp_path, script, "--start", m.group(2))
    assert done.returncode == 0, done.stderr
    if update_golden:
        README.write_text(text[: m.start(3)] + done.stdout + text[m.end(3) :])
        return
    _compare(m.group(3), done.stdout, "README.md's demo")


@pytest.mark.slow
def test_cohort_demo_transcript(tmp_path: Path, update_golden: bool) -> None:
    done = run_console(tmp_path, DEMO.read_text(), "--start", DEMO_START)
    assert done.returncode == 0, done.stderr
    if update_golden or not DEMO_TRANSCRIPT.exists():
        DEMO_TRANSCRIPT.write_text(done.stdout)
        return
    _compare(DEMO_TRANSCRIPT.read_text(), done.stdout, str(DEMO_TRANSCRIPT.relative_to(ROOT)))
