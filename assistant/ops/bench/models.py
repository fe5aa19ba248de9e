"""The benchmark's models, prepared once in a cache folder.

* ``demo``: the built-in demo model's own GGUF file (SmolLM2-135M-Instruct, Q4_1) for llama.cpp,
  and the same model converted once to a safetensors folder for transformers.
* ``synthetic-1b``: a Llama-shaped model at Llama-3.2-1B size (hidden 2048, 16 layers, 32 heads,
  8 key/value heads, intermediate 8192, tied embeddings) with random weights, written as bf16
  safetensors by plain numpy, one tensor at a time, and converted to GGUF Q4_K_M by the app's own
  ``convert_folder`` (llama.cpp's converter and quantizer). Its vocabulary and tokenizer are the
  demo model's (49,152 tokens; Llama 3.2's own has 128,256, so its embedding table here is a
  third of the real one's: about 1.07 billion parameters in all, against 1.24). Speed does not
  depend on the weights' values, so nothing is downloaded.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

from assistant.engine import demo_model

SYNTHETIC = {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
             "intermediate_size": 8192}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")
SYNTHETIC_NAME = "synthetic-1b-llama"


def demo_folder(cache: Path, app_copy: Path | None = None) -> Path:
    """The demo model as safetensors: the app's own converted copy when there is one, else one in ``cache``."""
    if app_copy is not None and demo_model.is_converted(app_copy):
        return app_copy
    folder = cache / "demo-smollm2-135m-instruct"
    if not demo_model.is_converted(folder):
        from assistant.engine import hf

        folder.parent.mkdir(parents=True, exist_ok=True)
        hf.convert_gguf(demo_model.find_demo_gguf(), folder)
    return folder


def _tensors(config: dict) -> list[tuple[str, tuple[int, ...], float]]:
    """(name, shape, scale) of every tensor of a Llama model; scale 0 means a norm's ones."""
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    kv = config["num_key_value_heads"] * (h // config["num_attention_heads"])
    out: list[tuple[str, tuple[int, ...], float]] = [("model.embed_tokens.weight", (v, h), 0.02)]
    for n in range(config["num_hidden_layers"]):
        p = f"model.layers.{n}."
        out += [(p + "input_layernorm.weight", (h,), 0.0), (p + "post_attention_layernorm.weight", (h,), 0.0),
                (p + "self_attn.q_proj.weight", (h, h), 0.02), (p + "self_attn.k_proj.weight", (kv, h), 0.02),
                (p + "self_attn.v_proj.weight", (kv, h), 0.02), (p + "self_attn.o_proj.weight", (h, h), 0.02),
                (p + "mlp.gate_proj.weight", (i, h), 0.02), (p + "mlp.up_proj.weight", (i, h), 0.02),
                (p + "mlp.down_proj.weight", (h, i), 0.02)]
    return [*out, ("model.norm.weight", (h,), 0.0)]


def _write_safetensors(path: Path, tensors: list[tuple[str, tuple[int, ...], float]], seed: int = 0) -> None:
    """bf16 safetensors of random normal weights (norms: ones), one tensor in memory at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    header, offset = {}, 0
    for name, shape, _ in tensors:
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        handle.write(struct.pack("<Q", len(head)) + head)
        for _, shape, scale in tensors:
            if scale == 0.0:
                values = np.ones(shape, dtype=np.float32)
            else:
                values = rng.standard_normal(shape, dtype=np.float32)
                values *= scale
            handle.write((values.view(np.uint32) >> 16).astype(np.uint16).tobytes())  # bf16: the top half
            del values
    partial.replace(path)


def synthetic_folder(cache: Path, tokenizer_from: Path) -> Path:
    """The random 1B Llama in ``cache`` (bf16 safetensors), written once."""
    folder = cache / SYNTHETIC_NAME
    if (folder / "model.safetensors").is_file() and (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    demo = json.loads((tokenizer_from / "config.json").read_text(encoding="utf-8"))
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", **SYNTHETIC, "head_dim": 64,
        "vocab_size": demo["vocab_size"], "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0, "hidden_act": "silu", "tie_word_embeddings": True, "attention_bias": False,
        "mlp_bias": False, "bos_token_id": demo.get("bos_token_id"), "eos_token_id": demo.get("eos_token_id"),
        "torch_dtype": "bfloat16", "initializer_range": 0.02,
    }
    for name in TOKENIZER_FILES:
        if (tokenizer_from / name).is_file():
            shutil.copy2(tokenizer_from / name, folder / name)
    if (tokenizer_from / "generation_config.json").is_file():
        shutil.copy2(tokenizer_from / "generation_config.json", folder / "generation_config.json")
    _write_safetensors(folder / "model.safetensors", _tensors(config))
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")  # last: marks it complete
    return folder


def prepare(names: list[str], cache: Path, app_demo: Path | None = None,
            progress: Callable[[str], None] = print) -> dict[str, dict[str, str]]:
    """For each model name: its GGUF file and its safetensors folder (built or converted when missing)."""
    from assistant.engine.llamacpp.convert import convert_folder

    cache.mkdir(parents=True, exist_ok=True)
    demo = demo_folder(cache, app_demo)
    out: dict[str, dict[str, str]] = {}
    for name in names:
        if name == "demo":
            out[name] = {"gguf": str(demo_model.find_demo_gguf()), "folder": str(demo)}
        elif name == "synthetic-1b":
            progress("Building the synthetic 1B model (first run only) ...")
            folder = synthetic_folder(cache, demo)
            progress("Converting it to GGUF Q4_K_M (first run only) ...")
            out[name] = {"gguf": str(convert_folder(folder, cache / "gguf")), "folder": str(folder)}
        else:
            raise ValueError(f"unknown benchmark model {name!r}: choose demo or synthetic-1b")
    return out
