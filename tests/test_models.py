"""Model management: checking folders, the manifest, the registry, quantize once,
switching models without a restart, and failures in plain words (out of memory
at load and mid-generation, a GPU the 4-bit library cannot use)."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_models import build_tiny_model

from assistant.app.services import build_services, load_model, quantized_dir
from assistant.cli import main
from assistant.core.messages import GenerationSettings, Message
from assistant.engine import hf, models
from assistant.engine.engine import Engine
from assistant.engine.fake import FakeBackend
from assistant.errors import ModelBusy, ModelLoadError, ModelNotFound
from assistant.store.config import Config
from assistant.web.tabs import system_tab

CHAT = [Message("system", "Be brief."), Message("user", "Write one sentence.")]
SHORT = GenerationSettings(max_new_tokens=6, temperature=0)


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("base") / "tiny-llama31", "llama3.1")


@pytest.fixture
def model_copy(base_model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "incoming" / "Tiny-Llama-3.1-Instruct"
    shutil.copytree(base_model, target)
    return target


@pytest.fixture
def no_new_log_handlers():
    import logging

    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


# -- refusing folders, each with its own reason -----------------------------------------


def _truncate(folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _sharded_with_a_missing_shard(folder: Path) -> None:
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {"metadata": {}, "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                                            "lm_head.weight": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


def _architecture(folder: Path, model_type: str) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = model_type
    (folder / "config.json").write_text(json.dumps(config))


BROKEN = {
    "pickle weights": (lambda f: (f / "pytorch_model.bin").write_bytes(b"\x80\x04pickle"),
                       "pytorch_model.bin.*only loads .safetensors"),
    "truncated weights": (_truncate, "model.safetensors is incomplete: it has [0-9,]+ of its [0-9,]+ bytes"),
    "damaged weights": (lambda f: (f / "model.safetensors").write_bytes(b"garbage" * 64),
                        "model.safetensors is damaged"),
    "missing shard": (_sharded_with_a_missing_shard, "incomplete: 1 of its 2 weight files are missing"),
    "missing tokenizer": (lambda f: (f / "tokenizer.json").unlink(), "has no tokenizer"),
    "missing chat template": (lambda f: (f / "chat_template.jinja").unlink(), "no chat template.*Instruct"),
    "unsupported architecture": (lambda f: _architecture(f, "gpt2"), "architecture 'gpt2'.*Supported: Llama"),
}


@pytest.mark.parametrize("problem", list(BROKEN))
def test_add_refuses_a_broken_folder_with_its_own_reason(problem: str, model_copy: Path) -> None:
    damage, reason = BROKEN[problem]
    damage(model_copy)
    with pytest.raises(ModelLoadError, match=reason) as info:
        models.add_model(Config.load(), model_copy)
    assert "Traceback" not in info.value.message
    assert models.load_registry(Config.load()) == []


@pytest.mark.parametrize("problem", ["pickle weights", "truncated weights", "missing tokenizer"])
def test_cli_models_add_exits_non_zero_with_a_where_what_why_line(
    problem: str, model_copy: Path, capsys: pytest.CaptureFixture[str], no_new_log_handlers: None
) -> None:
    BROKEN[problem][0](model_copy)
    assert main(["models", "add", str(model_copy)]) == 1
    out = capsys.readouterr().out
    assert f"{model_copy}: refused: " in out
    assert "Traceback" not in out


@pytest.mark.parametrize("problem", ["truncated weights", "missing tokenizer"])
def test_loading_a_broken_folder_says_the_same(problem: str, model_copy: Path) -> None:
    damage, reason = BROKEN[problem]
    damage(model_copy)
    with pytest.raises(ModelLoadError, match=reason):
        hf.TransformersBackend.load(model_copy, cpu_precision="4bit")


def test_missing_folder_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="No model was found"):
        models.add_model(Config.load(), tmp_path / "nowhere")


# -- manifest, registry, copy, use -------------------------------------------------------


def _write_manifest(folder: Path, skip: str = "") -> Path:
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}"
             for p in sorted(folder.iterdir()) if p.is_file() and p.name not in (skip, "SHA256SUMS")]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return folder / "SHA256SUMS"


def test_manifest_is_verified_and_a_changed_or_unlisted_file_refused(model_copy: Path) -> None:
    config = Config.load()
    manifest = _write_manifest(model_copy)
    entry = models.add_model(config, model_copy)
    assert entry.verified_files == len(manifest.read_text().splitlines())
    with (model_copy / "tokenizer.json").open("ab") as handle:
        handle.write(b" ")
    with pytest.raises(ModelLoadError, match="tokenizer.json: SHA-256 mismatch"):
        models.add_model(config, model_copy)
    _write_manifest(model_copy, skip="model.safetensors")
    with pytest.raises(ModelLoadError, match="model.safetensors: not in the manifest"):
        models.add_model(config, model_copy)


def test_cli_add_copy_list_and_use(model_copy: Path, capsys, no_new_log_handlers) -> None:
    assert main(["models", "add", str(model_copy), "--copy"]) == 0
    out = capsys.readouterr().out
    assert "Installed Tiny-Llama-3.1-Instruct: Llama 3.x" in out
    config = Config.load()
    copied = config.paths.models / "Tiny-Llama-3.1-Instruct"
    assert (copied / "model.safetensors").is_file() and not list(config.paths.models.glob("*.partial"))
    assert main(["models", "list"]) == 0
    assert "Tiny-Llama-3.1-Instruct" in capsys.readouterr().out
    assert main(["models", "use", "Tiny-Llama-3.1-Instruct"]) == 0
    assert Config.load().settings.model_path == str(copied)
    assert models.active_name(Config.load()) == "Tiny-Llama-3.1-Instruct"
    assert main(["models", "use", "no-such-model"]) == 2
    assert "No model named 'no-such-model'" in capsys.readouterr().out


def test_a_model_too_big_for_this_computer_is_refused_unless_forced(model_copy: Path) -> None:
    config = Config.load()
    with pytest.raises(ModelLoadError, match="needs about .* in 4-bit.*smaller model"):
        models.add_model(config, model_copy, available_bytes=1000)
    assert models.add_model(config, model_copy, available_bytes=1000, force=True).name == model_copy.name


def test_estimate_counts_linear_layers_at_4_bits(base_model: Path) -> None:
    facts = models.check_folder(base_model)
    embeddings = sum(t.count for t in facts.tensors if "embed" in t.name or "lm_head" in t.name)
    assert embeddings and facts.parameters > embeddings
    assert models.estimate_4bit_bytes(facts) < facts.parameters * 2 * models.RUNTIME_OVERHEAD + models.RUNTIME_BASE


# -- quantize once -------------------------------------------------------------------------


def test_quantize_once_saves_in_the_data_folder_and_reloads_from_it(model_copy: Path) -> None:
    config = Config.load()
    config.settings.cpu_precision = "4bit"
    config.settings.engine = "transformers"  # the transformers engine, as on a GPU
    before = snapshot(model_copy)
    first = load_model(config, str(model_copy))
    assert first.from_saved_4bit is False
    (saved,) = quantized_dir(config).iterdir()
    assert saved.is_relative_to(config.paths.root) and (saved / "model.safetensors").is_file()
    assert json.loads((saved / "config.json").read_text())["quantization_config"]["load_in_4bit"] is True
    second = load_model(config, str(model_copy))
    assert second.from_saved_4bit is True
    assert list(second.stream(CHAT, SHORT, threading.Event())) is not None
    assert snapshot(model_copy) == before  # the model folder may be read-only: nothing written there

    (saved / "model.safetensors").write_bytes(b"damaged")  # a damaged copy is rebuilt, not fatal
    third = load_model(config, str(model_copy))
    assert third.from_saved_4bit is False and (saved / "complete.json").is_file()


# -- failures in plain words ---------------------------------------------------------------


def test_out_of_memory_at_load_is_plain_and_suggests_a_smaller_model(model_copy: Path, monkeypatch) -> None:
    def oom(*args: Any, **kwargs: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(hf.AutoModelForCausalLM, "from_pretrained", oom)
    with pytest.raises(ModelLoadError, match="does not fit in the memory.*smaller model") as info:
        hf.TransformersBackend.load(model_copy, cpu_precision="4bit")
    assert "CUDA" not in info.value.message and "GiB" not in info.value.message


def test_a_gpu_the_4bit_library_cannot_use_falls_back_to_the_processor(model_copy: Path, monkeypatch) -> None:
    monkeypatch.setattr(hf.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(hf.torch.cuda, "get_device_name", lambda index=0: "NVIDIA GeForce GTX 680")
    monkeypatch.setattr(hf, "gpu_4bit_status", lambda: (False, "its 4-bit test failed (compute capability 3.0)"))
    kwargs, device, precision = hf._plan_precision(model_copy, "4bit")
    assert "device_map" not in kwargs
    assert device.startswith("processor (CPU)") and "cannot use the NVIDIA GeForce GTX 680" in device
    error = hf._load_error(model_copy, RuntimeError("CUDA Setup failed despite GPU being available (bitsandbytes)"))
    assert "cannot use this graphics card" in error.message and "driver" in error.message


def test_out_of_memory_midway_through_the_real_server_keeps_it_serving(base_model: Path) -> None:
    from gradio_client import Client

    from assistant.web.app import build_app
    from assistant.web.server import serve

    config = Config.load()
    config.settings.cpu_precision = "bf16"
    config.settings.engine = "transformers"  # the transformers engine, as on a GPU
    backend = load_model(config, str(base_model))
    backend.model.generation_config.eos_token_id = None
    services = build_services(config, backend)
    calls = {"n": 0}

    def run_out_of_memory(module: Any, args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    hook = backend.model.register_forward_pre_hook(run_out_of_memory)
    running = serve(build_app(services), 0, background=True)
    try:
        client = Client(f"http://127.0.0.1:{running.port}/", headers={"Authorization": f"Bearer {running.token}"},
                        verbose=False)
        with pytest.raises(Exception, match="ran out of memory.*still running") as info:
            client.predict("Write a reminder", [], "chat-general", api_name="/chat")
        assert "Traceback" not in str(info.value) and "GiB" not in str(info.value)
        assert not services.engine.busy
        hook.remove()
        history, _ = client.predict("Write a reminder", [], "chat-general", api_name="/chat")
        assert [m["role"] for m in history] == ["user", "assistant"] and history[-1]["content"]
    finally:
        running.stop()


# -- switching models without a restart ----------------------------------------------------


class ClosingFake(FakeBackend):
    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.info = type(self.info)(name=name, device="test", precision="none", context_window=4096)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_switch_waits_for_the_running_generation_then_frees_the_old_model() -> None:
    old, new = ClosingFake("old", reply="word " * 40, delay=0.01), ClosingFake("new")
    engine = Engine(old)
    order: list[str] = []
    stream = engine.stream(CHAT, GenerationSettings(max_new_tokens=40), session="a")
    next(stream)  # a generation is running

    def load():
        order.append(f"load (old closed={old.closed})")
        return new

    switcher = threading.Thread(target=lambda: engine.switch(load, waiting=lambda: order.append("waiting")))
    switcher.start()
    time.sleep(0.1)
    assert engine.switching and order == ["waiting"]
    with pytest.raises(ModelBusy, match="changing its model"):
        list(engine.stream(CHAT, SHORT, session="b"))
    for _ in stream:
        pass
    order.append("generation done")
    switcher.join(5)
    assert order == ["waiting", "generation done", "load (old closed=True)"]
    assert engine.backend is new and not engine.switching
    assert "".join(engine.stream(CHAT, SHORT)).startswith("Subjective")


def test_failed_switch_restores_the_previous_model_or_says_none_is_loaded() -> None:
    old = ClosingFake("old")
    engine = Engine(old)

    def broken():
        raise ModelLoadError("The model in x does not fit in the memory of the graphics card.")

    with pytest.raises(ModelLoadError, match="does not fit"):
        engine.switch(broken, restore=lambda: ClosingFake("old again"))
    assert engine.backend.info.name == "old again"
    with pytest.raises(ModelLoadError):
        engine.switch(broken, restore=broken)
    with pytest.raises(ModelNotFound, match="No model is loaded. Open the System tab"):
        list(engine.stream(CHAT, SHORT))


def test_system_tab_switches_real_models_with_progress_and_survives_a_failure(
    base_model: Path, tmp_path: Path, monkeypatch
) -> None:
    config = Config.load()
    config.settings.cpu_precision = "4bit"
    config.settings.engine = "transformers"  # the transformers engine, as on a GPU
    other = build_tiny_model(tmp_path / "Tiny-Qwen-2.5", "qwen2.5")
    first = models.add_model(config, base_model)
    second = models.add_model(config, other)
    services = build_services(config, load_model(config, first.path))
    old = services.engine.backend
    reports: list[tuple[float, str]] = []

    text = system_tab.run_switch(services, second.name, lambda f, words: reports.append((f, words)))
    assert "Tiny-Qwen-2.5" in text and services.model.name == "Tiny-Qwen-2.5"
    assert old.model is None  # the old model was freed
    assert reports[-1] == (1.0, "Ready") and all(0 <= f <= 1 for f, _ in reports)
    assert Config.load().settings.model_path == second.path
    # the demo model is listed first whenever its GGUF is here (llama.cpp runs it without a conversion)
    assert [c for _, c in system_tab.model_choices(services)] == ["demo", first.name, second.name]

    original = hf.AutoModelForCausalLM.from_pretrained

    def no_room_for(path: Any, *args: Any, **kwargs: Any) -> Any:
        if "Llama" in str(path) or "llama" in str(path):
            raise torch.OutOfMemoryError("CUDA out of memory.")
        return original(path, *args, **kwargs)

    monkeypatch.setattr(hf.AutoModelForCausalLM, "from_pretrained", no_room_for)
    with pytest.raises(ModelLoadError, match="does not fit"):
        system_tab.run_switch(services, first.name, lambda f, words: None)
    assert services.model.name == "Tiny-Qwen-2.5"  # the previous model is back and working
    assert list(services.engine.stream(CHAT, SHORT)) is not None
    assert Config.load().settings.model_path == second.path
