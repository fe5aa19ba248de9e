"""Installing a GGUF model file (``assistant models add FILE.gguf``, Add a model in the System tab).

In order, each refusal a plain ``ModelLoadError`` naming the file and what to do next, and
nothing registered or copied before every check has passed:

1. ``check_gguf``: a GGUF at all (a pickle renamed ``.gguf`` is refused), its version, not cut
   short, a supported model family, a quantization this llama.cpp loads, a chat template;
2. the memory it needs to run (the file plus the reading window, ``memory_bytes``) against
   ``available_bytes``, unless forced;
3. a SHA-256 manifest: the one given, else a ``SHA256SUMS`` beside the file that lists it;
4. registered where it is, or copied into ``<data>/models/`` under a temporary name, then
   renamed into place (a copy cut short by a full disk or a crash never counts as installed).

Plain Python (no llama.cpp): the file is judged from its header alone.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from assistant.engine.gguf_file import GgufFacts, check_gguf
from assistant.engine.manifest import find_manifest, lists_file, verify_file
from assistant.engine.registry import ModelEntry, entry_name, gib, load_registry, save_registry
from assistant.errors import ModelLoadError
from assistant.store.config import Config

log = logging.getLogger(__name__)

SUFFIX = ".gguf"
CONTEXT = 8192  # the reading window llama.cpp is given (at most; llamacpp.backend.MAX_CONTEXT)
FORCE_WORDS = "install it anyway with 'assistant models add --force'"


def is_gguf_path(path: Path) -> bool:
    """A file (or a name ending in .gguf): the GGUF path, whose checks name a non-GGUF file as such."""
    return path.is_file() or (path.suffix.lower() == SUFFIX and not path.is_dir())


def available_ram() -> int:
    """Memory free for a model on the processor (where llama.cpp runs a GGUF), in bytes."""
    import psutil

    return int(psutil.virtual_memory().available)


def memory_needed(facts: GgufFacts) -> int:
    """Memory to run it: the file, the reading window llama.cpp is given, the library's buffers."""
    return facts.memory_bytes(min(facts.context_length or CONTEXT, CONTEXT))


def _copy(source: Path, target: Path) -> None:
    """Copy under a temporary name beside the target, then rename: the target is whole or absent."""
    partial = target.with_name(target.name + ".partial")
    need = source.stat().st_size
    target.parent.mkdir(parents=True, exist_ok=True)
    partial.unlink(missing_ok=True)  # left by a copy that was cut short
    free = shutil.disk_usage(target.parent).free
    if free < need:
        raise ModelLoadError(
            f"{source.name} was not installed: copying it needs {gib(need)} of disk space and the data folder "
            f"({target.parent}) has {gib(free)} free. Free some space, or add it without copying it."
        )
    try:
        shutil.copyfile(source, partial)
        if partial.stat().st_size != need:
            raise OSError("short copy")
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        log.warning("model copy failed: %s", type(exc).__name__)
        raise ModelLoadError(
            f"{source.name} was not installed: copying it into {target.parent} failed "
            f"({exc.strerror or 'the copy was cut short'}). Check the free disk space and try again, "
            "or add it without copying it."
        ) from None


def add_gguf(
    config: Config,
    source: Path,
    *,
    copy: bool = False,
    name: str | None = None,
    manifest: Path | None = None,
    available_bytes: int | None = None,
    force: bool = False,
) -> ModelEntry:
    """Check the GGUF file ``source`` and register it in place, or copy it into the data folder."""
    start = time.perf_counter()
    facts = check_gguf(source)
    need = memory_needed(facts)
    if available_bytes is not None and need > available_bytes and not force:
        raise ModelLoadError(
            f"{source.name} needs about {gib(need)} of memory to run (the file is {gib(facts.file_bytes)}, plus "
            f"room to read the text), and this computer has about {gib(available_bytes)} available, so it would "
            "not load. Choose a smaller file (fewer parameters, or a Q4_K_M one), close other programs, or "
            f"{FORCE_WORDS}."
        )
    if manifest is None:
        found = find_manifest(source.parent)
        manifest = found if found is not None and lists_file(found, source) else None
    verified = verify_file(source, manifest) if manifest else 0
    name = entry_name(name or source.stem)
    entries = load_registry(config)
    target = config.paths.models / f"{name}{SUFFIX}" if copy else source
    clash = next((e for e in entries if e.name == name), None)
    if clash and Path(clash.path) != target:
        raise ModelLoadError(f"A model named '{name}' is already installed. Choose another name (--name).")
    copied_now = copy and target != source and not target.exists()  # removed again if the list is not saved
    if copy and target != source:
        _copy(source, target)
    entry = ModelEntry(
        name=name, path=str(target), copied=copy, architecture=facts.architecture, family=facts.family,
        parameters=facts.parameters, weight_bytes=facts.file_bytes, verified_files=verified,
        added=time.strftime("%Y-%m-%d"), format="gguf", quantization=facts.quantization, memory_bytes=need,
    )
    try:
        save_registry(config, [e for e in entries if e.name != name] + [entry])
    except OSError as exc:
        if copied_now:
            target.unlink(missing_ok=True)
        raise ModelLoadError(
            f"{source.name} was not installed: the list of models in {config.paths.models} could not be "
            f"written ({exc.strerror or type(exc).__name__}). Check the free disk space and try again."
        ) from None
    log.info("model added name=%s format=gguf arch=%s quant=%s params=%d copied=%s verified=%d in %.1fs",
             name, facts.architecture, facts.quantization, facts.parameters, copy, verified,
             time.perf_counter() - start)
    return entry
