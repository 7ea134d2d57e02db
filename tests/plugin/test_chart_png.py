"""Every single-panel chart is drawn by one helper (``single_axes_png``): a PNG without
matplotlib's Software tag, so the same chart is the same file on every run."""

from __future__ import annotations

from secondconf.reports.charts import distribution_chart
from secondconf.reports.learning_chart import learning_curve_chart


def test_a_chart_is_a_png_without_a_software_tag_and_the_same_bytes_each_time() -> None:
    drawn = [
        learning_curve_chart([0.3, 0.6, 0.8], 25, 0.5, 3, "learning"),
        distribution_chart({"A1": [1.0, 2.0, 40.0]}, "spread", "ms", 10.0),
    ]

    for png in drawn:
        assert png.startswith(b"\x89PNG")
        assert b"Software" not in png
    assert drawn == [
        learning_curve_chart([0.3, 0.6, 0.8], 25, 0.5, 3, "learning"),
        distribution_chart({"A1": [1.0, 2.0, 40.0]}, "spread", "ms", 10.0),
    ]
