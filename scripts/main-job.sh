#!/usr/bin/env bash
# Set everything up, then run the release gate: pytest -m second_confirmation.
# With no --system-map the embedded default target is the one checked. Extra
# arguments go to pytest (e.g. --system-map PATH --env staging). Afterwards the gate's
# Allure results become one HTML file (offline); the exit status is the gate's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
status=0
.venv/bin/pytest -m second_confirmation -p no:cacheprovider "$@" || status=$?
if [ -d tests/perf/allure-results ]; then
    .venv/bin/secondconf-allure || echo "main job: no Allure HTML report (see the line above)" >&2
fi
if [ -f tests/perf/reports/deliverables.md ]; then
    echo "main job: the deliverables (tests/perf/reports/deliverables.md):"
    grep '^| ' tests/perf/reports/deliverables.md | tail -n +3 | cut -d'|' -f2-4
fi
if [ -f tests/perf/reports/allure-report.html ]; then
    echo "main job: Allure HTML report: tests/perf/reports/allure-report.html"
fi
echo "main job: reports in tests/perf/reports/, evidence in tests/perf/evidence/"
exit "$status"
