"""Adding a GGUF model file (``assistant models add FILE.gguf``, Add a model in the System tab),
with real files: the demo model's own GGUF (copied into the test's folder), and tiny GGUF files
written with the ``gguf`` package's ``GGUFWriter``. Each bad input gets a plain message naming the
file, and nothing is registered or copied; fixed, the same file is added."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import struct
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFWriter

from assistant.cli import main
from assistant.core.messages import GenerationSettings, Message
from assistant.engine import demo_model, gguf_file, models
from assistant.errors import ModelLoadError, ModelNotFound
from assistant.store.config import Config

TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}<|assistant|>"
TENSOR = "blk.0.attn_q.weight"


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model's GGUF, copied once for this module (never changed: tests link or copy it)."""
    target = tmp_path_factory.mktemp("demo") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    shutil.copyfile(demo_model.find_demo_gguf(), target)
    return target


@pytest.fixture
def demo_copy(demo_file: Path, tmp_path: Path) -> Path:
    """This test's own name for the demo file, in a folder of its own (a hard link: no 98 MB copy)."""
    target = tmp_path / "incoming" / demo_file.name
    target.parent.mkdir()
    os.link(demo_file, target)
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


def tiny_gguf(path: Path, architecture: str = "llama", *, template: bool = True) -> Path:
    """A small GGUF file: a few metadata keys and one Q4_0 tensor (2 x 64 weights, 72 bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(path), architecture)
    writer.add_name("tiny")
    writer.add_block_count(1)
    writer.add_context_length(256)
    writer.add_embedding_length(64)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_file_type(2)  # MOSTLY_Q4_0
    if template:
        writer.add_chat_template(TEMPLATE)
    writer.add_tensor(TENSOR, np.zeros((2, 36), dtype=np.uint8), raw_dtype=GGMLQuantizationType.Q4_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def set_tensor_type(path: Path, kind: int) -> None:
    """Patch the type field of the tiny file's tensor (after its name, dimension count and dimensions)."""
    data = bytearray(path.read_bytes())
    name = TENSOR.encode()
    at = data.index(struct.pack("<Q", len(name)) + name) + 8 + len(name)
    (dims,) = struct.unpack_from("<I", data, at)
    field = at + 4 + 8 * dims
    assert struct.unpack_from("<I", data, field)[0] == GGMLQuantizationType.Q4_0
    struct.pack_into("<I", data, field, kind)
    path.write_bytes(bytes(data))


def nothing_installed(config: Config) -> None:
    assert models.load_registry(config) == []
    folder = config.paths.models
    leftovers = [p.name for p in folder.iterdir() if p.name != models.REGISTRY_NAME] if folder.is_dir() else []
    assert not [n for n in leftovers if n.endswith((".gguf", ".partial"))], leftovers


# -- a good file ---------------------------------------------------------------------------


def test_the_demo_file_installs_in_place_and_copied(demo_copy: Path) -> None:
    config = Config.load()
    before = demo_copy.stat().st_mtime_ns
    in_place = models.add_model(config, demo_copy)
    assert (in_place.format, in_place.quantization, in_place.family) == ("gguf", "Q4_1", "Llama 3.x / Mistral")
    assert in_place.path == str(demo_copy.resolve()) and not in_place.copied
    assert in_place.name == "SmolLM2-135M-Instruct.Q4_1"
    assert in_place.weight_bytes == demo_copy.stat().st_size and in_place.parameters > 100_000_000
    assert in_place.memory_bytes > in_place.weight_bytes and in_place.estimate_4bit_bytes == 0
    assert demo_copy.stat().st_mtime_ns == before  # nothing written beside the file

    copied = models.add_model(config, demo_copy, copy=True, name="demo-copied")
    target = config.paths.models / "demo-copied.gguf"
    assert copied.copied and copied.path == str(target) and target.stat().st_size == demo_copy.stat().st_size
    assert not list(config.paths.models.glob("*.partial"))
    names = [e.name for e in models.list_models(config)]
    assert names == ["demo", in_place.name, "demo-copied"]
    assert models.find_model(config, "demo-copied").format == "gguf"
    assert gguf_file.check_gguf(target).quantization == "Q4_1"


