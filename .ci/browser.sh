#!/usr/bin/env bash
# CI: make sure a headless Chromium is installed for the studio's browser tests.
#
# The tests drive Debian's `chromium` package with the Python `playwright` package
# (installed by the test extra) through `executable_path=/usr/bin/chromium`; they never
# run `playwright install`, which would download a browser from a CDN.
#
# Usage: .ci/browser.sh          (root, or a user with sudo; idempotent)
#        CHROMIUM=/path/to/chromium .ci/browser.sh   to only check another binary
set -euo pipefail

chromium_bin="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium_bin" ]; then
    "$chromium_bin" --headless --no-sandbox --version 2>/dev/null || true
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Fonts so that screenshots show text; recommends left out to keep the install small.
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
"$chromium_bin" --headless --no-sandbox --version 2>/dev/null || true
