"""Tiny, randomly initialised causal language models built on the spot.

Nothing is downloaded: the tokenizer is trained in memory with the
``tokenizers`` library and the weights come from a seeded random init, so a
model folder takes well under a second to write. The text these models produce
is noise, but it goes through exactly the same code path (config, tokenizer,
chat template, safetensors, bitsandbytes, generate, streamer) as a real model.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>"]

# A few hundred words of plain text, enough for a small BPE vocabulary.
_CORPUS = """
The client attended the session on time and reported a calmer week at home.
We reviewed the sleep diary together and discussed the breathing exercise.
She described two moments of worry at work and how she managed them.
The therapist suggested a short walk after lunch and a regular bedtime.
Progress toward the goals in the treatment plan is steady but slow.
He said the family meeting went better than expected and felt relieved.
Next appointment is planned for the same day next week in the afternoon.
The letter confirms attendance and does not include any clinical details.
Please write one sentence about a therapy appointment and keep it short.
Assessment: mood is stable, sleep has improved, appetite is normal.
Plan: continue weekly sessions, practice the grounding skill daily.
Subjective, objective, assessment and plan are the four parts of a note.
The practice is open Monday to Friday and closed on public holidays.
Thank you for your patience while we arrange the next available time.
A system message tells the assistant how to behave; a user message asks.
"""


def _train_tokenizer(with_chat_template: bool, family: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|im_end|>" if family != "gemma" else "<end_of_turn>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>"],
    )
    if with_chat_template:
        fast.chat_template = GEMMA_TEMPLATE if family == "gemma" else CHATML_TEMPLATE
    return fast


CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Like Gemma's real template: no system role, strict user/model alternation.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


def _config(family: str, tokenizer):
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    if family == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(**common)
    if family == "gemma":
        from transformers import GemmaConfig

        return GemmaConfig(head_dim=16, **common)
    raise ValueError(f"unknown tiny model family: {family!r}")


def build_tiny_model(
    folder: Path,
    family: str = "llama",
    *,
    with_chat_template: bool = True,
    pickle_weights: bool = False,
    seed: int = 0,
) -> Path:
    """Write a tiny random causal LM (safetensors) plus its tokenizer to ``folder``."""
    import torch
    from transformers import AutoModelForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = _train_tokenizer(with_chat_template, family)
    config = _config(family, tokenizer)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    if pickle_weights:
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder
