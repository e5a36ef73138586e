"""Figures, the one table `make bench` prints, and docs/benchmarks.md.

Every figure carries its floor (measured in the same run: the ratio says how far above it we are)
or its limit (a target: the ratio says how much of it we use, <= 1.0 meets it).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
GENERATED_START = "<!-- bench:start (written by `make bench`; edit outside these markers) -->"
GENERATED_END = "<!-- bench:end -->"


@dataclass
class Figure:
    section: str
    name: str
    value: float
    unit: str
    floor: float | None = None  # measured in the same run
    limit: float | None = None  # the target
    higher_is_better: bool = False  # rates: the limit is a minimum
    note: str = ""

    @property
    def ref(self) -> float | None:
        return self.floor if self.floor is not None else self.limit

    @property
    def ratio(self) -> float | None:
        ref = self.ref
        if ref is None or ref == 0:
            return None
        return self.value / ref

    @property
    def verdict(self) -> str:
        if self.limit is None or self.ratio is None:
            return ""
        ok = self.value >= self.limit if self.higher_is_better else self.value <= self.limit
        return "ok" if ok else "MISSED"

    def ref_text(self) -> str:
        if self.floor is not None:
            return f"floor {fmt(self.floor)} {self.unit}"
        if self.limit is not None:
            return f"{'>=' if self.higher_is_better else '<='} {fmt(self.limit)} {self.unit}"
        return ""


@dataclass
class Run:
    figures: list[Figure] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # section -> free text (profiles, tables)

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def note(self, section: str, text: str) -> None:
        self.notes.setdefault(section, []).append(text)


def fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ""
    with contextlib.suppress(OSError):
        one, five, fifteen = os.getloadavg()
        load = f" load average {one:.2f} {five:.2f} {fifteen:.2f} at the start"
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()};{load}"
    )


def md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A Markdown table: the first column left-aligned, the figures right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def table(figures: list[Figure]) -> list[tuple[str, ...]]:
    rows = [("section", "figure", "value", "reference", "ratio", "")]
    for f in figures:
        ratio = f.ratio
        rows.append(
            (
                f.section,
                f.name,
                f"{fmt(f.value)} {f.unit}",
                f.ref_text(),
                "" if ratio is None else f"{ratio:.2f}x",
                f.verdict,
            )
        )
    return rows


def text_table(figures: list[Figure]) -> str:
    rows = table(figures)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        out.append(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown(run: Run, started: _dt.datetime, args: str) -> str:
    rows = table(run.figures)
    lines = [
        GENERATED_START,
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}.",
        f"Arguments: `{args or '(none)'}`.",
        "",
        "| " + " | ".join(rows[0][:5]) + " | |",
        "|---|---|---:|---|---:|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    for section, texts in run.notes.items():
        lines += ["", f"### {section}", ""]
        for t in texts:
            lines += [t, ""]
    lines.append(GENERATED_END)
    return "\n".join(lines).rstrip() + "\n"


def write_doc(run: Run, started: _dt.datetime, args: str, path: Path = DOC) -> None:
    """Replace the generated part of docs/benchmarks.md, keeping the hand-written before/after."""
    generated = markdown(run, started, args)
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n## Latest run\n\n"
    if GENERATED_START in old and GENERATED_END in old:
        new = re.sub(
            re.escape(GENERATED_START) + ".*?" + re.escape(GENERATED_END) + "\n?", lambda _m: generated, old, flags=re.S
        )
    else:
        new = old.rstrip() + "\n\n" + generated
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")
