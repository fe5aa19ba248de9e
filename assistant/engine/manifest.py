"""SHA-256 manifests: a vendor ships ``SHA256SUMS`` beside a model's files, and
``assistant models add`` checks every weight file against it before installing.
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


def verify_manifest(path: Path, manifest: Path, weight_files: list[str]) -> int:
    """Check every file the manifest lists, and that it lists every weight file. Returns the count."""
    entries: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line.strip())
        if not match:
            raise ModelLoadError(f"{manifest.name}: line {number}: not a SHA-256 line ('<64 hex digits>  <file name>').")
        entries[match.group(2).strip()] = match.group(1).lower()
    if not entries:
        raise ModelLoadError(f"{manifest.name}: lists no files.")
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
