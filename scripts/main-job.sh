#!/usr/bin/env bash
# Set everything up, then run the release gate: pytest -m second_confirmation.
# With no --system-map the embedded default target is the one checked. Extra
# arguments go to pytest (e.g. --system-map PATH --env staging).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pytest -m second_confirmation -p no:cacheprovider "$@"
