"""Choosing the next token from a row's logits: the processing transformers' ``generate`` does, in
the same order: repetition penalty, then temperature, top-k, top-p; greedy at temperature 0."""

from __future__ import annotations

from typing import Any

import torch

from assistant.core.messages import GenerationSettings


def choose_token(logits: torch.Tensor, seen: torch.Tensor, settings: GenerationSettings, generation_config: Any) -> int:
    """The next token. ``seen``: (vocab,) bool, the tokens of the prompt and the answer so far."""
    scores = logits.float()
    penalty = settings.repetition_penalty
    if penalty != 1.0:
        scores = torch.where(seen, torch.where(scores < 0, scores * penalty, scores / penalty), scores)
    return sample(scores, settings, generation_config) if settings.temperature > 0 else int(scores.argmax())


def sample(scores: torch.Tensor, settings: GenerationSettings, generation_config: Any) -> int:
    """Temperature, then top-k (the model's own, else 50), then top-p; one token drawn."""
    scores = scores / settings.temperature
    top_k = getattr(generation_config, "top_k", None)
    top_k = min(50 if top_k is None else int(top_k), scores.shape[-1])
    if top_k > 0:
        scores = scores.masked_fill(scores < torch.topk(scores, top_k)[0][-1], -float("inf"))
    if settings.top_p < 1.0:
        ordered, order = torch.sort(scores, descending=False)
        remove = ordered.softmax(dim=-1).cumsum(dim=-1) <= (1 - settings.top_p)
        remove[-1:] = False
        scores = scores.masked_fill(remove.scatter(0, order, remove), -float("inf"))
    return int(torch.multinomial(scores.softmax(dim=-1), num_samples=1))
