"""The drills' chart: per drill, its detection time, its recovery time against its limit,
and its containment bounds against theirs, side by side.

The report's table holds the same figures; the chart shows at a glance which drill was
slow to detect, which recovered late, and how close the other apps came to their SLO (a
drill whose verdicts are not all PASS says so after its name). The
containment panel plots each upper 95 % bound divided by its threshold (errors < 1 %,
slow probes < 5 %), so both share one axis whose limit is 1. matplotlib is imported here
only (Agg, no display), when the chart is drawn.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any, Final

from secondconf.checks.resiliency.drills import DrillResult

PASS_COLOUR: Final = "#2e7d32"
FAIL_COLOUR: Final = "#c62828"
NO_DATA: Final = "#616161"
SERIES: Final = (("error_rate", "errors", "o"), ("slow_fraction", "slow probes", "s"))


def _containment_ratio(figures: Mapping[str, Any], kind: str) -> float | None:
    """A containment verdict's upper bound over its threshold (None without one)."""
    for item in figures.get("containment") or ():
        upper, threshold = item.get("upper"), item.get("threshold")
        if kind in str(item.get("check")) and upper is not None and threshold:
            return float(upper) / float(threshold)
    return None


def _unpassed(result: DrillResult) -> str:
    """A label's mark for a drill whose verdicts are not all PASS (its figures can all
    look fine while, say, its confirmation window was INCONCLUSIVE)."""
    passed = bool(result.verdicts) and all(v.passed for v in result.verdicts)
    return "" if passed else " (not PASS)"


def drills_chart(results: Sequence[DrillResult], title: str) -> bytes:
    """A PNG of three panels sharing one row per drill (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = list(reversed(results))
    labels = [f"{r.rule_id} {r.app_id} {r.fault}{_unpassed(r)}" for r in rows]
    width, height = 13.0, max(3.0, 0.45 * len(rows) + 1.8)
    figure, (detect, recover, contain) = plt.subplots(
        1, 3, figsize=(width, height), dpi=100, sharey=True
    )
    # Fixed margins (inches over the figure's size; 8 pt labels are ~0.065 in a character):
    # a layout engine gives up, with a warning, on a panel that has no data to draw.
    label_in = 0.065 * max((len(label) for label in labels), default=0) + 0.25
    figure.subplots_adjust(
        left=label_in / width, right=0.98, wspace=0.25, bottom=0.6 / height, top=1 - 0.45 / height
    )
    worst = 1.0
    try:
        for y, result in enumerate(rows):
            figures = result.figures
            detection = figures.get("detection_s")
            if detection is None:
                detect.text(0, y, " not detected", va="center", color=FAIL_COLOUR, fontsize=8)
            else:
                detect.barh(y, detection, color=PASS_COLOUR, height=0.5)
            recovery, limit = figures.get("recovery_s"), figures.get("recovery_limit_s")
            if recovery is None:
                recover.text(0, y, " not recovered", va="center", color=FAIL_COLOUR, fontsize=8)
            else:
                late = limit is not None and recovery > limit
                recover.barh(y, recovery, color=FAIL_COLOUR if late else PASS_COLOUR, height=0.5)
            if limit is not None:
                recover.plot([limit], [y], marker="|", color="#212121", markersize=18)
            for kind, _label, marker in SERIES:
                ratio = _containment_ratio(figures, kind)
                if ratio is not None:
                    worst = max(worst, ratio)
                    colour = FAIL_COLOUR if ratio >= 1.0 else PASS_COLOUR
                    contain.plot([ratio], [y], marker=marker, color=colour, linestyle="none")
        detect.set_yticks(range(len(rows)), labels, fontsize=8)
        detect.set_xlabel("detection time (s) from the fault")
        recover.set_xlabel("recovery time (s); black tick: the drill's limit")
        contain.axvline(1.0, color="#212121", linestyle="--", linewidth=1)
        contain.set_xlabel("containment: upper bound / threshold")
        contain.plot([], [], "o", color=NO_DATA, label="errors (< 1 %)")
        contain.plot([], [], "s", color=NO_DATA, label="slow probes (< 5 %)")
        contain.legend(loc="best", fontsize=7)
        for axes in (detect, recover, contain):
            axes.set_xlim(left=0)
            axes.set_ylim(-0.6, len(rows) - 0.4)
            axes.grid(axis="x", alpha=0.3)
        contain.set_xlim(0, 1.15 * worst)
        figure.suptitle(title, fontsize=10)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
        return buffer.getvalue()
    finally:
        plt.close(figure)
