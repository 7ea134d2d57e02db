"""Latency charts for the reports: each row's p95 with its confidence bounds against the SLO.

Where a table of twenty p95 figures and bounds is hard to read, a chart shows at a glance
which row is near or over the line and how sure the verdict is: a point at the estimate,
a bar from the lower to the upper bound, coloured by the verdict, and the threshold as a
dashed line. matplotlib is imported here only (Agg, no display), when a chart is drawn.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from secondconf.engine.verdict import Outcome, Verdict

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLOURS: Final = {
    Outcome.PASS: "#2e7d32",
    Outcome.FAIL: "#c62828",
    Outcome.INCONCLUSIVE: "#ef6c00",
}


@dataclass(frozen=True)
class ChartRow:
    """One row of a chart: its label and the latency verdict it shows."""

    label: str
    verdict: Verdict


def latency_chart(rows: Sequence[ChartRow], title: str) -> bytes:
    """A PNG: per row, the estimate (ms) and its bounds, coloured by outcome, and the
    threshold; a row without an estimate is listed as 'no data'."""

    def draw(axes: Axes) -> None:
        from matplotlib.lines import Line2D

        thresholds = {row.verdict.threshold for row in rows}
        for y, row in enumerate(reversed(rows)):
            verdict = row.verdict
            colour = COLOURS.get(verdict.outcome, "#616161")
            if verdict.estimate is None:
                axes.text(0, y, " no data", va="center", color=colour, fontsize=8)
                continue
            low = verdict.lower if verdict.lower is not None else verdict.estimate
            high = verdict.upper if verdict.upper is not None else verdict.estimate
            axes.plot([low, high], [y, y], color=colour, linewidth=3, alpha=0.45)
            axes.plot([verdict.estimate], [y], "o", color=colour, markersize=5)
        for threshold in thresholds:
            axes.axvline(threshold, color="#212121", linestyle="--", linewidth=1)
        axes.set_yticks(range(len(rows)), [row.label for row in reversed(rows)], fontsize=8)
        axes.set_xlabel("latency (ms): estimate and confidence bounds; dashed: the SLO")
        axes.set_xlim(left=0)
        axes.set_title(title, fontsize=10)
        axes.grid(axis="x", alpha=0.3)
        legend = [
            Line2D([0], [0], marker="o", color=colour, label=outcome.value, linewidth=3)
            for outcome, colour in COLOURS.items()
        ]
        axes.legend(handles=legend, loc="lower right", fontsize=7)

    return single_axes_png(8.0, max(2.5, 0.32 * len(rows) + 1.4), draw)


def distribution_chart(
    series: Mapping[str, Sequence[float]], title: str, unit: str, limit: float | None = None
) -> bytes:
    """A PNG: one box per named series (median, quartiles, whiskers at 1.5 IQR, outliers
    as points), in the given order, and ``limit`` as a dashed line when there is one."""
    names = [name for name, values in series.items() if values]

    def draw(axes: Axes) -> None:
        if names:
            axes.boxplot(
                [list(series[name]) for name in reversed(names)],
                orientation="horizontal",
                tick_labels=[f"{name} (n={len(series[name])})" for name in reversed(names)],
                flierprops={"markersize": 3},
            )
        else:
            axes.text(0.5, 0.5, "no samples", ha="center", va="center", transform=axes.transAxes)
        if limit is not None:
            axes.axvline(limit, color="#c62828", linestyle="--", linewidth=1)
        axes.set_xlabel(f"{unit}" + ("" if limit is None else f"; dashed: the limit ({limit:g})"))
        axes.set_xlim(left=0)
        axes.set_title(title, fontsize=10)
        axes.tick_params(axis="y", labelsize=8)
        axes.grid(axis="x", alpha=0.3)

    return single_axes_png(8.0, max(2.5, 0.4 * len(names) + 1.4), draw)


def single_axes_png(width_in: float, height_in: float, draw: Callable[[Axes], None]) -> bytes:
    """A PNG of one figure with one set of axes, which ``draw`` fills (laid out tight)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(width_in, height_in), dpi=100)
    try:
        draw(axes)
        figure.tight_layout()
        return figure_png(figure)
    finally:
        plt.close(figure)


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, without matplotlib's version in the metadata: the same
    chart drawn by another matplotlib is the same file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