@pytest.mark.slow
def test_llama_cpp_loads_the_registered_file_and_writes(demo_copy: Path) -> None:
    from assistant.engine.llamacpp.backend import LlamaCppBackend

    entry = models.add_model(Config.load(), demo_copy, copy=True)
    backend = LlamaCppBackend.load(Path(entry.path))
    try:
        pieces = list(backend.stream([Message("user", "Say hello.")],
                                     GenerationSettings(max_new_tokens=6, temperature=0.0), threading.Event()))
    finally:
        backend.close()
    assert pieces and "".join(pieces).strip()


def test_a_registry_written_before_formats_still_loads(demo_copy: Path) -> None:
    config = Config.load()
    config.paths.models.mkdir(parents=True, exist_ok=True)
    old = {"schema_version": 1, "models": [{"name": "old-one", "path": "/opt/models/old", "family": "Llama 3.x",
                                            "estimate_4bit_bytes": 5 * 1024**3, "parameters": 8_000_000_000}]}
    (config.paths.models / models.REGISTRY_NAME).write_text(json.dumps(old))
    (entry,) = models.load_registry(config)
    assert (entry.format, entry.quantization) == ("safetensors", "")
    assert models.kind_words(entry) == "model folder, about 5.0 GB in 4-bit"
    models.add_model(config, demo_copy)
    assert [e.format for e in models.load_registry(config)] == ["safetensors", "gguf"]


def test_the_demo_is_listed_from_its_gguf_without_a_conversion() -> None:
    config = Config.load()
    assert not demo_model.is_converted(config.paths.demo_model)
    (demo,) = models.list_models(config)
    assert demo.builtin and demo.format == "gguf" and demo.quantization == "Q4_1"
    assert Path(demo.path) == demo_model.find_demo_gguf()
    assert models.kind_words(demo) == "GGUF file, Q4_1, 94 MB"


def test_cli_add_and_list_say_what_was_installed(demo_copy: Path, capsys, no_new_log_handlers) -> None:
    assert main(["models", "add", str(demo_copy), "--name", "smol"]) == 0
    out = capsys.readouterr().out
    assert "Installed smol: Llama 3.x / Mistral, 135M parameters, GGUF file, Q4_1, 94 MB, needs about" in out
    assert f"used from {demo_copy.resolve()}" in out and "assistant models use smol" in out
    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("* demo ") and "built in, GGUF file, Q4_1, 94 MB" in listed[0]
    assert listed[1].startswith("  smol ") and "135M parameters, GGUF file, Q4_1, 94 MB" in listed[1]
    assert main(["models", "use", "smol"]) == 0
    assert Config.load().settings.model_path == str(demo_copy.resolve())
    assert models.active_name(Config.load()) == "smol"


def test_an_added_file_never_takes_the_demo_models_name(demo_copy: Path) -> None:
    assert models.add_model(Config.load(), demo_copy, name="demo").name == "demo-copy"


def test_a_folder_holding_one_gguf_file_adds_that_file_and_several_are_refused(demo_copy: Path) -> None:
    config = Config.load()
    assert models.add_model(config, demo_copy.parent).path == str(demo_copy.resolve())
    tiny_gguf(demo_copy.parent / "other.gguf")
    with pytest.raises(ModelLoadError, match=r"holds 2 GGUF files .*Choose one of them"):
        models.add_model(config, demo_copy.parent, name="again")


def test_the_system_tab_adds_a_gguf_file(demo_copy: Path) -> None:
    import gradio as gr

    from assistant.app.services import build_services
    from assistant.engine.fake import FakeBackend
    from assistant.web.tabs import system_tab

    services = build_services(Config.load(), FakeBackend())
    text = system_tab.add_model(services, f'"{demo_copy}"', False)  # pasted with quotes, as Windows copies it
    assert "Added **SmolLM2-135M-Instruct.Q4_1**" in text and "GGUF file, Q4_1, 94 MB" in text
    assert "SmolLM2-135M-Instruct.Q4_1" in [value for _, value in system_tab.model_choices(services)]
    bad = demo_copy.parent / "notes.gguf"
    bad.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(gr.Error, match="notes.gguf is not a GGUF model file: it looks like a PyTorch pickle"):
        system_tab.add_model(services, str(bad), True)
    assert [e.name for e in models.load_registry(services.config)] == ["SmolLM2-135M-Instruct.Q4_1"]


# -- bad input -----------------------------------------------------------------------------


