#!/usr/bin/env bash
# Build the frozen app and the Linux installer, in one command (details: build/README.md).
#   build/build.sh                       the installer with the built-in demo model
#   build/build.sh --model DIR --presets DIR --profile profile.json --settings vendor.json --vendor NAME
#                                        a turnkey vendor installer
# The installer lands in build/out/. A second run with nothing changed reuses the frozen app.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
exec .venv/bin/python build/build.py "$@"
