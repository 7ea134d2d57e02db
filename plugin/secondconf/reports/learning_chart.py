"""The learning curve as a picture: the better arm's share per block of rounds.

A person judging "did the bandit learn" would rather see the share climb from 1/3 towards
1 than read ten numbers. One line per run (the mean over the seeds), the 1/3 a uniform
picker gets and the test's threshold as dashed lines. matplotlib is imported only when
the chart is drawn (Agg backend, no display).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from secondconf.reports.charts import single_axes_png

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def learning_curve_chart(
    curve: Sequence[float], bucket: int, threshold: float, arms: int, title: str
) -> bytes:
    """A PNG of ``curve`` (share per ``bucket`` rounds) with the uniform level and the
    threshold marked."""

    def draw(axes: Axes) -> None:
        rounds = [bucket * (n + 1) for n in range(len(curve))]
        axes.plot(rounds, list(curve), "o-", color="#1565c0", label="better arm's share")
        axes.axhline(1 / arms, color="#616161", linestyle=":", label=f"uniform (1/{arms})")
        axes.axhline(threshold, color="#c62828", linestyle="--", label="threshold (late half)")
        axes.set_ylim(0, 1)
        axes.set_xlim(0, max(rounds, default=bucket) + bucket / 2)
        axes.set_xlabel(f"round (each point: the {bucket} rounds ending there, mean over seeds)")
        axes.set_ylabel("share of picks")
        axes.set_title(title, fontsize=10)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right", fontsize=8)

    return single_axes_png(7.0, 3.6, draw)
