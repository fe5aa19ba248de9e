"""Reading presets from disk: the shipped folder and the layers above it.

Layers, later overriding earlier by id: shipped (read-only, ``presets/`` beside the app), the
vendor or practice pack, then the user's own folder. A broken file is skipped with a warning
that names the file and the field; a locked shipped or vendor preset cannot be replaced.
"""

from __future__ import annotations

import logging
from pathlib import Path

from assistant.core.presets import MAX_FILE_BYTES, Preset, PresetLibrary, parse_preset
from assistant.errors import PresetError
from assistant.store.resources import resource_base

log = logging.getLogger(__name__)


def shipped_dir(base: Path | None = None) -> Path:
    """The read-only presets that come with the app (also inside a frozen build)."""
    return resource_base(base) / "presets"


def load_file(path: Path) -> Preset:
    """Parse and validate one preset file."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise PresetError(f"{path.name}: (file): is larger than {MAX_FILE_BYTES // 1024} KB; a preset is a short text file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path.name}: (file): cannot be read ({type(exc).__name__})") from exc
    return parse_preset(text, path.name)


def load_presets(layers: list[Path] | list[tuple[str, Path]]) -> PresetLibrary:
    """Load each layer in order; a later layer overrides an earlier one by id,
    except that a locked preset from the shipped or vendor layer stays."""
    library = PresetLibrary()
    for index, layer in enumerate(layers):
        origin, folder = layer if isinstance(layer, tuple) else (("shipped", "vendor", "user")[min(index, 2)], layer)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            try:
                preset = load_file(path)
            except PresetError as exc:
                library.warnings.extend(exc.message.splitlines())
                log.warning("preset file skipped: %s", path.name)
                continue
            current = library.presets.get(preset.id)
            if current is not None and current.locked:
                library.warnings.append(f"{path.name}: id: '{preset.id}' is locked by your vendor and cannot be replaced")
                continue
            if origin == "user" and preset.locked:
                preset = preset.model_copy(update={"locked": False})  # only vendors lock
            library.presets[preset.id] = preset
            library.origin[preset.id] = origin
    return library
