"""A safetensors model folder converted once to GGUF Q4_K_M, for llama.cpp on the processor.

``convert_folder(folder, out_dir, progress)`` returns ``<out_dir>/<name>-<hash>.Q4_K_M.gguf``; the
hash covers the folder's ``config.json`` and its weight files' names, sizes and modification
times, so a changed folder is converted again and an unchanged one returns at once.

How: llama.cpp's own tools, in a child process. First its converter (``convert_hf_to_gguf.py
--outtype f16``), then its quantizer (``llama_model_quantize``, Q4_K_M, one thread per core).
Both run in ``assistant convert-model SRC F16 Q4`` (``assistant.cli.convert``), started as
``[python, -m, assistant, convert-model, ...]`` from source and ``[app, convert-model, ...]`` in a
frozen app: the same program, so a frozen build needs no separate Python, and a crash, a kill or
running out of memory in the converter (it reads every tensor, torch included) ends the child,
never the app. This module only spawns it (the engine layer never imports the command line).

Why the converter travels as files: it ships only in llama-cpp-python's source archive, not in
its wheel, and it is a script with its own packages (``conversion/``, ``gguf-py/``) that must stay
at the version of the llama.cpp it converts for. ``scripts/setup.sh`` copies it from that archive
into ``.venv/share/llama-convert/``; the freeze carries the same tree as ``llama_convert`` beside
the app (``resource_base()``); ``converter_dir()`` finds either.

Crash safety: both files are written under ``*.partial`` names in ``out_dir`` and the result is
renamed into place only when complete and readable (``check_gguf``); every ``*.partial`` there
(left by a conversion that crashed or was killed) is deleted before a new one starts, and on any
failure. Free disk space is checked first (the f16 file and the Q4_K_M file exist together for a
while). Logged: names, sizes and timings only.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from assistant.errors import ModelLoadError
from assistant.store.resources import is_frozen, resource_base

log = logging.getLogger(__name__)

QUANT = "Q4_K_M"
CONVERTER = "convert_hf_to_gguf.py"
Q4_BYTES_PER_PARAM = 0.75  # Q4_K_M is about 4.9 bits a weight; small layers fall back to 5 and 6 bits
MARGIN_BYTES = 256 * 2**20
STARTING = "Converting the model for this computer (first time only)"
QUANTIZING = "Making the model smaller for this computer (first time only)"
DONE = "The model is ready"
PROGRESS_MARK = "@@progress"  # lines the child prints: "@@progress <fraction> <phase>"
_WRITING = re.compile(r"Writing:\s+(\d+)%")  # the converter's own progress bar
_TENSOR = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")  # the quantizer's "[ 12/ 272] blk.0..." lines

Progress = Callable[[float, str], None]


def converter_dir() -> Path:
    """Where llama.cpp's converter is: beside a frozen app, or in the virtualenv from source."""
    if is_frozen():
        return resource_base() / "llama_convert"
    return Path(sys.prefix) / "share" / "llama-convert"


def cpu_threads() -> int:
    from assistant.engine.llamacpp.backend import cpu_threads as threads

    return threads()


