#!/usr/bin/env bash
# Set everything up, then run the whole test suite: lint, types, and every test (slow ones
# excepted, see README). Timing-sensitive end-to-end tests (marker `serial`) and the release
# gate itself run after the parallel part, alone, so no other test competes for the CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy --strict plugin/secondconf
# loadgroup: each harness module's tests stay on one worker (one ecosystem start each, see
# tests/harness/conftest.py), and those long groups are handed out first.
.venv/bin/pytest -n 2 --dist loadgroup -m "not slow and not serial" -p no:cacheprovider tests "$@"
.venv/bin/pytest -p no:xdist -m "serial and not slow" -p no:cacheprovider tests "$@"
# The release gate itself, every check (README, "Timing on two shared cores").
exec .venv/bin/pytest -m second_confirmation -p no:cacheprovider suites "$@"
