#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/browser), once.
#
# The browser tests drive the system Chromium through Python Playwright; Playwright's own
# browser download is never used. Running this again when Chromium is present does nothing.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
    echo "chromium is already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "Installing chromium needs root (or sudo)." >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-liberation

if [[ ! -x "$CHROMIUM" ]]; then
    echo "apt-get finished but $CHROMIUM is still missing." >&2
    exit 1
fi
echo "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
