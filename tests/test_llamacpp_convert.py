"""A safetensors folder converted once to GGUF Q4_K_M by llama.cpp's own converter and quantizer,
in a child process: the result loads and writes; a second call returns at once; a conversion
killed half-way or left behind by a crash leaves nothing, and the next one succeeds; damaged
weights and an unsupported model are refused in plain words."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import psutil
import pytest

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.llamacpp import convert
from assistant.errors import ModelLoadError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json")


def build_tiny_llama(folder: Path, tokenizer_from: Path) -> Path:
    """A tiny random Llama (safetensors) with the demo model's tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    demo = json.loads((tokenizer_from / "config.json").read_text())
    config = LlamaConfig(vocab_size=demo["vocab_size"], hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=demo.get("bos_token_id"), eos_token_id=demo.get("eos_token_id"),
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (tokenizer_from / name).is_file():
            shutil.copy2(tokenizer_from / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, demo_model_dir: Path) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("convert") / "tiny-llama", demo_model_dir)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> tuple[Path, list[tuple[float, str]]]:
    heard: list[tuple[float, str]] = []
    out = tmp_path_factory.mktemp("gguf")
    return convert.convert_folder(tiny_llama, out, lambda fraction, words: heard.append((fraction, words))), heard


def _children_started() -> int:
    return len(psutil.Process().children(recursive=True))


@pytest.mark.slow
def test_a_folder_converts_to_q4_k_m_that_loads_and_writes(converted: tuple[Path, list]) -> None:
    from assistant.engine.gguf_file import check_gguf
    from assistant.engine.llamacpp.backend import LlamaCppBackend

    path, heard = converted
    assert path.name.startswith("tiny-llama-") and path.name.endswith(".Q4_K_M.gguf")
    assert not list(path.parent.glob("*.partial"))
    assert check_gguf(path).quantization == "Q4_K_M"
    fractions = [f for f, _ in heard]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert any(0.6 <= f < 1.0 for f in fractions), "the quantizer's progress is reported"
    assert heard[0][1] == convert.STARTING and convert.QUANTIZING in {w for _, w in heard}
    backend = LlamaCppBackend.load(path)
    try:
        pieces = list(backend.stream([Message("user", "Write one sentence.")],
                                     GenerationSettings(max_new_tokens=6, temperature=0), threading.Event()))
    finally:
        backend.close()
    assert pieces and "".join(pieces)


@pytest.mark.slow
def test_the_second_call_returns_at_once_without_a_child(converted: tuple[Path, list], tiny_llama: Path) -> None:
    path, _ = converted
    stamp = path.stat().st_mtime_ns
    start = time.perf_counter()
    assert convert.convert_folder(tiny_llama, path.parent) == path
    assert time.perf_counter() - start < 1.0 and path.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_a_killed_conversion_leaves_nothing_and_the_next_one_succeeds(tiny_llama: Path, tmp_path: Path) -> None:
    out = tmp_path / "models"
    out.mkdir()
    (out / "earlier-crash.Q4_K_M.gguf.partial").write_bytes(b"half a file")  # a crash's leftover
    killed: list[int] = []
    partial_then: list[str] = []

    def kill_the_child(fraction: float, words: str) -> None:
        if 0.02 <= fraction < 0.6 and not killed:  # the converter is writing the f16 file
            partial_then.extend(p.name for p in out.glob("*.f16.partial"))
            for child in psutil.Process().children(recursive=True):
                killed.append(child.pid)
                child.kill()

    with pytest.raises(ModelLoadError) as refused:
        convert.convert_folder(tiny_llama, out, kill_the_child)
    assert killed and partial_then, "killed while the converter was writing"
    assert "tiny-llama" in refused.value.message and "again" in refused.value.message
    assert "Traceback" not in refused.value.message
    assert list(out.iterdir()) == []  # the leftover and the killed conversion's files are gone
    heard: list[float] = []
    path = convert.convert_folder(tiny_llama, out, lambda fraction, words: heard.append(fraction))
    assert heard[-1] == 1.0 and [p.name for p in out.iterdir()] == [path.name]


