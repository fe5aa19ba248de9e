#!/usr/bin/env bash
# Set up everything (first time only) and start the assistant with the built-in demo model.
# Extra arguments go to `assistant serve`, e.g. ./start.sh --no-browser --port 7860
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/assistant serve "$@"
