#!/usr/bin/env bash
# Set everything up, then run the whole test suite: lint, types, and every test (slow ones excepted).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy --strict plugin/secondconf
exec .venv/bin/pytest -n 2 -m "not slow" "$@"
