"""``assistant convert-model SRC OUT_F16 OUT_Q4 [--threads N]``: hidden, the child process of a conversion.

``assistant.engine.llamacpp.convert.convert_folder`` starts it (never a person): it runs llama.cpp's
own converter in this process (``runpy``, the converter's folder and its ``gguf-py`` on
``sys.path``) to write ``OUT_F16``, then llama.cpp's quantizer to write ``OUT_Q4`` (Q4_K_M). It
prints ``@@progress <fraction> <phase>`` lines; the converter's bar and the quantizer's tensor
lines go to its output too, and the parent reads them as progress. Exit 0 only when both files are
complete. Any failure is an exit code, never a half-kept file: the parent deletes the partial ones.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
import time
from pathlib import Path

from assistant.cli.output import say
from assistant.store.config import Config

log = logging.getLogger(__name__)


def add(sub: argparse._SubParsersAction) -> None:
    convert = sub.add_parser("convert-model")  # no help: not listed, the app starts it itself
    convert.add_argument("source", help="the safetensors model folder")
    convert.add_argument("f16", help="the f16 GGUF file to write")
    convert.add_argument("q4", help="the Q4_K_M GGUF file to write")
    convert.add_argument("--threads", type=int, default=0, help="quantizer threads (default: one a core)")


def run_converter(script: Path, source: Path, f16: Path) -> int:
    """llama.cpp's ``convert_hf_to_gguf.py --outtype f16`` in this process; its exit code."""
    import runpy

    for name in ("hf-to-gguf", "gguf", "gguf.gguf_writer", "gguf.vocab"):  # tensor lists stay out of the log
        logging.getLogger(name).setLevel(logging.WARNING)
    reasons = logging.StreamHandler(sys.stderr)  # the converter's own errors: for the parent to read
    reasons.setLevel(logging.ERROR)
    logging.getLogger("hf-to-gguf").addHandler(reasons)
    from assistant.engine.hf.remote_code import forbid_remote_code

    forbid_remote_code()  # the converter asks for tokenizers with trust_remote_code=True
    folder = script.parent
    # The converter needs its own gguf-py (newer than PyPI's gguf, which the app has imported already).
    for name in [n for n in sys.modules if n == "gguf" or n.startswith("gguf.")]:
        del sys.modules[name]
    for entry in (str(folder / "gguf-py"), str(folder)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    argv = sys.argv
    sys.argv = [str(script), "--outtype", "f16", "--outfile", str(f16), str(source)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = argv
    return 0


def run(config: Config, args: argparse.Namespace) -> int:
    from assistant.engine.llamacpp import convert

    source, f16, q4 = Path(args.source), Path(args.f16), Path(args.q4)
    start = time.perf_counter()
    say(f"{convert.PROGRESS_MARK} 0.01 convert")
    try:
        code = run_converter(convert.converter_dir() / convert.CONVERTER, source, f16)
    except OSError as exc:
        say("@@failed ENOSPC" if exc.errno == errno.ENOSPC else f"@@failed {type(exc).__name__}")
        return 3
    except Exception as exc:  # noqa: BLE001 - the parent turns this into plain words
        say(f"@@failed {type(exc).__name__}")
        return 3
    if code != 0 or not f16.is_file():
        say(f"@@failed converter exit {code}")
        return code or 3
    log.info("converted to f16 name=%s size_mb=%d in %.1fs", source.name, f16.stat().st_size // 2**20,
             time.perf_counter() - start)
    say(f"{convert.PROGRESS_MARK} 0.6 quantize")
    convert.quantize(f16, q4, args.threads or None)
    log.info("quantized name=%s size_mb=%d in %.1fs", source.name, q4.stat().st_size // 2**20,
             time.perf_counter() - start)
    say(f"{convert.PROGRESS_MARK} 1.0 done")
    return 0
