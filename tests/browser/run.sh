#!/bin/sh
# Browser tests (headless chromium + playwright-core): built by the web UI work.
echo "browser: no browser tests yet"
