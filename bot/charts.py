"""The instructor's pictures: the take-up funnel against the 5% baseline, and the weeks since the dare.

Drawn with matplotlib's Agg (PNG, at 2x for high-density screens) or SVG backend, at a fixed size so
chat clients lay them out predictably. Every text is placed inside the figure by the constrained
layout; the legend sits under the plot, never on the bars. The alt texts carry the same numbers.
"""

from __future__ import annotations

import io
import textwrap
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from bot.coaching import BASELINE
from bot.stats import Funnel

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bot.insight import Weekly

Format = Literal["png", "svg"]
WIDTH_IN, HEIGHT_IN = 6.4, 3.6
DPI = 200  # 2x the usual 100: 1280 x 720 pixels
PIXELS = (round(WIDTH_IN * DPI), round(HEIGHT_IN * DPI))
TITLE_MAX = 90
BLUE, RED, GREY, GREEN = "#3b6fc4", "#c4473b", "#555555", "#2f8a57"


def fit_title(text: str, width: int = 56) -> str:
    """A long cohort name cut with an ellipsis and wrapped onto at most two lines."""
    flat = " ".join(text.split())
    if len(flat) > TITLE_MAX:
        flat = flat[: TITLE_MAX - 1].rstrip() + "…"
    lines = textwrap.wrap(flat, width, break_long_words=True) or [""]
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), width, placeholder="…")]
    return "\n".join(lines)


def _figure() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")


def _save(fig: Figure, fmt: Format, salt: str = "") -> bytes:
    buf = io.BytesIO()
    if fmt == "svg":
        import matplotlib

        # No embedded date; ids salted so several SVGs can sit inline in one page without clashing.
        with matplotlib.rc_context({"svg.hashsalt": salt or "darebot"}):
            fig.savefig(buf, format="svg", metadata={"Date": None})
    else:
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def funnel_bars(f: Funnel, goal: int) -> list[tuple[str, int]]:
    """The funnel's steps, top to bottom, with their counts (the numbers the chart draws)."""
    return [
        ("Accepted the dare", f.accepted),
        ("Reached out", f.reached_out),
        ("Tried an interview", f.interviewed),
        (f"Met the goal ({goal})", f.goal_met),
    ]


def funnel_alt(name: str, f: Funnel, goal: int, day: date) -> str:
    steps = "; ".join(f"{label} {n} of {f.size} ({f.pct(n, f.size):.0%})" for label, n in funnel_bars(f, goal))
    return (
        f"Take-up funnel for {name} on {day}: {steps}. Baseline: {BASELINE:.0%} of people try an interview; "
        f"this cohort {f.take_up:.0%}."
    )


@lru_cache(maxsize=128)  # drawing takes tens of milliseconds; the same numbers give the same picture
def funnel_chart(
    title: str, f: Funnel, *, goal: int = 3, day: date | None = None, fmt: Format = "png", salt: str = ""
) -> bytes:
    """Horizontal bars with count and share; the 5% line crosses only the 'tried an interview' bar."""
    fig = _figure()
    ax = fig.add_subplot()
    bars = funnel_bars(f, goal)
    labels = [label for label, _ in bars][::-1]
    counts = [n for _, n in bars][::-1]
    shares = [100 * f.pct(n, f.size) for n in counts]
    rects = ax.barh(labels, shares, color=BLUE, height=0.6, label="Share of participants")
    for rect, n, share in zip(rects, counts, shares, strict=True):
        text = f"{share:.0f}% ({n} of {f.size})"
        y = rect.get_y() + rect.get_height() / 2
        if share > 62:  # room inside the bar: write it there, in white
            ax.text(share - 1.5, y, text, va="center", ha="right", fontsize=8.5, color="white")
        else:
            ax.text(share + 1.5, y, text, va="center", ha="left", fontsize=8.5, color="#222222")
    tried = rects[labels.index("Tried an interview")]
    y0, y1 = tried.get_y() - 0.12, tried.get_y() + tried.get_height() + 0.12
    ax.plot(
        [100 * BASELINE] * 2,
        [y0, y1],
        color=RED,
        linestyle="--",
        linewidth=1.6,
        label=f"Baseline: {BASELINE:.0%} try an interview",
    )
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of participants", fontsize=9)
    ax.tick_params(labelsize=8.5)
    ax.spines[["top", "right"]].set_visible(False)
    # parse_math=False: a cohort name with "$" is text, not mathtext (which can fail and lose the chart).
    ax.set_title(fit_title(f"{title}: take-up"), fontsize=10.5, loc="left", parse_math=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, fontsize=8, frameon=False)
    if day is not None:
        fig.text(0.995, 0.005, f"as of {day.isoformat()}", ha="right", va="bottom", fontsize=7.5, color=GREY)
    return _save(fig, fmt, salt)


def weekly_alt(name: str, w: Weekly) -> str:
    weeks = "; ".join(
        f"week {i + 1} (to {end}): {iv} interviews, {fa} first attempts"
        for i, (end, iv, fa) in enumerate(zip(w.week_ends, w.interviews, w.first_attempts, strict=True))
    )
    deadline = f" Deadline {w.deadline}." if w.deadline else ""
    return f"Weekly progress for {name} since the dare on {w.start}, cumulative: {weeks}.{deadline}"[:1000]


@lru_cache(maxsize=128)
def weekly_chart(title: str, w: Weekly, *, day: date | None = None, fmt: Format = "png", salt: str = "") -> bytes:
    """Cumulative interviews and first attempts at each week's end, the deadline marked."""
    fig = _figure()
    ax = fig.add_subplot()
    xs = list(w.week_ends)
    # The type: ignores below are matplotlib's stubs, not this code: its date converter takes dates where the
    # stubs allow only numbers, Locator.set_params declares no keywords, and matplotlib.dates is untyped.
    ax.plot(xs, w.first_attempts, marker="o", color=BLUE, linewidth=1.8, label="First attempts (cumulative)")  # type: ignore[arg-type]
    ax.plot(xs, w.interviews, marker="s", color=GREEN, linewidth=1.8, label="Interviews (cumulative)")  # type: ignore[arg-type]
    top = max([*w.first_attempts, *w.interviews, 1])
    for x, n in ((xs[-1], w.first_attempts[-1]), (xs[-1], w.interviews[-1])):
        ax.annotate(str(n), (x, n), textcoords="offset points", xytext=(6, 0), va="center", fontsize=8.5)
    right = xs[-1]
    if w.deadline is not None:
        ax.axvline(w.deadline, color=RED, linestyle="--", linewidth=1.4, label=f"Deadline {w.deadline.isoformat()}")  # type: ignore[arg-type]
        right = max(right, w.deadline)
    from datetime import timedelta

    ax.set_xlim(w.start, right + timedelta(days=max(2, (right - w.start).days // 12)))  # type: ignore[arg-type]
    ax.set_ylim(0, top * 1.2 + 0.5)
    ax.yaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    import matplotlib.dates as mdates

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))  # type: ignore[no-untyped-call]
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(fit_title(f"{title}: week by week"), fontsize=10.5, loc="left", parse_math=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3, fontsize=8, frameon=False)
    if day is not None:
        fig.text(0.995, 0.005, f"as of {day.isoformat()}", ha="right", va="bottom", fontsize=7.5, color=GREY)
    return _save(fig, fmt, salt)