def _truncated(folder: Path, demo: Path) -> Path:
    target = folder / "cut.gguf"
    with demo.open("rb") as source:
        target.write_bytes(source.read(demo.stat().st_size // 2))
    return target


def _torch_pickle(folder: Path, demo: Path) -> Path:
    import torch

    target = folder / "weights.gguf"
    torch.save({"model.embed_tokens.weight": torch.zeros(4, 4)}, target)
    return target


def _plain_pickle(folder: Path, demo: Path) -> Path:
    target = folder / "old-weights.gguf"
    target.write_bytes(pickle.dumps({"weights": [0.0] * 16}, protocol=2))
    return target


def _zip(folder: Path, demo: Path) -> Path:
    target = folder / "archive.gguf"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    return target


def _unknown_type(folder: Path, demo: Path) -> Path:
    target = tiny_gguf(folder / "strange.gguf")
    set_tensor_type(target, 99)
    return target


def _removed_type(folder: Path, demo: Path) -> Path:  # Q4_2, long removed from llama.cpp
    target = tiny_gguf(folder / "old-q4-2.gguf")
    set_tensor_type(target, 4)
    return target


def _text(folder: Path, demo: Path) -> Path:
    target = folder / "letter.gguf"
    target.write_text("Dear colleague, please find the summary attached.")
    return target


BAD = {
    "truncated": (_truncated, r"cut.gguf is incomplete: it has [0-9,]+ of its [0-9,]+ bytes.*copy the file again"),
    "unsupported architecture": (lambda f, d: tiny_gguf(f / "encoder.gguf", "bert"),
                                 r"encoder.gguf holds a model of a kind .*\(architecture 'bert'\). Supported: Llama"),
    "torch pickle renamed": (_torch_pickle, r"weights.gguf is not a GGUF model file: it looks like a PyTorch pickle"),
    "plain pickle renamed": (_plain_pickle, r"old-weights.gguf is not a GGUF model file: it looks like a PyTorch"),
    "zip renamed": (_zip, r"archive.gguf is not a GGUF model file: it looks like a PyTorch pickle"),
    "unknown tensor type": (_unknown_type, r"strange.gguf uses a kind of compression \(tensor type 99\).*Q4_K_M"),
    "removed tensor type": (_removed_type, r"old-q4-2.gguf uses a kind of compression \(tensor type 4\)"),
    "no chat template": (lambda f, d: tiny_gguf(f / "base.gguf", template=False),
                         r"base.gguf has no chat template.*'Instruct' version"),
    "not a model at all": (_text, r"letter.gguf is not a GGUF model file. Choose the model's .gguf file"),
}


@pytest.mark.parametrize("problem", list(BAD))
def test_a_bad_file_is_refused_in_plain_words_and_nothing_is_installed(
    problem: str, demo_file: Path, tmp_path: Path
) -> None:
    make, reason = BAD[problem]
    folder = tmp_path / "incoming"
    folder.mkdir()
    bad = make(folder, demo_file)
    config = Config.load()
    for copy in (False, True):
        with pytest.raises(ModelLoadError, match=reason) as info:
            models.add_model(config, bad, copy=copy)
        assert bad.name in info.value.message and "Traceback" not in info.value.message
        nothing_installed(config)


def test_a_file_fixed_after_a_refusal_is_added(demo_file: Path, tmp_path: Path) -> None:
    config = Config.load()
    folder = tmp_path / "incoming"
    folder.mkdir()
    cut = _truncated(folder, demo_file)
    with pytest.raises(ModelLoadError, match="incomplete"):
        models.add_model(config, cut, copy=True)
    nothing_installed(config)
    shutil.copyfile(demo_file, cut)  # copied again, whole
    entry = models.add_model(config, cut, copy=True)
    assert entry.name == "cut" and Path(entry.path).stat().st_size == demo_file.stat().st_size


def test_a_missing_file_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="No model file was found at .*nowhere.gguf"):
        models.add_model(Config.load(), tmp_path / "nowhere.gguf")


def test_a_file_bigger_than_the_memory_is_refused_unless_forced(demo_copy: Path) -> None:
    config = Config.load()
    need = models.model_files.memory_needed(gguf_file.check_gguf(demo_copy))
    with pytest.raises(ModelLoadError) as info:
        models.add_model(config, demo_copy, copy=True, available_bytes=need // 2)
    message = info.value.message
    assert message.startswith(f"{demo_copy.name} needs about {models.gib(need)} of memory to run")
    assert f"about {models.gib(need // 2)} available" in message and "smaller file" in message
    assert "--force" in message
    nothing_installed(config)
    assert models.add_model(config, demo_copy, available_bytes=need).memory_bytes == need  # just fits
    forced = models.add_model(config, demo_copy, copy=True, name="forced", available_bytes=need // 2, force=True)
    assert Path(forced.path).is_file()


def _sums(folder: Path, lines: dict[str, str]) -> Path:
    manifest = folder / "SHA256SUMS"
    manifest.write_text("".join(f"{digest}  {name}\n" for name, digest in lines.items()))
    return manifest


def test_sha256sums_beside_the_file_or_given_is_checked(demo_copy: Path, demo_file: Path, tmp_path: Path) -> None:
    config = Config.load()
    folder = demo_copy.parent
    right = hashlib.sha256(demo_file.read_bytes()).hexdigest()
    _sums(folder, {demo_copy.name: "0" * 64})
    with pytest.raises(ModelLoadError, match=f"{demo_copy.name}: SHA-256 mismatch: .*Copy the file again"):
        models.add_model(config, demo_copy, copy=True)
    nothing_installed(config)

    other = tmp_path / "vendor" / "SHA256SUMS"  # given: it must list the file
    other.parent.mkdir()
    other.write_text(f"{right}  another.Q8_0.gguf\n")
    with pytest.raises(ModelLoadError, match=f"{demo_copy.name}: not in the manifest: SHA256SUMS has no line"):
        models.add_model(config, demo_copy, manifest=other)
    nothing_installed(config)

    # found beside it, a manifest that does not list it is someone else's: not used
    _sums(folder, {"another.Q8_0.gguf": "1" * 64})
    assert models.add_model(config, demo_copy, name="unlisted").verified_files == 0
    # the right line (other quantizations beside it are not read)
    _sums(folder, {demo_copy.name: right, "another.Q8_0.gguf": "1" * 64})
    assert models.add_model(config, demo_copy, copy=True).verified_files == 1


@pytest.mark.parametrize("problem", ["truncated", "torch pickle renamed", "no chat template"])
def test_cli_add_of_a_bad_file_exits_non_zero_with_a_where_what_why_line(
    problem: str, demo_file: Path, tmp_path: Path, capsys, no_new_log_handlers
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    bad = BAD[problem][0](folder, demo_file)
    assert main(["models", "add", str(bad), "--copy"]) == 1
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if x.startswith(f"{bad}: refused: ")]
    assert bad.name in line.removeprefix(f"{bad}: refused: ") and "Traceback" not in out
    nothing_installed(Config.load())


# -- the header check itself ---------------------------------------------------------------


def test_a_type_this_llama_cpp_loads_is_not_refused(tmp_path: Path) -> None:
    """Q2_0 (42) is in the llama.cpp carried here but not in the PyPI gguf 0.19 release."""
    path = tiny_gguf(tmp_path / "two-bit.gguf")
    set_tensor_type(path, 42)
    assert gguf_file.check_gguf(path).parameters == 128


def test_the_sizes_of_every_tensor_type_are_those_of_the_llama_cpp_carried_here() -> None:
    """Asked of llama.cpp's own ggml library: a type it loads has the same (block, bytes) here, and a
    type it removed (block size 0) is refused here; an upgrade of llama-cpp-python that adds one fails."""
    import ctypes

    import llama_cpp
    from llama_cpp._ggml import libggml

    libggml.ggml_blck_size.argtypes = libggml.ggml_type_size.argtypes = [ctypes.c_int]
    libggml.ggml_blck_size.restype, libggml.ggml_type_size.restype = ctypes.c_int64, ctypes.c_size_t
    known = 0
    for kind in range(llama_cpp.GGML_TYPE_COUNT):
        block, size = libggml.ggml_blck_size(kind), libggml.ggml_type_size(kind)
        if block == 0:
            with pytest.raises(KeyError):
                gguf_file.type_sizes(kind)
        else:
            assert gguf_file.type_sizes(kind) == (block, size), kind
            known += 1
    assert known > 30
    with pytest.raises(KeyError):
        gguf_file.type_sizes(llama_cpp.GGML_TYPE_COUNT)


def test_a_big_endian_file_is_named_as_such(tmp_path: Path) -> None:
    path = tiny_gguf(tmp_path / "mainframe.gguf")
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack(">I", 3)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="mainframe.gguf is a GGUF file made for a different kind of computer"):
        gguf_file.check_gguf(path)
