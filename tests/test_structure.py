"""The shape of the package, enforced.

* One folder a layer, in this order; a module imports only its own layer and the layers
  before it (and ``assistant.errors``), so nothing imports upward and nothing imports ``cli``:
  core < checks < export < store < security < engine < install < app < ops < web < cli.
  ``checks`` and ``export`` stand on ``core`` alone.
* No import cycle between modules (imports inside functions count too).
* Only ``engine/hf`` imports torch, transformers or bitsandbytes; only ``engine/llamacpp``
  imports llama_cpp; only ``engine/remote`` imports openai, boto3 or botocore; only
  ``checks/context`` imports medspacy or spacy; only ``engine/speech`` imports faster_whisper, ctranslate2 or av;
  only ``web`` imports gradio, fastapi, uvicorn or starlette.
* No module over 400 lines; nothing outside ``engine`` reaches into ``engine.backend``.
* Importing any module has no side effects: no thread, no file, no logging handler, no
  argument parsing.

The checks are plain functions over a source tree, so the last tests plant violations in a
small tree of their own and show that each rule fails when broken.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "assistant"
LAYERS = ["core", "checks", "export", "store", "security", "engine", "install", "app", "ops", "web", "cli"]
# Layers that may not use every earlier layer: checks and export stand on core alone.
ONLY = {"checks": {"core"}, "export": {"core"}, "core": set()}
SHARED = {"assistant", "assistant.errors"}  # the package's version and the exception tree: for everyone
HEAVY = {"torch", "transformers", "bitsandbytes", "accelerate", "safetensors", "torchao", "hqq"}
WEB = {"gradio", "gradio_client", "fastapi", "uvicorn", "starlette"}
LLAMA = {"llama_cpp"}
REMOTE = {"openai", "boto3", "botocore"}  # the model servers' SDKs: engine/remote only
NLP = {"medspacy", "spacy"}  # the findings reader: checks/context only
SPEECH = {"faster_whisper", "ctranslate2", "av"}  # dictation: engine/speech only
MAX_LINES = 400


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(package: Path) -> dict[str, Path]:
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def imports_of(path: Path, known: set[str], top: str) -> tuple[set[str], set[str]]:
    """(our modules imported, outside top-level packages imported); a ``from X import y`` counts
    the submodule ``X.y`` when it is one of ours."""
    ours: set[str] = set()
    outside: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] != top:
                outside.add(name.split(".")[0])
                continue
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                ours.add(name)
    return ours, outside


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def graph_of(package: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = modules_of(package)
    ours, outside = {}, {}
    for name, path in mods.items():
        ours[name], outside[name] = imports_of(path, set(mods), package.name)
        ours[name].discard(name)
    return ours, outside


def layer_problems(package: Path) -> list[str]:
    ours, _ = graph_of(package)
    problems = []
    for module, targets in ours.items():
        mine = layer_of(module)
        for target in sorted(targets):
            theirs = layer_of(target)
            if target in SHARED or target.startswith(f"{package.name}.errors"):
                continue
            if theirs == "cli" and mine != "cli":
                if module != f"{package.name}.__main__":
                    problems.append(f"{module} imports {target}: nothing imports cli")
                continue
            if mine is None:
                if module != f"{package.name}.__main__":
                    problems.append(f"{module} is outside the layers; put it in one of {LAYERS}")
                break
            if theirs is None:
                problems.append(f"{module} imports {target}, which is outside the layers")
            elif theirs != mine and (LAYERS.index(theirs) > LAYERS.index(mine) or
                                     (mine in ONLY and theirs not in ONLY[mine])):
                problems.append(f"{module} ({mine}) imports {target} ({theirs}): that is upward or not allowed")
    return problems


def cycles(package: Path) -> list[list[str]]:
    ours, _ = graph_of(package)
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(ours.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(ours):
        if node not in state:
            visit(node)
    return found


def library_problems(package: Path) -> list[str]:
    _, outside = graph_of(package)
    problems = []
    for module, names in outside.items():
        layer = layer_of(module)
        in_hf = module == f"{package.name}.engine.hf" or module.startswith(f"{package.name}.engine.hf.")
        in_llama = module == f"{package.name}.engine.llamacpp" or module.startswith(f"{package.name}.engine.llamacpp.")
        if names & HEAVY and not in_hf:
            problems.append(f"{module} imports {sorted(names & HEAVY)}: only engine/hf may")
        if names & LLAMA and not in_llama:
            problems.append(f"{module} imports {sorted(names & LLAMA)}: only engine/llamacpp may")
        in_remote = module == f"{package.name}.engine.remote" or module.startswith(f"{package.name}.engine.remote.")
        if names & REMOTE and not in_remote:
            problems.append(f"{module} imports {sorted(names & REMOTE)}: only engine/remote may")
        in_speech = module == f"{package.name}.engine.speech" or module.startswith(f"{package.name}.engine.speech.")
        if names & SPEECH and not in_speech:
            problems.append(f"{module} imports {sorted(names & SPEECH)}: only engine/speech may")
        if names & NLP and module != f"{package.name}.checks.context":
            problems.append(f"{module} imports {sorted(names & NLP)}: only checks/context may")
        if names & WEB and layer != "web":
            problems.append(f"{module} imports {sorted(names & WEB)}: only web may")
    return problems


def size_problems(package: Path) -> list[str]:
    return [f"{name}: {len(path.read_text(encoding='utf-8').splitlines())} lines (at most {MAX_LINES})"
            for name, path in modules_of(package).items()
            if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES]


# -- the real package ---------------------------------------------------------------------


def test_every_module_sits_in_a_layer_and_imports_only_downward():
    assert layer_problems(PACKAGE) == []


def test_no_import_cycle():
    assert cycles(PACKAGE) == []


def test_only_engine_hf_imports_torch_and_only_web_imports_gradio():
    assert library_problems(PACKAGE) == []


def test_no_module_over_400_lines():
    assert size_problems(PACKAGE) == []


def test_importing_any_module_has_no_side_effects(tmp_path):
    names = [n for n in modules_of(PACKAGE) if not n.endswith("__main__")]
    heavy_ones = ("assistant.web", "assistant.engine.hf", "assistant.engine.llamacpp")
    names.sort(key=lambda n: n.startswith(heavy_ones))  # light ones first
    code = textwrap.dedent(f"""
        import importlib, json, logging, os, sys, threading
        sys.argv = ["assistant", "--definitely-not-an-option"]
        home = {str(tmp_path / "home")!r}
        os.makedirs(home)
        os.environ["ASSISTANT_HOME"] = home
        handlers = list(logging.getLogger().handlers)
        threads = threading.active_count()
        bad = []
        heavy = {sorted(HEAVY | WEB | LLAMA)!r}
        for name in {names!r}:
            importlib.import_module(name)
            light = not name.startswith({heavy_ones!r})
            if light and (loaded := [h for h in heavy if h in sys.modules]):
                bad.append(f"{{name}} pulled in {{loaded}}")
                for h in loaded:
                    sys.modules.pop(h, None)
            if threading.active_count() != threads:
                bad.append(f"{{name}} started a thread")
                threads = threading.active_count()
            if os.listdir(home):
                bad.append(f"{{name}} wrote {{os.listdir(home)}}")
            if logging.getLogger().handlers != handlers:
                bad.append(f"{{name}} configured logging")
        print(json.dumps(bad))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def reach_through_problems(package: Path) -> list[str]:
    """Code outside engine/ that reaches through the engine into its backend (``engine.backend``)."""
    out = []
    for name, path in modules_of(package).items():
        if layer_of(name) == "engine":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "engine.backend" in line.replace("assistant.engine.backend", "") and not line.lstrip().startswith("#"):
                out.append(f"{name}:{number}: reaches into engine.backend; ask the Engine instead")
    return out


