"""The model families practices run, each through the real code path.

For every family a tiny random model of its real architecture, carrying a
faithful copy of its real chat template, goes through ``models add``, a 4-bit
NF4 load (bitsandbytes, on the processor here), a chat generation with a real
chat preset through the engine, and a second load from the saved 4-bit copy
(quantize once). Then a few template-only checks for the variants that differ
only in their template (Llama 3.0 and 3.2, Phi-3 as first released).
"""

from __future__ import annotations

import threading
from pathlib import Path

import bitsandbytes as bnb
import pytest
from tiny_models import FAMILIES, build_tiny_model

from assistant.app.services import build_services, load_model, quantized_dir
from assistant.core.documents.chat import chat_messages
from assistant.core.messages import GenerationSettings, Message
from assistant.engine import models
from assistant.engine.hf import TransformersBackend
from assistant.store.config import Config

RUN = ["llama3.1", "mistral", "phi3", "gemma2", "gemma3", "gemma3-vision", "qwen2.5"]
SHORT = GenerationSettings(max_new_tokens=8, temperature=0)
SYSTEM = "You write short, plain notes for a therapy practice."
CHAT = [Message("system", SYSTEM), Message("user", "Write one sentence about the next appointment.")]


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {name: build_tiny_model(root / f"tiny-{name}", name) for name in FAMILIES}


def run_chat(services, text: str = "Write a short reminder for next week.") -> str:
    preset = services.presets.of_kind("chat")[0]
    messages = chat_messages(preset, [], text)
    return "".join(services.engine.stream(messages, SHORT, kind="chat"))


@pytest.mark.parametrize("family", RUN)
def test_family_add_load_4bit_chat_and_reload_from_the_4bit_copy(family: str, family_dirs: dict[str, Path]) -> None:
    spec = FAMILIES[family]
    config = Config.load()
    config.settings.cpu_precision = "4bit"  # what a GPU gets; on this processor only on request
    config.settings.engine = "transformers"  # the transformers engine, as on a GPU

    entry = models.add_model(config, family_dirs[family])
    assert entry.architecture == spec.architecture
    assert entry.family == models.SUPPORTED[spec.architecture]
    assert entry.parameters > 0 and entry.estimate_4bit_bytes > 0
    assert [e.name for e in models.list_models(config)] == ["demo", entry.name]

    backend = load_model(config, entry.path)
    assert "4-bit NF4" in backend.info.precision
    assert backend.from_saved_4bit is False
    quantized = [m for m in backend.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantized and all(m.weight.quant_type == "nf4" for m in quantized)

    prompt = backend.tokenizer.decode(backend._template(CHAT)["input_ids"][0])
    assert spec.marker in prompt, "the family's own chat template was not used"
    assert SYSTEM in prompt, "the system prompt was lost"
    if "bos_token" in spec.template:
        assert prompt.startswith(spec.bos) and prompt.count(spec.bos) == 1  # no doubled BOS

    services = build_services(config, backend)
    backend.model.generation_config.eos_token_id = None  # random weights: write all 8 tokens, never stop early
    assert run_chat(services)  # noise, but 8 real tokens of it
    assert services.engine.generations == 1

    saved = list(quantized_dir(config).iterdir())
    assert len(saved) == 1 and (saved[0] / "complete.json").is_file()
    backend.close()
    again = load_model(config, entry.path)
    assert again.from_saved_4bit is True
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in again.model.modules())
    pieces = list(again.stream(CHAT, SHORT, threading.Event()))
    assert all(isinstance(p, str) for p in pieces)


@pytest.mark.parametrize("family, expected", [
    ("llama3", "<|start_header_id|>system<|end_header_id|>\n\n" + SYSTEM + "<|eot_id|>"),
    ("llama3.2", "Today Date: "),
    ("mistral", "[INST] " + SYSTEM + "\n\nWrite one sentence"),
    ("qwen2.5", "<|im_start|>system\n" + SYSTEM + "<|im_end|>"),
    ("gemma3", "<start_of_turn>user\n" + SYSTEM + "\n\nWrite one sentence"),
])
def test_template_places_the_system_prompt_the_family_way(family: str, expected: str, family_dirs) -> None:
    backend = _template_only(family_dirs[family])
    prompt = backend.tokenizer.decode(backend._template(CHAT)["input_ids"][0])
    assert expected in prompt
    assert FAMILIES[family].marker in prompt
    assert prompt.endswith(FAMILIES[family].reply), "the prompt must end by opening the assistant's turn"


@pytest.mark.parametrize("family", ["gemma2", "phi3-april"])
def test_templates_without_a_system_role_get_it_folded_into_the_first_user_turn(family: str, family_dirs) -> None:
    """Gemma 2 refuses a system turn; Phi-3 as first released silently drops it. Both keep it this way."""
    backend = _template_only(family_dirs[family])
    tokenizer = backend.tokenizer
    raw = [{"role": m.role, "content": m.content} for m in CHAT]
    if family == "phi3-april":
        assert SYSTEM not in tokenizer.apply_chat_template(raw, tokenize=False, add_generation_prompt=True)
    prompt = tokenizer.decode(backend._template(CHAT)["input_ids"][0])
    assert prompt.count(SYSTEM) == 1
    assert prompt.index(SYSTEM) < prompt.index("Write one sentence")


def test_multi_turn_chat_keeps_alternating_for_strict_templates(family_dirs) -> None:
    history = [{"role": "user", "content": "Hello."}, {"role": "assistant", "content": "Hello, how can I help?"}]
    config = Config.load()
    for family in ("mistral", "gemma2", "gemma3"):
        backend = _template_only(family_dirs[family])
        services = build_services(config, backend)
        messages = chat_messages(services.presets.of_kind("chat")[0], history, "Write a note.")
        assert backend.count_tokens(messages) > backend.count_tokens(messages[-1:])


def _template_only(folder: Path) -> TransformersBackend:
    """A backend with the family's real tokenizer and no weights: enough to render prompts."""
    from transformers import AutoTokenizer

    from assistant.engine.contract import ModelInfo

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return TransformersBackend(None, tokenizer, ModelInfo(folder.name, "test", "none", 2048))
