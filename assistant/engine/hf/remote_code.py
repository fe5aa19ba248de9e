"""Held to local files, never remote code: transformers' loaders as llama.cpp's converter calls them.

The converter (run in a child process, ``assistant convert-model``) asks for tokenizers with
``trust_remote_code=True``, so a model folder whose ``auto_map`` names its own Python file would
run it. ``forbid_remote_code`` makes every ``from_pretrained`` of the Auto classes local-only and
without remote code, whatever the caller asks.
"""

from __future__ import annotations

from typing import Any

import transformers


def forbid_remote_code() -> None:
    for cls in (transformers.AutoTokenizer, transformers.AutoConfig, transformers.AutoModelForCausalLM):
        original = cls.from_pretrained.__func__

        def safe(klass: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            kwargs.update(trust_remote_code=False, local_files_only=True)
            return _original(klass, *args, **kwargs)

        cls.from_pretrained = classmethod(safe)