def test_nothing_outside_the_engine_reaches_into_its_backend():
    assert reach_through_problems(PACKAGE) == []


def test_core_imports_without_gradio_or_torch():
    code = (
        "import sys, assistant.cli, assistant.app.services, assistant.core.documents.notes, "
        "assistant.core.documents.letters, assistant.core.documents.chat, assistant.engine.engine; "
        "bad = {'gradio', 'torch', 'transformers'} & set(sys.modules); print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


# -- each rule fails when broken (planted violations in a tree of our own) --------------


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "assistant"
    for rel, text in {"__init__.py": "", "errors.py": "", **files}.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for folder in path.relative_to(package).parents:
            init = package / folder / "__init__.py"
            if not init.exists():
                init.write_text("")
    return package


def test_the_rules_catch_planted_violations(tmp_path):
    package = _plant(tmp_path, {
        "core/kinds.py": "from assistant.store import files\n",                    # upward
        "checks/a.py": "from assistant.engine.fake import FakeBackend\n",          # checks: core only
        "store/files.py": "def f():\n    from assistant.cli import main\n",        # nothing imports cli
        "engine/a.py": "import assistant.engine.b\nimport torch\n",                 # cycle; torch outside hf
        "engine/b.py": "from assistant.engine import a\n",
        "engine/hf/load.py": "import torch\n",                                      # allowed
        "app/big.py": "x = 1\n" * 401,                                              # too long
        "ops/page.py": "import gradio as gr\n",                                     # gradio outside web
        "app/run.py": "def f():\n    import llama_cpp\n",                          # llama.cpp outside its backend
        "security/cloud.py": "import boto3\n",                                      # a cloud SDK outside engine/remote
        "checks/meaning.py": "import medspacy\n",                                   # medspaCy outside checks/context
        "checks/context.py": "def f():\n    import spacy\n",                      # allowed
        "app/listen.py": "import faster_whisper\n",                                  # Whisper outside engine/speech
        "engine/speech/whisper.py": "import ctranslate2\n",                          # allowed
        "engine/remote/azure.py": "import openai\n",                                # allowed
        "loose.py": "from assistant.core import kinds\n",                           # outside the layers
        "web/ui.py": "import gradio\nfrom assistant.app import big\n",              # allowed
        "web/tab.py": "def f(services):\n    return services.engine.backend.count_tokens([])\n",
        "engine/fake.py": "", "cli/__init__.py": "def main():\n    pass\n",
    })
    layers = layer_problems(package)
    assert any("assistant.core.kinds (core) imports assistant.store.files" in p for p in layers)
    assert any("assistant.checks.a (checks) imports assistant.engine.fake" in p for p in layers)
    assert any("assistant.store.files imports assistant.cli" in p for p in layers)
    assert any("assistant.loose is outside the layers" in p for p in layers)
    assert not any("assistant.web.ui" in p for p in layers)
    assert [c for c in cycles(package) if "assistant.engine.a" in c and "assistant.engine.b" in c]
    libs = library_problems(package)
    assert "assistant.engine.a imports ['torch']: only engine/hf may" in libs
    assert "assistant.ops.page imports ['gradio']: only web may" in libs
    assert "assistant.app.run imports ['llama_cpp']: only engine/llamacpp may" in libs
    assert "assistant.security.cloud imports ['boto3']: only engine/remote may" in libs
    assert "assistant.checks.meaning imports ['medspacy']: only checks/context may" in libs
    assert not any("checks.context" in p for p in libs)
    assert "assistant.app.listen imports ['faster_whisper']: only engine/speech may" in libs
    assert not any("engine.speech" in p for p in libs)
    assert not any("engine.remote" in p for p in libs)
    assert not any("engine.hf" in p or "web.ui" in p for p in libs)
    assert size_problems(package) == ["assistant.app.big: 401 lines (at most 400)"]
    assert reach_through_problems(package) == ["assistant.web.tab:2: reaches into engine.backend; ask the Engine instead"]
