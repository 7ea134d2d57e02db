#!/usr/bin/env bash
# A Chromium for the funnel journeys (Playwright drives it; see docs/browser.md).
# Order: $SECONDCONF_CHROMIUM if set; a system chromium on PATH; else install one:
# Debian/Ubuntu as root -> `apt-get install chromium` (Playwright's browser download is
# unreachable on machines without general internet); anywhere else -> Playwright's own
# download (`playwright install chromium`), the normal path for users elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SECONDCONF_CHROMIUM:-}" ] && [ -x "$SECONDCONF_CHROMIUM" ]; then exit 0; fi
for name in chromium chromium-browser; do
    command -v "$name" >/dev/null && exit 0
done
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian's chromium for the browser journeys" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    echo "setup: installing Playwright's chromium for the browser journeys" >&2
    .venv/bin/playwright install chromium
fi
