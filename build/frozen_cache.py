"""The frozen app kept outside the clone, keyed by build.py's ``source_key``, so a fresh clone (CI's,
or a second checkout) reuses a freeze of the same sources and packages instead of running
PyInstaller again (about 6 minutes on 2 cores).

The copy lives in ``$ASSISTANT_BUILD_CACHE/frozen-<platform>/<key>/`` (default
``~/.cache/practice-assistant``, as for the Windows build). Files are hard-linked where the disk
allows it, so keeping and restoring cost neither time nor space; only the newest key is kept.
A copy is written under a temporary name and renamed when whole, so a build stopped half-way
never leaves a partial app to be reused.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(os.environ.get("ASSISTANT_BUILD_CACHE")  # every build cache (build/windows keeps its own under it)
            or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "practice-assistant")
CACHE = ROOT / f"frozen-{sys.platform}"


def link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _copy(source: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, copy_function=link_or_copy, symlinks=True)


def kept(key: str, name: str) -> Path | None:
    """The kept bundle for ``key``, or None."""
    folder = CACHE / key / name
    return folder if folder.is_dir() else None


def restore(key: str, bundle: Path) -> bool:
    """Put the kept bundle for ``key`` at ``bundle``; False when there is none (or it cannot be read)."""
    source = kept(key, bundle.name)
    if source is None:
        return False
    try:
        _copy(source, bundle)
    except OSError:
        shutil.rmtree(bundle, ignore_errors=True)
        return False
    return True


def keep(key: str, bundle: Path) -> bool:
    """Keep ``bundle`` as the one for ``key``, replacing older ones. A failure (a full disk) only
    costs the next clone a freeze, so it does not fail the build: False."""
    partial = CACHE / f".{key}.partial"
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        _copy(bundle, partial / bundle.name)
        for old in CACHE.iterdir():
            if old.name != partial.name:
                shutil.rmtree(old, ignore_errors=True)
        partial.rename(CACHE / key)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        return False
    return True
