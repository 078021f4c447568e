#!/usr/bin/env bash
# Install a headless-capable Chromium for the dashboard's browser test (tests/e2e/test_dashboard.py).
# Idempotent: does nothing when a chromium is already on PATH. Debian/Ubuntu (apt-get) only; needs
# root or sudo. Without it the browser test skips with a reason, it never fails for lack of a browser.
set -euo pipefail

for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    echo "install-browser: $(command -v "$name") is already installed"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get here; install Chromium yourself (the browser test skips without it)" >&2
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-browser: not root and no sudo; the browser test will skip" >&2
    exit 0
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
echo "install-browser: installed $(command -v chromium)"
