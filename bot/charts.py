"""The report's picture: the cohort's funnel next to the 5% baseline, as PNG bytes."""

from __future__ import annotations

import io
from functools import lru_cache

from bot.coaching import BASELINE
from bot.stats import Funnel


@lru_cache(maxsize=128)
def funnel_chart(title: str, f: Funnel) -> bytes:
    """Drawing takes tens of milliseconds; the same numbers give the same picture, so it is kept."""
    import matplotlib

    matplotlib.use("Agg")  # no display anywhere darebot runs
    from matplotlib.figure import Figure

    labels = ["Accepted", "Reached out", "1+ interview", "Goal met"]
    values = [100 * f.pct(n, f.size) for n in (f.accepted, f.reached_out, f.interviewed, f.goal_met)]
    fig = Figure(figsize=(6, 3.2), dpi=100)
    ax = fig.add_subplot()
    bars = ax.barh(labels[::-1], values[::-1], color="#3b7dd8")
    ax.axvline(100 * BASELINE, color="#d8553b", linestyle="--", label=f"Baseline {round(100 * BASELINE)}%")
    for bar, v in zip(bars, values[::-1], strict=True):
        ax.text(min(v + 1, 92), bar.get_y() + bar.get_height() / 2, f"{v:.0f}%", va="center", fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of participants")
    # parse_math=False: a cohort name with "$" is text, not mathtext (which can fail to parse and lose the chart).
    ax.set_title(f"{title}: take-up vs baseline"[:80], fontsize=11, parse_math=False)
    ax.legend(loc="lower right", fontsize=8)
    # Fixed margins that fit these labels: tight_layout() would measure every text first (slow).
    fig.subplots_adjust(left=0.19, right=0.97, top=0.89, bottom=0.16)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
