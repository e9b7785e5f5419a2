#!/usr/bin/env bash
# Everything zoomtune needs on a fresh Debian machine: system packages, a virtual environment,
# PyTorch's CPU build, and zoomtune with its extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES="python3-venv dataset-fashion-mnist postgresql chromium"
if command -v apt-get >/dev/null 2>&1; then
    missing=$(for p in $SYSTEM_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
    if [ -n "$missing" ]; then
        sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
        echo "installing system packages: $missing"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null \
            || { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; }
    fi
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# The CPU build of PyTorch first: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,torch]"
