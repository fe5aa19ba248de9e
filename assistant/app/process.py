"""Process helpers shared by the commands: the app's own temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path


def empty_temp(folder: Path) -> None:
    """The app's own temporary folder (Gradio's uploads and downloads) is emptied at start and exit."""
    if folder.is_dir():
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
