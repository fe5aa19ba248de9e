"""The direction of dependence: only assistant/ui imports gradio, only
assistant/backends/hf.py imports torch/transformers/bitsandbytes, and nothing
loads a model or parses arguments at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"
HEAVY = {"torch", "transformers", "bitsandbytes", "accelerate", "safetensors"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_ui_imports_gradio_and_only_hf_imports_torch():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        found = imports_of(path)
        if not rel.startswith("ui/"):
            assert not found & {"gradio", "gradio_client", "fastapi", "uvicorn"}, rel
        if rel != "backends/hf.py":
            assert not found & HEAVY, rel


def test_core_imports_without_gradio_or_torch():
    code = (
        "import sys, assistant.cli, assistant.app.services, assistant.core.documents.notes, "
        "assistant.core.documents.letters, assistant.core.documents.chat, assistant.engine.engine; "
        "bad = {'gradio', 'torch', 'transformers'} & set(sys.modules); print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
