"""Every deliverable's writer, in the order the controller runs them at session end.

A new deliverable adds its writer here; the wiring iterates this tuple and never names a
report. Each writer reads the results model and the settings and writes atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from secondconf.engine.results import ResultsModel
from secondconf.reports.b2b_funnel import write_b2b_report
from secondconf.reports.baseline import write_baseline_report
from secondconf.reports.compliance import write_compliance_report
from secondconf.reports.deliverables import write_deliverables
from secondconf.reports.error_correction import write_error_correction_report
from secondconf.reports.funnels import write_b2c_reports
from secondconf.reports.idempotency import write_idempotency_report
from secondconf.reports.inventory import write_inventory_report
from secondconf.reports.liveness import write_liveness_reports
from secondconf.reports.monetization import write_monetization_reports
from secondconf.reports.resiliency import write_resiliency_report
from secondconf.reports.rl_signal_path import write_rl_signal_path_report
from secondconf.reports.run_results import write_run_results
from secondconf.settings import HarnessSettings

ReportWriter = Callable[[ResultsModel, HarnessSettings], None]

# A phase's writer goes here (it writes its deliverables when its checks ran).
PHASE_WRITERS: Final[tuple[ReportWriter, ...]] = (
    write_inventory_report,
    write_liveness_reports,
    write_baseline_report,
    write_idempotency_report,
    write_compliance_report,  # phase 3: compliance.md (contract §14)
    write_b2c_reports,  # phase 3: b2c_funnel_results.json, auth_trace_log.json
    write_b2b_report,  # phase 3: b2b_funnel_results.json
    write_monetization_reports,  # phase 4: billing_logic_verification.md, a8_data_lineage.md
    write_rl_signal_path_report,  # phase 6: rl_signal_path.md and its learning-curve chart
    write_error_correction_report,  # phase 6: error_correction_learning.md, a3_autonomy.json
    write_resiliency_report,  # phase 7: a3_resiliency_report.md (the drills)
)

WRITERS: Final[tuple[ReportWriter, ...]] = (
    *PHASE_WRITERS,
    write_deliverables,  # after the phases: fills in every deliverable they did not write
    write_run_results,  # last: its manifest lists every file the others wrote
)
