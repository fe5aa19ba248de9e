"""Build the app's services once, in ``main()``: config, presets, model, engine.

Nothing here runs at import time. The real backends are imported lazily so the
core stays importable (and testable) without torch or llama.cpp. Which one loads
is ``engine.choice``'s decision (settings.json ``engine``). How a model is loaded is a
seam: ``ModelLoader`` (``load_model`` is the real one); tests pass a fake one to
``build_services`` instead of monkeypatching. The UI asks ``Services.engine``
(``model``, ``count_tokens``, ``position``), never the backend behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.app.dictation import Dictation
from assistant.core.presets import PresetLibrary
from assistant.core.profile import PracticeProfile
from assistant.engine import choice, demo_model, stages
from assistant.engine.contract import Backend, ModelInfo
from assistant.engine.engine import Engine
from assistant.security import privacy
from assistant.security.audit import AuditLog
from assistant.store.config import Config
from assistant.store.drafts import DraftStore
from assistant.store.endpoint import KEY_NAME, Endpoint
from assistant.store.profile import load_profile
from assistant.store.secrets import load_secret
from assistant.store.user_presets import load_library

log = logging.getLogger(__name__)

ModelLoader = Callable[..., Backend]
"""``loader(config, path, progress=print, stage=None) -> Backend``: ``path`` None is the demo model."""


@dataclass
class Services:
    config: Config
    presets: PresetLibrary
    engine: Engine
    notices: list[str] = field(default_factory=list)
    profile: PracticeProfile = field(default_factory=PracticeProfile)
    audit: AuditLog | None = None
    drafts: DraftStore | None = None
    loader: ModelLoader | None = None  # None: the real one (``load_model``)
    dictation: Dictation = field(default_factory=Dictation)  # speech to text; its model loads on first use

    def reload_presets(self) -> PresetLibrary:
        """Re-read every preset layer (after the user saved, deleted or imported one)."""
        self.presets = load_library(self.config.paths)
        return self.presets

    @property
    def model(self) -> ModelInfo:
        """What is known about the loaded model."""
        return self.engine.model

    def load(self, path: str | None, progress: Callable[[str], None] = print,
             stage: Callable[[float, str], None] | None = None) -> Backend:
        """Load the model at ``path`` (None: the demo model) with this app's loader."""
        return audited((self.loader or load_model)(self.config, path, progress, stage), self.audit)


def audited(backend: Backend, audit: AuditLog | None) -> Backend:
    """A model server's backend records each request in the audit log: host, model, sizes, time; never text."""
    target = getattr(backend, "remote", backend)
    if audit is not None and hasattr(target, "on_request"):
        def record(report: dict) -> None:
            audit.record("model_server_request", model=report["model"], detail=(
                f"{report['host']} sent_chars={report['sent_chars']} received_chars={report['received_chars']} "
                f"seconds={report['seconds']} outcome={report['outcome']}"))

        target.on_request = record
    return backend


def quantized_dir(config: Config) -> Path:
    """Where 4-bit copies are saved after a model's first 4-bit load (never the model folder)."""
    return config.paths.root / "cache" / "quantized"


def load_model(
    config: Config,
    path: str | None,
    progress: Callable[[str], None] = print,
    stage: Callable[[float, str], None] | None = None,
) -> Backend:
    """Load the model at ``path`` (a folder or a .gguf file), or the built-in demo model when None,
    on the engine ``choice.choose`` picks (transformers on a usable NVIDIA GPU, else llama.cpp); or
    connect to the model server in settings (``endpoint``), the one host the egress guard then lets through."""
    endpoint = config.settings.server.check()
    if endpoint.remote:
        return _load_remote(config, endpoint, path, progress, stage)
    privacy.allow_endpoint(None)
    return load_here(config, path, progress, stage)


def load_here(config: Config, path: str | None, progress: Callable[[str], None] = print,
              stage: Callable[[float, str], None] | None = None) -> Backend:
    """This computer's model (``path``, or the demo model), whatever the settings say about a server."""
    picked = choice.choose(config.settings.engine)
    log.info("engine: %s (setting %s)", picked.engine, config.settings.engine)
    if picked.engine == choice.LLAMACPP:
        backend = _load_llamacpp(config, path, progress, stage)
    else:
        backend = _load_transformers(config, path, progress, stage)
    backend.info = replace(backend.info, engine=picked.words)
    return backend


def _load_remote(config: Config, endpoint: Endpoint, path: str | None, progress: Callable[[str], None],
                 stage: Callable[[float, str], None] | None) -> Backend:
    from assistant.engine import remote  # openai, boto3: imported on demand
    from assistant.engine.remote.fallback import WithFallback

    stages.tell(stage, "check")
    progress(f"Connecting to {endpoint.where_words()} ...")
    privacy.allow_endpoint(*endpoint.host_port())
    key = config.engine_key or load_secret(config.paths.root, KEY_NAME)
    backend: Backend = remote.connect(endpoint, key)
    if endpoint.fallback_local:
        backend = WithFallback(backend, lambda: load_here(config, path, _quiet))
    stages.tell(stage, "ready")
    return backend


def gguf_dir(config: Config) -> Path:
    """Where safetensors folders are converted to GGUF once, for llama.cpp (never the model folder)."""
    return config.paths.root / "cache" / "gguf"


