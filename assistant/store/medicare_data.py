"""Reading Medicare's yearly therapy figures (the KX thresholds) from disk.

Two files of the same shape (``assistant.core.medicare.parse_table``), both under the resource
base, so they are found from source and inside a frozen build alike:

- shipped: ``presets/medicare-therapy.json``. It sits with the shipped presets because that
  folder is what the PyInstaller spec bundles (``datas``: ``presets``) and what the build's cache
  key hashes; a data folder inside the package would be left out of the frozen app. The preset
  loaders read only ``*.yaml`` files, so they pass over it.
- the vendor's update: ``vendor/medicare-therapy.json`` (the vendor folder of
  ``assistant.install.vendor.vendor_dir``). Its years are added to the shipped ones, and a year in
  both takes the vendor's figures, so a vendor adds next year without repeating the others. A
  broken vendor file is logged, noted in the table's ``warnings`` and left out: the shipped
  figures are used.

The shipped file is checked by the tests; if it is broken anyway, ``MedicareDataError`` says so.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from assistant.core import medicare
from assistant.core.medicare import DATA_FILE, KxTable, MedicareDataError
from assistant.store.resources import resource_base

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 64 * 1024  # a few years of figures is under 1 KB


def shipped_file(base: Path | None = None) -> Path:
    """The figures that come with the app."""
    return resource_base(base) / "presets" / DATA_FILE


def vendor_file(base: Path | None = None) -> Path:
    """Where a vendor's updated figures go (beside the vendor's settings.json)."""
    return resource_base(base) / "vendor" / DATA_FILE  # = assistant.install.vendor.vendor_dir(base) / DATA_FILE


def read_table(path: Path) -> KxTable:
    """Read and check one figures file; MedicareDataError names the file and the field."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise MedicareDataError(f"{path}: (file): is larger than {MAX_FILE_BYTES // 1024} KB; "
                                    "a figures file is a short JSON file")
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MedicareDataError(f"{path}: (file): not readable JSON ({type(exc).__name__})") from None
    return medicare.parse_table(raw, str(path))


def load_table(base: Path | None = None) -> KxTable:
    """The shipped figures with the vendor's update on top, when there is a readable one."""
    table = read_table(shipped_file(base))
    update = vendor_file(base)
    if not update.is_file():
        return table
    try:
        return table.merged(read_table(update))
    except MedicareDataError as exc:
        first = exc.message.splitlines()[0]
        log.warning("vendor Medicare figures ignored, the shipped ones are used: %s", first)
        return KxTable(table.years, table.warnings + (first,))


def kx_reminder(year: int, discipline: str, spent_so_far: float | None = None, *, base: Path | None = None) -> str:
    """``assistant.core.medicare.kx_reminder`` with the figures read from disk."""
    return medicare.kx_reminder(year, discipline, spent_so_far, table=load_table(base))
