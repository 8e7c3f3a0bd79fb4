#!/usr/bin/env bash
# Installs Debian's Chromium for the console's browser test (test/console.e2e.test.ts drives
# /usr/bin/chromium through playwright-core). Idempotent: does nothing when Chromium is there.
#
# Environment:
#   RAGLINE_CHROMIUM   the browser the test uses (default /usr/bin/chromium)
set -euo pipefail

CHROMIUM=${RAGLINE_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  echo "[install-chromium] $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM") already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "[install-chromium] $CHROMIUM is missing; run as root (apt-get install -y chromium) or set RAGLINE_CHROMIUM" >&2
  exit 1
fi
echo "[install-chromium] installing Debian's chromium package"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
echo "[install-chromium] $("$CHROMIUM" --version)"
