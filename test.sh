#!/usr/bin/env bash
# Set up everything the tests need (first time only) and run the whole test suite.
# Extra arguments go to pytest, e.g. ./test.sh -m "not slow"
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --dev
exec .venv/bin/python -m pytest "$@"
