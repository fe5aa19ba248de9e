"""SHA-256 manifests: a vendor ships ``SHA256SUMS`` beside a model's files, and
``assistant models add`` checks the weights against it before installing.

A model folder: every file the manifest lists, and it must list every weight file
(``verify_manifest``). A GGUF file: its own line, which the manifest must have (``verify_file``);
other files the manifest lists (other quantizations beside it) are not read.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from assistant.errors import ModelLoadError

MANIFEST_NAMES = ("SHA256SUMS", "sha256sums.txt", "manifest.sha256")


def find_manifest(path: Path) -> Path | None:
    for name in MANIFEST_NAMES:
        if (path / name).is_file():
            return path / name
    return None


def sha256_of(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(manifest: Path) -> dict[str, str]:
    """File name -> SHA-256 (lower case), from ``sha256sum`` lines; a malformed or empty manifest is refused."""
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ModelLoadError(f"{manifest.name}: cannot be read: it is missing or not a text file.") from None
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line.strip())
        if not match:
            raise ModelLoadError(f"{manifest.name}: line {number}: not a SHA-256 line ('<64 hex digits>  <file name>').")
        entries[match.group(2).strip()] = match.group(1).lower()
    if not entries:
        raise ModelLoadError(f"{manifest.name}: lists no files.")
    return entries


def _line_for(file: Path, entries: dict[str, str]) -> str | None:
    """The expected SHA-256 of ``file``: its name listed relative to the file's own folder."""
    target = file.resolve()
    for name, expected in entries.items():
        if (file.parent / name).resolve() == target:
            return expected
    return None


def lists_file(manifest: Path, file: Path) -> bool:
    """Whether ``manifest`` has a line for ``file`` (a manifest found beside a file counts only then)."""
    try:
        return _line_for(file, read_manifest(manifest)) is not None
    except ModelLoadError:
        return True  # a damaged manifest beside the file is not ignored: verify_file says what is wrong


def verify_file(file: Path, manifest: Path) -> int:
    """Check one model file (a GGUF) against its line in the manifest. Returns 1."""
    expected = _line_for(file, read_manifest(manifest))
    if expected is None:
        raise ModelLoadError(f"{file.name}: not in the manifest: {manifest.name} has no line for this file.")
    if sha256_of(file) != expected:
        raise ModelLoadError(
            f"{file.name}: SHA-256 mismatch: the file differs from the one the vendor shipped (damaged or "
            "changed). Copy the file again, or ask your vendor for the right SHA256SUMS."
        )
    return 1


def verify_manifest(path: Path, manifest: Path, weight_files: list[str]) -> int:
    """Check every file the manifest lists, and that it lists every weight file. Returns the count."""
    entries = read_manifest(manifest)
    root = path.resolve()
    for name, expected in entries.items():
        file = (path / name).resolve()
        if root not in file.parents or not file.is_file():
            raise ModelLoadError(f"{name}: missing: the manifest {manifest.name} lists it, but the folder does not have it.")
        if sha256_of(file) != expected:
            raise ModelLoadError(
                f"{name}: SHA-256 mismatch: the file differs from the one the vendor shipped (damaged or "
                "changed). Copy the model folder again."
            )
    uncovered = [n for n in weight_files if n not in entries]
    if uncovered:
        raise ModelLoadError(f"{uncovered[0]}: not in the manifest: {manifest.name} does not cover every weight file.")
    return len(entries)
