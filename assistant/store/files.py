"""Writing files so that a crash, a kill or a full disk never leaves half of one.

``atomic_write`` is the one way the assistant replaces a file in its data
folder (settings, profile, presets, accounts, kept drafts, the model list,
instance and version records): the bytes go to a temporary file beside the
target, are flushed and synced to disk, and the temporary file is then renamed
over the target in one step. A reader sees the old file or the new one, never
a mix. ``write_new`` puts bytes under a name not yet taken (exports).

Raises ``OSError`` as it comes; callers turn it into a message for their user.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

MAX_COPIES = 999


def _sync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_beside(folder: Path, name: str, private: bool) -> tuple[int, str]:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    if not private:  # mkstemp makes 0600 files; ordinary files follow the user's umask
        umask = os.umask(0)
        os.umask(umask)
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~umask)
    return fd, tmp


def atomic_write(path: Path | str, data: bytes | str, *, private: bool = False) -> None:
    """Replace ``path`` with ``data`` in one step. ``private``: readable by this user only (0600).
    Creates the parent folder. On any failure the old file is untouched and no temporary file is left."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path.parent, path.name, private)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_dir(path.parent)


def write_new(folder: Path | str, stem: str, suffix: str, data: bytes, *, private: bool = True) -> Path:
    """Write ``data`` as a new file ``stem+suffix`` in ``folder`` (``stem-2+suffix`` and so on when
    taken) and return its path; readable by this user only unless ``private`` is False (exports
    hold patient text). Never replaces an existing file. Raises ``FileExistsError`` when
    ``MAX_COPIES`` names are taken."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(folder, "export", private)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        for copy in range(1, MAX_COPIES + 1):
            target = folder / (f"{stem}{suffix}" if copy == 1 else f"{stem}-{copy}{suffix}")
            try:
                os.link(tmp, target)  # fails if the name is taken: no race with a second writer
                return target
            except FileExistsError:
                continue
            except OSError:  # a file system without hard links
                if target.exists():
                    continue
                os.replace(tmp, target)
                return target
        raise FileExistsError(f"{MAX_COPIES} files named {stem}{suffix}")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _sync_dir(folder)
