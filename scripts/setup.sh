#!/usr/bin/env bash
# Create .venv and install the project (editable, with dev tools) when pyproject.toml changed.
# Create .venv-locust (locust only, never importable by pytest) when its pins changed.
# Install Allure 2 (npm, runs on Java 17) into .allure for the HTML report, when npm exists.
# Make sure a Chromium exists for the funnel journeys (scripts/ensure-chromium.sh).
# Idempotent: a second run with nothing changed does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
    .venv/bin/python -m pip install --quiet -e ".[dev]" 2>&1 | grep -v "is ignored" || true
    .venv/bin/python -m pip check
    rm -f .venv/.installed-*
    touch "$stamp"
fi
locust_stamp=.venv-locust/.installed-$(sha256sum perf/requirements-locust.txt | cut -c1-16)
if [ ! -f "$locust_stamp" ]; then
    [ -x .venv-locust/bin/python ] || "$PYTHON" -m venv .venv-locust
    .venv-locust/bin/python -m pip install --quiet -r perf/requirements-locust.txt 2>&1 \
        | grep -v "is ignored" || true
    .venv-locust/bin/python -m pip check
    .venv-locust/bin/locust --version >/dev/null
    echo '*' >.venv-locust/.gitignore
    rm -f .venv-locust/.installed-*
    touch "$locust_stamp"
fi
bash scripts/ensure-chromium.sh
allure_package=allure-commandline@2.46.1  # keep equal to reports/allure_html.ALLURE_PACKAGE
if [ ! -f ".allure/.installed-$allure_package" ]; then
    if command -v npm >/dev/null && command -v java >/dev/null; then
        npm install --silent --no-audit --no-fund --prefix .allure "$allure_package" >/dev/null
        rm -f .allure/.installed-*
        touch ".allure/.installed-$allure_package"
    else
        echo "setup: npm or java missing: no Allure HTML report (results are still written)" >&2
    fi
fi
