#!/usr/bin/env bash
# Set everything up, then run the whole test suite: lint, types, and every test (slow ones
# excepted, see README). Timing-sensitive end-to-end tests (marker `serial`) and the release
# gate itself run after the parallel part, alone, so no other test competes for the CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy --strict plugin/secondconf
.venv/bin/pytest -n 2 -m "not slow and not serial" -p no:cacheprovider tests "$@"
.venv/bin/pytest -p no:xdist -m "serial and not slow" -p no:cacheprovider tests "$@"
exec .venv/bin/pytest -m second_confirmation -p no:cacheprovider suites "$@"
