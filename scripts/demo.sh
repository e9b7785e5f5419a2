#!/usr/bin/env bash
# Set up (see setup.sh) and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/zoomtune demo "$@"