def test_damaged_weights_are_refused_in_plain_words(tiny_llama: Path, tmp_path: Path) -> None:
    folder = tmp_path / "damaged-model"
    shutil.copytree(tiny_llama, folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # a copy that stopped half-way
    before = _children_started()
    with pytest.raises(ModelLoadError) as refused:
        convert.convert_folder(folder, tmp_path / "out")
    assert "model.safetensors" in refused.value.message and "damaged-model" in refused.value.message
    assert _children_started() == before
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    weights.write_bytes(b"\xff" * 64)  # not a safetensors header at all
    with pytest.raises(ModelLoadError, match="damaged"):
        convert.convert_folder(folder, tmp_path / "out")


@pytest.mark.slow
def test_a_model_the_converter_does_not_know_fails_in_the_child_with_plain_words(tiny_llama: Path,
                                                                               tmp_path: Path) -> None:
    folder = tmp_path / "odd-model"
    shutil.copytree(tiny_llama, folder)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["NoSuchModelForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError) as refused:
        convert.convert_folder(folder, tmp_path / "out")
    assert "odd-model" in refused.value.message and "does not support" in refused.value.message
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.slow
def test_the_real_demo_model_folder_converts_with_the_converters_own_gguf_py(demo_model_dir: Path,
                                                                              tmp_path: Path) -> None:
    """The app imports PyPI's gguf before the converter runs; the converter needs its own, newer one
    (it failed with "module 'gguf' has no attribute 'LazyChunkedTensor'" on a real SmolLM2 folder)."""
    from assistant.engine.llamacpp.backend import LlamaCppBackend

    gguf_file = convert.convert_folder(demo_model_dir, tmp_path / "out")
    backend = LlamaCppBackend.load(gguf_file)
    try:
        text = "".join(backend.stream([Message("user", "Say hello.")],
                                      GenerationSettings(max_new_tokens=6, temperature=0.0), threading.Event()))
    finally:
        backend.close()
    assert text.strip()


def test_a_folder_without_weights_or_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="config.json"):
        convert.convert_folder(tmp_path, tmp_path / "out")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="safetensors"):
        convert.convert_folder(tmp_path, tmp_path / "out")


def test_too_little_disk_space_is_refused_before_anything_is_written(tiny_llama: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.disk_usage
    monkeypatch.setattr(convert.shutil, "disk_usage", lambda path: real(path)._replace(free=10 * 2**20))
    with pytest.raises(ModelLoadError, match="not enough free disk space") as refused:
        convert.convert_folder(tiny_llama, tmp_path / "out")
    assert "tiny-llama" in refused.value.message
    assert list((tmp_path / "out").iterdir()) == []


def test_the_hash_follows_the_weights(tiny_llama: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(tiny_llama, folder)
    first = convert.target_path(folder, tmp_path)
    assert convert.target_path(folder, tmp_path) == first
    (folder / "model.safetensors").touch()
    assert convert.target_path(folder, tmp_path) != first


@pytest.mark.slow
def test_a_folder_chosen_on_a_computer_without_a_gpu_is_converted_at_its_first_load(tiny_llama: Path) -> None:
    """``load_model`` with engine "llamacpp": the folder is converted once into the data folder, the
    progress bar only moves forward through the named stages, and the second load reuses the file."""
    from assistant.app.services import gguf_dir, load_model
    from assistant.store.config import Config

    config = Config.load()
    config.settings.engine = "llamacpp"
    heard: list[tuple[float, str]] = []
    backend = load_model(config, str(tiny_llama), lambda line: None, lambda f, words: heard.append((f, words)))
    try:
        assert "llama.cpp" in backend.info.engine and "Q4_K_M" in backend.info.precision
        text = "".join(backend.stream([Message("user", "Hi")], GenerationSettings(max_new_tokens=3, temperature=0.0),
                                      threading.Event()))
        assert text is not None
    finally:
        backend.close()
    (made,) = gguf_dir(config).glob("*.Q4_K_M.gguf")
    assert made.is_relative_to(config.paths.root) and not list(tiny_llama.glob("*.gguf"))
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0, heard
    assert any(getattr(words, "stage", None) and words.stage.name == "convert" for _, words in heard)
    again = load_model(config, str(tiny_llama), lambda line: None)
    again.close()
    assert list(gguf_dir(config).glob("*.gguf")) == [made]