def _load_llamacpp(config: Config, path: str | None, progress: Callable[[str], None],
                   stage: Callable[[float, str], None] | None) -> Backend:
    from assistant.engine.llamacpp.backend import LlamaCppBackend  # llama_cpp, imported on demand

    stage = _forward_only(stage)  # after a conversion, the loader's own "check" must not move the bar back
    if not path:
        progress("Loading the demo model ...")
        return LlamaCppBackend.load(demo_model.find_demo_gguf(), is_demo=True, stage=stage)
    source = Path(path).expanduser()
    if source.is_dir() and not (source / "config.json").is_file():
        files = sorted(source.glob("*.gguf"))  # a folder holding one GGUF file (a vendor build may)
        if len(files) == 1:
            source = files[0]
    if source.is_dir():
        from assistant.engine.llamacpp.convert import convert_folder
        from assistant.engine.models import check_folder

        stages.tell(stage, "check")
        check_folder(source, require_supported=True)

        def converting(fraction: float, words: str) -> None:
            low, high = stages.span("convert")
            if stage is not None:
                stage(low + (high - low) * min(max(fraction, 0.0), 1.0), stages.StageWords(words, stages.get("convert")))

        progress(f"Preparing {source.name} for this computer (first time only, a few minutes) ...")
        source = convert_folder(source, gguf_dir(config), converting)
    progress(f"Loading the model from {source} ...")
    return LlamaCppBackend.load(source, stage=stage)


def _forward_only(stage: Callable[[float, str], None] | None) -> Callable[[float, str], None] | None:
    if stage is None:
        return None
    furthest = [0.0]

    def tell(fraction: float, words: str) -> None:
        furthest[0] = max(furthest[0], fraction)
        stage(furthest[0], words)

    return tell


def _load_transformers(config: Config, path: str | None, progress: Callable[[str], None],
                       stage: Callable[[float, str], None] | None) -> Backend:
    from assistant.engine import hf  # the only torch importer, imported on demand

    precision = config.settings.cpu_precision
    cache = quantized_dir(config)
    if path and Path(path).suffix.lower() == ".gguf":
        source = Path(path).expanduser()
        folder = config.paths.root / "cache" / "from-gguf" / source.stem
        if not demo_model.is_converted(folder):
            progress(f"Preparing {source.name} for transformers (first time only) ...")
            hf.convert_gguf(source, folder)
        path = str(folder)
    if path:
        progress(f"Loading the model from {path} ...")
        return hf.TransformersBackend.load(Path(path).expanduser(), cpu_precision=precision, cache_dir=cache, stage=stage)
    folder = config.paths.demo_model
    if not demo_model.is_converted(folder):
        progress("Preparing the built-in demo model (first start only, about half a minute) ...")
        hf.convert_gguf(demo_model.find_demo_gguf(), folder)
    progress("Loading the demo model ...")
    return hf.TransformersBackend.load(folder, cpu_precision=precision, is_demo=True, cache_dir=cache, stage=stage)


def load_backend(
    config: Config, model_path: str | None, progress: Callable[[str], None] = print, *,
    loader: ModelLoader | None = None,
) -> Backend:
    """Load the model the practice chose, or the built-in demo model."""
    return (loader or load_model)(config, model_path or config.settings.model_path, progress)


def switch_model(
    services: Services,
    path: str | None,
    stage: Callable[[float, str], None] | None = None,
) -> Backend:
    """Change the running model (None: the demo model) and remember the choice in settings.json.

    The old model is freed before the new one loads. If the new one fails, the previous one is
    loaded again and the error is raised in plain words. Refused while a draft stays open.
    """
    from assistant.install import vendor

    vendor.refuse_locked_model()
    config = services.config
    tell = stage or (lambda fraction, words: None)

    backend = services.engine.switch(
        lambda: services.load(path, _quiet, stage),
        waiting=lambda: tell(0.01, "Stopping the draft being written"),
        reload=lambda: services.load(path, _quiet),
    )
    config.settings.model_path = path
    config.settings.save(config.paths)
    services.notices[:] = [n for n in services.notices if n != demo_model.DEMO_NOTICE]
    if backend.info.is_demo:
        services.notices.insert(0, demo_model.DEMO_NOTICE)
    log.info("model switched to %s", backend.info.name)
    return backend


def _quiet(text: str) -> None:
    """Progress lines nobody reads (a switch reports its stages instead)."""


def build_services(
    config: Config, backend: Backend, audit: AuditLog | None = None, *,
    loader: ModelLoader | None = None, model_path: str | None = None,
) -> Services:
    """``audit``: the log the caller already writes to (one writer per file keeps the hash chain whole).

    ``loader`` loads models from now on (None: ``load_model``); ``model_path`` is where ``backend``
    came from (None: the model in settings), so a failed switch can load it again."""
    presets = load_library(config.paths)
    notices = []
    if backend.info.is_demo:
        notices.append(demo_model.DEMO_NOTICE)
    if presets.warnings:
        notices.append(
            f"{len(presets.warnings)} problem(s) in preset files: those presets were skipped. "
            "The Presets tab lists them."
        )
    audit = audit or AuditLog(config.paths.root / "audit")
    privacy.on_blocked(lambda where: audit.record("outbound_blocked", detail=where))
    drafts = DraftStore(config.paths.root)
    purged = drafts.purge_expired()
    if purged:
        audit.record("drafts_purged", detail=f"{purged} drafts older than {drafts.retention_days} days")
    audit.record("model_loaded", model=backend.info.name, detail=f"{backend.info.device}; {backend.info.precision}")
    path = model_path or config.settings.model_path
    audited(backend, audit)
    engine = Engine(backend, loader=lambda: audited((loader or load_model)(config, path, _quiet), audit))
    return Services(
        config=config, presets=presets, engine=engine, notices=notices,
        profile=load_profile(config.paths.root), audit=audit, drafts=drafts, loader=loader,
        dictation=Dictation(audit, follow=lambda: config.settings.speech_model_path),  # a change applies at once
    )
