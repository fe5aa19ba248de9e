"""What the UI asks the engine (so nothing outside engine/ reaches into the backend), and the
model loader as a seam of the services (a fake loader instead of monkeypatching)."""

from __future__ import annotations

from assistant.app.services import build_services, switch_model
from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import ModelInfo
from assistant.engine.engine import Engine
from assistant.engine.fake import FakeBackend
from assistant.errors import ModelLoadError
from assistant.store.config import Config

ASK = [Message("system", "be brief"), Message("user", "three words here")]


def _fake(name: str, **kwargs) -> FakeBackend:
    backend = FakeBackend(**kwargs)
    backend.info = ModelInfo(name=name, device="test", precision="none", context_window=4096)
    return backend


# -- 6. the engine answers what the UI needs ---------------------------------------------------


def test_the_engine_counts_tokens_and_describes_its_model():
    backend = _fake("Tiny")
    engine = Engine(backend)
    assert engine.count_tokens(ASK) == backend.count_tokens(ASK)
    assert engine.model.name == "Tiny" and engine.model.from_saved_4bit is False
    backend.from_saved_4bit = True  # what the transformers backend sets after a quantize-once reload
    assert engine.model.from_saved_4bit is True and engine.model.context_window == 4096
    assert engine.position("nobody") == 0


def test_services_describe_the_model_through_the_engine():
    services = build_services(Config.load(), _fake("Tiny"))
    assert services.model == services.engine.model
    assert services.model.name == "Tiny"


# -- 8. the model loader is a seam ---------------------------------------------------------------


class FakeLoader:
    """Loads fake models by path; paths in ``broken`` fail like a model that does not fit."""

    def __init__(self, broken: tuple[str, ...] = ()) -> None:
        self.calls: list[str | None] = []
        self.broken = broken

    def __call__(self, config, path, progress=print, stage=None):
        self.calls.append(path)
        if path in self.broken:
            raise ModelLoadError(f"The model in {path} does not fit in the memory of the graphics card.")
        return _fake(f"model at {path}")


def test_switching_uses_the_loader_the_services_were_built_with():
    config = Config.load()
    loader = FakeLoader(broken=("/models/too-big",))
    services = build_services(config, loader(config, "/models/first"), loader=loader, model_path="/models/first")
    switch_model(services, "/models/second")
    assert services.model.name == "model at /models/second"
    assert Config.load().settings.model_path == "/models/second"
    try:
        switch_model(services, "/models/too-big")
    except ModelLoadError as exc:
        assert "does not fit" in exc.message
    else:
        raise AssertionError("a model that does not fit was reported as loaded")
    assert loader.calls == ["/models/first", "/models/second", "/models/too-big", "/models/second"]
    assert services.model.name == "model at /models/second"  # loaded again by the same loader
    assert "".join(services.engine.stream(ASK, GenerationSettings(max_new_tokens=3)))


def test_the_model_started_from_the_command_line_is_the_one_restored():
    config = Config.load()
    config.settings.model_path = "/models/in-settings"
    loader = FakeLoader(broken=("/models/too-big",))
    services = build_services(config, loader(config, "/models/from-command-line"), loader=loader,
                              model_path="/models/from-command-line")
    try:
        switch_model(services, "/models/too-big")
    except ModelLoadError:
        pass
    assert services.model.name == "model at /models/from-command-line"
