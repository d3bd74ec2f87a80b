#!/bin/sh
# Browser tests of the web UI: headless Debian chromium driven by
# playwright-core from npm (never a downloaded browser), against the real
# binary with a seeded catalog.  `make browser` runs it with TERRARIUM_BIN
# and BUILD set.  Screenshots go to docs/screenshots/ (SCREENSHOTS=dir to
# put them elsewhere, SCREENSHOTS=none to skip).  Exits non-zero on failure;
# the whole run is bounded by BROWSER_TIMEOUT seconds (default 180).
set -eu

cd "$(dirname "$0")/../.."
BIN=${TERRARIUM_BIN:-${BUILD:-build}/terrarium}
export TERRARIUM_BIN="$BIN"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM

if [ ! -x "$BIN" ]; then
	echo "browser: no binary at '$BIN' (run make first)" >&2
	exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
	echo "browser: no chromium at '$CHROMIUM' (scripts/deps.sh test installs Debian's chromium)" >&2
	exit 1
fi
if ! command -v node >/dev/null 2>&1; then
	echo "browser: node is not installed (scripts/deps.sh test installs it)" >&2
	exit 1
fi
if [ ! -f tests/browser/node_modules/playwright-core/package.json ]; then
	echo "browser: installing playwright-core into tests/browser/node_modules" >&2
	# No browser download: playwright-core has none, and this skips any hook.
	(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
		timeout 120 npm ci --no-audit --no-fund --ignore-scripts >&2)
fi

exec timeout -k 5 "${BROWSER_TIMEOUT:-180}" node tests/browser/ui.test.mjs