def quantize(f16: Path, out: Path, threads: int | None = None) -> None:
    """llama.cpp's quantizer: ``f16`` to Q4_K_M at ``out`` (run in the child, ``assistant convert-model``)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = threads or cpu_threads()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    code = llama_cpp.llama_model_quantize(os.fsencode(f16), os.fsencode(out), params)
    if code != 0:
        raise ModelLoadError(f"llama.cpp could not make the model file {f16.name} smaller (code {code}).")


# -- the folder ------------------------------------------------------------------------------


def _safetensors_params(path: Path, folder: Path) -> int:
    """Parameters in one safetensors file, from its header; a cut-off or damaged file is refused."""
    damaged = ModelLoadError(
        f"The weights file {path.name} in the model folder {folder.name} is damaged or incomplete. "
        "Copy the model folder again from its source, then add it again."
    )
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length <= 0 or length > 100 * 2**20:
                raise damaged
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        raise damaged from None
    params, end = 0, 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            count = 1
            for dim in entry["shape"]:
                count *= int(dim)
            params += count
            end = max(end, int(entry["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise damaged from None
    if path.stat().st_size < 8 + length + end:
        raise damaged
    return params


def _weights(folder: Path) -> list[Path]:
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"The folder {folder.name} is not a model folder: it has no config.json. Choose the folder "
            "that holds config.json, the tokenizer files and the .safetensors weights."
        )
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise ModelLoadError(
            f"The model folder {folder.name} has no .safetensors weights. Only safetensors (or a GGUF "
            "file) can be used; ask your vendor for the model in one of those forms."
        )
    return weights


def target_path(folder: Path, out_dir: Path) -> Path:
    """``<out_dir>/<safe name>-<hash>.Q4_K_M.gguf`` for this folder as it is now."""
    folder = Path(folder)
    weights = _weights(folder)
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for weight in weights:
        stat = weight.stat()
        digest.update(f"\0{weight.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.resolve().name).strip("-.")[:80] or "model"
    return Path(out_dir) / f"{name}-{digest.hexdigest()[:12]}.{QUANT}.gguf"


def _clean(out_dir: Path) -> None:
    for leftover in out_dir.glob("*.partial"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            log.info("removed the leftover of an unfinished conversion: %s", leftover.name)


def _command(folder: Path, f16: Path, q4: Path) -> list[str]:
    program = [sys.executable] if is_frozen() else [sys.executable, "-m", "assistant"]
    return [*program, "convert-model", str(folder), str(f16), str(q4), "--threads", str(cpu_threads())]


# -- converting ------------------------------------------------------------------------------


def convert_folder(folder: Path, out_dir: Path, progress: Progress | None = None) -> Path:
    """The folder's GGUF Q4_K_M in ``out_dir``, converted now unless it exists already."""
    folder, out_dir = Path(folder), Path(out_dir)
    tell = progress or (lambda fraction, words: None)
    target = target_path(folder, out_dir)
    if target.is_file():
        return target
    weights = _weights(folder)
    params = sum(_safetensors_params(w, folder) for w in weights)
    script = converter_dir() / CONVERTER
    if not script.is_file():
        raise ModelLoadError(
            f"The model in {folder.name} cannot be converted: llama.cpp's converter is missing from this "
            "installation. Run the setup again (scripts/setup.sh), or ask your vendor for a GGUF file of the model."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    _clean(out_dir)
    need = params * 2 + int(params * Q4_BYTES_PER_PARAM) + MARGIN_BYTES
    free = shutil.disk_usage(out_dir).free
    if free < need:
        raise ModelLoadError(_no_room(folder, need, free))
    f16 = out_dir / f"{target.name}.f16.partial"
    q4 = out_dir / f"{target.name}.partial"
    log.info("model conversion start name=%s weights_mb=%d params_m=%d", folder.name,
             sum(w.stat().st_size for w in weights) // 2**20, params // 10**6)
    tell(0.0, STARTING)
    start = time.perf_counter()
    try:
        code, tail = _run_child(_command(folder, f16, q4), tell)
        if code != 0:
            raise _child_failed(folder, out_dir, code, tail, need)
        if not q4.is_file():
            raise _child_failed(folder, out_dir, 1, tail, need)
        from assistant.engine.gguf_file import check_gguf

        check_gguf(q4, require_supported=False)
        os.replace(q4, target)
    except BaseException:
        _clean(out_dir)
        raise
    finally:
        with contextlib.suppress(OSError):
            f16.unlink()
    log.info("model conversion done name=%s size_mb=%d in %.1fs", folder.name, target.stat().st_size // 2**20,
             time.perf_counter() - start)
    tell(1.0, DONE)
    return target


def _run_child(command: list[str], tell: Progress) -> tuple[int, list[str]]:
    """Run the conversion child, turning its output into progress; (exit code, its last lines)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    tail: collections.deque[str] = collections.deque(maxlen=40)  # read for the reason, never logged
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               text=True, encoding="utf-8", errors="replace", env=env)
    shown = 0.0
    try:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip()[:300])
            fraction, words = _progress_of(line)
            if fraction is not None and (fraction - shown >= 0.01 or fraction >= 1.0):
                shown = fraction
                tell(round(fraction, 3), words)
        return process.wait(), list(tail)
    finally:
        if process.poll() is None:  # the app stopped waiting (an error, Ctrl-C): the child goes too
            process.kill()
            process.wait()


def _progress_of(line: str) -> tuple[float | None, str]:
    """The overall fraction a line of the child's output stands for (converting 0-0.6, quantizing 0.6-0.98)."""
    if line.startswith(PROGRESS_MARK):
        phase = line.split()[-1]
        return (0.6, QUANTIZING) if phase == "quantize" else (0.01, STARTING) if phase == "convert" else (None, "")
    if (bar := _WRITING.search(line)) is not None:
        return 0.02 + 0.58 * int(bar.group(1)) / 100, STARTING
    if (tensor := _TENSOR.search(line)) is not None and int(tensor.group(2)) > 0:
        return 0.6 + 0.38 * int(tensor.group(1)) / int(tensor.group(2)), QUANTIZING
    return None, ""


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def _no_room(folder: Path, need: int, free: int) -> str:
    return (f"There is not enough free disk space to convert the model in {folder.name}: it needs about "
            f"{_gb(need)} while it works and {_gb(free)} is free. Free some disk space, then add the model again.")


def _child_failed(folder: Path, out_dir: Path, code: int, tail: list[str], need: int) -> ModelLoadError:
    text = "\n".join(tail)
    log.error("model conversion failed name=%s exit=%s", folder.name, code)
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(out_dir).free
        if "No space left" in text or "ENOSPC" in text or free < MARGIN_BYTES:
            return ModelLoadError(_no_room(folder, need, free))
    if code < 0:
        return ModelLoadError(
            f"The conversion of the model in {folder.name} was stopped before it finished (the computer may "
            "have run short of memory). Nothing was kept. Close other programs and add the model again."
        )
    if "not supported" in text or "NotImplementedError" in text:
        return ModelLoadError(
            f"The model in {folder.name} is of a kind llama.cpp's converter does not support. Use one of the "
            "supported models (Llama 3, Mistral, Phi-3, Gemma, Qwen 2.5), or ask your vendor for a GGUF file."
        )
    return ModelLoadError(
        f"The model in {folder.name} could not be converted for this computer: its files may be damaged or "
        "incomplete. Copy the model folder again from its source and add it again, or ask your vendor for a "
        "GGUF file of this model."
    )
