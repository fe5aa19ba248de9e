"""Where the files that ship with the app are: the resource base.

Inside a frozen build (PyInstaller) it is the bundle's folder (``sys._MEIPASS``); from source
it is the top of the project. Shipped presets, the vendor folder and ``build-info.json`` sit
under it. Functions that read shipped files take an optional ``base`` so tests and tools can
point them at another tree instead of patching this module.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2]  # assistant/store/resources.py -> the project


def is_frozen() -> bool:
    """True inside an installed (frozen) copy."""
    return bool(getattr(sys, "frozen", False))


def resource_base(base: Path | None = None) -> Path:
    """``base`` when given, else the frozen bundle's folder, else the source tree."""
    if base is not None:
        return Path(base)
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) if bundle else SOURCE_ROOT


def installed_file(dist_name: str, file_name: str) -> Path | None:
    """A file named ``file_name`` that the installed package ``dist_name`` shipped, found from its metadata without
    importing it (the demo models' packages), or None."""
    try:
        files = importlib.metadata.files(dist_name) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    return next((path for entry in files if entry.name == file_name and (path := Path(str(entry.locate()))).is_file()),
                None)
