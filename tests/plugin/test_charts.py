"""Latency charts: each row's estimate and bounds, coloured by verdict, against the SLO;
written beside the SLO matrix and the baseline report, which point to them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from matplotlib import image
from secondconf.engine.results import CheckRecord, ResultsModel
from secondconf.engine.verdict import Outcome, Reason, Verdict
from secondconf.reports.baseline import BASELINE_CHART, BASELINE_RESULTS, write_baseline_report
from secondconf.reports.charts import COLOURS, ChartRow, distribution_chart, latency_chart
from secondconf.reports.liveness import SLO_MATRIX, SLO_MATRIX_CHART, write_liveness_reports

from tests.plugin.pytester_helpers import settings_under


def _p95(subject: str, source: str, estimate: float | None, outcome: Outcome) -> Verdict:
    return Verdict(
        check="p95_latency_ms",
        source=source,
        outcome=outcome,
        reason=Reason.BOUND_CLEARS if outcome is Outcome.PASS else Reason.BOUND_EXCEEDS,
        threshold=120.0,
        estimate=estimate,
        lower=None if estimate is None else estimate * 0.8,
        upper=None if estimate is None else estimate * 1.2,
        method="order statistics",
        alpha=0.05,
        n=400,
        k=0,
        subject=subject,
    )


def _pixels_of(png: bytes, hex_colour: str) -> int:
    pixels = image.imread(io.BytesIO(png))[..., :3]
    wanted = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int(np.sum(np.all(np.abs(pixels - wanted) < 0.02, axis=-1)))


def test_a_failing_row_is_drawn_in_the_fail_colour() -> None:
    first = ChartRow("A1 probe", _p95("A1", "probe", 12.0, Outcome.PASS))
    clean = latency_chart(
        [first, ChartRow("A2 probe", _p95("A2", "probe", 30.0, Outcome.PASS))], "t"
    )
    broken = latency_chart(
        [first, ChartRow("A2 probe", _p95("A2", "probe", 300.0, Outcome.FAIL))], "t"
    )
    assert clean.startswith(b"\x89PNG")
    fail_colour = COLOURS[Outcome.FAIL]
    # Same size; the legend shows every colour in both: the FAIL row adds its marker.
    assert _pixels_of(broken, fail_colour) > _pixels_of(clean, fail_colour) + 30
    assert _pixels_of(clean, COLOURS[Outcome.PASS]) > _pixels_of(broken, COLOURS[Outcome.PASS])


def test_a_row_without_data_is_drawn_not_dropped() -> None:
    rows = [ChartRow("A3 telemetry", _p95("A3", "telemetry", None, Outcome.INCONCLUSIVE))]
    assert latency_chart(rows, "no data").startswith(b"\x89PNG")


def _liveness_model() -> ResultsModel:
    marks = {"phase": 1, "app": "A1", "hitl_gate": None, "tags": ("liveness",)}
    verdicts = [
        _p95("A1", "probe", 10.0, Outcome.PASS),
        _p95("A1", "telemetry", 11.0, Outcome.PASS),
    ]
    record = CheckRecord(
        "suites/test_liveness.py::x[A1]", marks, outcome="passed", verdicts=verdicts
    )
    return ResultsModel(checks={record.nodeid: record})


def test_the_slo_matrix_links_its_chart_written_beside_it(tmp_path: Path) -> None:
    settings = settings_under(tmp_path)
    write_liveness_reports(_liveness_model(), settings)
    assert (settings.reports_dir / SLO_MATRIX_CHART).read_bytes().startswith(b"\x89PNG")
    assert f"]({SLO_MATRIX_CHART})" in (settings.reports_dir / SLO_MATRIX).read_text()


def test_the_baseline_report_names_its_chart_written_beside_it(tmp_path: Path) -> None:
    marks = {"phase": 2, "app": None, "hitl_gate": None, "tags": ("second_confirmation", "load")}
    error = _p95("A1 /health", "locust", 0.0, Outcome.PASS)
    error = Verdict(**{**error.__dict__, "check": "error_rate"})
    latency = _p95("A1 /health", "locust", 9.0, Outcome.PASS)
    record = CheckRecord("suites/b.py::t", marks, outcome="passed", verdicts=[error, latency])
    settings = settings_under(tmp_path)
    write_baseline_report(ResultsModel(checks={record.nodeid: record}), settings)
    document = json.loads((settings.reports_dir / BASELINE_RESULTS).read_text())
    assert document["chart"] == BASELINE_CHART
    assert (settings.reports_dir / BASELINE_CHART).read_bytes().startswith(b"\x89PNG")


def test_a_distribution_chart_draws_a_box_per_series_and_the_limit() -> None:
    short = distribution_chart({"b2c.landing": [0.2, 0.3]}, "t", "seconds")
    tall = distribution_chart(
        {"b2c.landing": [0.2, 0.3], "b2c.signup": [1.0], "b2c.checkout": [2.0]}, "t", "seconds"
    )
    assert image.imread(io.BytesIO(tall)).shape[0] > image.imread(io.BytesIO(short)).shape[0]
    with_limit = distribution_chart({"b2c.landing": [0.2]}, "t", "seconds", limit=60.0)
    assert _pixels_of(with_limit, COLOURS[Outcome.FAIL]) > 0  # the dashed limit line
    assert _pixels_of(short, COLOURS[Outcome.FAIL]) == 0
    assert distribution_chart({}, "t", "seconds").startswith(b"\x89PNG")  # "no samples"
