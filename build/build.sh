#!/usr/bin/env bash
# Build the frozen app and the Linux installer, in one command (details: build/README.md).
#   build/build.sh                       the installer with the built-in demo model
#   build/build.sh --model DIR --presets DIR --profile profile.json --settings vendor.json --vendor NAME
#                                        a turnkey vendor installer
#   build/build.sh --windows [same options]
#                                        the Windows installer, built here under Wine
# The installer lands in build/out/. A second run with nothing changed reuses the frozen app.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
if [[ "${1:-}" == "--windows" ]]; then
  shift
  exec .venv/bin/python build/windows/wine_build.py "$@"
fi
exec .venv/bin/python build/build.py "$@"
