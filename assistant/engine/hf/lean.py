"""The lean decoding step: one token for Llama-shaped models with far less Python than the model's
own forward, the same operations in the same order (tests compare the results bit for bit), and
the float32 matrix products used while reading prompts. Which models qualify: ``lean_plan``."""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from assistant.engine.hf.kv import _KVLayer


# Measured on the demo model on our shared 2-core build machine (bf16, one thread; README has the
# table): model.generate spends ~90 ms a token. Most of it is the matrix products, but on this
# processor three other things cost a lot and are avoided here:
# * SDPA with ``enable_gqa`` (what transformers uses for one query token without a mask) ran
#   4x slower in bf16 than the same attention with the query heads packed onto the key/value heads
#   (541 vs 123 us a layer at 300 tokens); the decoding step packs them (as transformers itself
#   does when a mask is given).
# * DynamicCache appends with torch.cat, copying the whole cache every token; ``kv._KVLayer`` writes
#   into a preallocated buffer.
# * bf16 matrix products on a processor without bf16 instructions are slow when many rows go
#   through at once: a 350-token prefill took 9.3 s in bf16 and 2.0 s with float32 products
#   (``float32_products``), so prompts are read with float32 products when the load-time test
#   says it is faster.
# Exactness: greedy results are the same with and without the prefix cache and batching (tests):
# cached prefixes are always followed by at least prefix.MIN_SUFFIX_TOKENS computed tokens (float32
# products of 1-3 rows take another kernel on this processor and round differently; from 8 rows
# on they give the same bits), and bf16 products give the same bits for a row alone or in a batch.

LEAN_FAMILIES = ("llama", "mistral", "qwen2")  # decoder layers shaped like Llama's
STATIC_ROPE = (None, "default", "linear", "llama3", "yarn")  # inverse frequencies fixed at load


def lean_plan(model: Any) -> list[tuple[Any, ...]] | None:
    """What the lean decoding step needs from a Llama-shaped model, or None to use model.forward.

    The lean step runs the same operations in the same order as the model's own forward (tests
    compare the results bit for bit) with far less Python around them."""
    config = model.config
    if config.model_type not in LEAN_FAMILIES or getattr(config, "_attn_implementation", "") != "sdpa":
        return None
    rope = (getattr(config, "rope_parameters", None) or {}).get("rope_type")
    base = getattr(model, "model", None)
    if rope not in STATIC_ROPE or base is None or not hasattr(base, "rotary_emb") or not hasattr(model, "lm_head"):
        return None
    module = importlib.import_module(type(base.layers[0].self_attn).__module__)
    rotate = getattr(module, "apply_rotary_pos_emb", None)
    if rotate is None:
        return None

    def linear(layer: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        if type(layer) is torch.nn.Linear:
            weight, bias = layer.weight, layer.bias
            return lambda x: F.linear(x, weight, bias)
        return layer  # bitsandbytes 4-bit and other kinds: their own forward

    plan = []
    try:
        for layer in base.layers:
            attn, mlp = layer.self_attn, layer.mlp
            plan.append((
                layer.input_layernorm.forward, linear(attn.q_proj), linear(attn.k_proj), linear(attn.v_proj),
                linear(attn.o_proj), layer.post_attention_layernorm.forward, linear(mlp.gate_proj),
                linear(mlp.up_proj), linear(mlp.down_proj), mlp.act_fn, attn.head_dim,
                attn.num_key_value_groups, attn.scaling, rotate,
            ))
    except AttributeError:
        return None
    return plan


def lean_step(model: Any, plan: list[tuple[Any, ...]], tokens: torch.Tensor, positions: torch.Tensor,
               starts: list[int] | None, layers: list[_KVLayer]) -> torch.Tensor:
    """The model's decoding step for Llama-shaped models: the same operations as its forward
    (attention with the query heads packed, as transformers does when given a mask). ``starts``:
    where each row's own positions begin when rows are padded.

    Attention over padded rows is computed row by row: with padding in front, SDPA's blocks fall
    differently and bf16 results differ in the last bit, which greedy decoding can notice."""
    base = model.model
    batch = tokens.shape[0]
    hidden = base.embed_tokens(tokens)
    cos, sin = base.rotary_emb(hidden, positions)
    for (norm_in, q_proj, k_proj, v_proj, o_proj, norm_post, gate, up, down, act, head_dim, groups, scaling,
         rotate), layer in zip(plan, layers, strict=True):
        residual = hidden
        x = norm_in(hidden)
        q = q_proj(x).view(batch, 1, -1, head_dim).transpose(1, 2)
        k = k_proj(x).view(batch, 1, -1, head_dim).transpose(1, 2)
        v = v_proj(x).view(batch, 1, -1, head_dim).transpose(1, 2)
        q, k = rotate(q, k, cos, sin)
        keys, values = layer.update(k, v)
        q = q.reshape(batch, -1, groups, head_dim)  # query heads packed onto their key/value head
        if starts is None:
            out = F.scaled_dot_product_attention(q, keys, values, dropout_p=0.0, scale=scaling, is_causal=False)
        else:  # padded rows one by one, without their padding: the same bits as each row alone
            out = torch.cat([
                F.scaled_dot_product_attention(q[i: i + 1], keys[i: i + 1, :, start:], values[i: i + 1, :, start:],
                                               dropout_p=0.0, scale=scaling, is_causal=False)
                for i, start in enumerate(starts)
            ])
        out = out.reshape(out.shape[0], -1, 1, values.shape[-1]).transpose(1, 2).contiguous()
        hidden = residual + o_proj(out.reshape(batch, 1, -1).contiguous())
        residual = hidden
        x = norm_post(hidden)
        hidden = residual + down(act(gate(x)) * up(x))
    return model.lm_head(base.norm(hidden))[:, -1]


def _fp32_linear(module: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    bias = module.bias.float() if module.bias is not None else None
    return F.linear(x.float(), module.weight.float(), bias).to(x.dtype)


@contextlib.contextmanager
def float32_products(linears: list[torch.nn.Linear]) -> Iterator[None]:
    """While reading a prompt: these matrix products in float32 (see the notes above); none when empty."""
    for linear in linears:
        linear.forward = functools.partial(_fp32_linear, linear)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for linear in linears:
            linear.__dict__.pop("forward", None)


def _has_hooks(model: Any) -> bool:
    """Hooks on the model's modules (accelerate's offloading, a test's fault injection) only run
    through module calls, so the lean step, which calls the weights directly, is not used."""
    from torch.nn.modules import module as nn_module

    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks or getattr(m, "_hf_hook", None) is not None
               for m in model.modules())
