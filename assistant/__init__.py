"""Practice Assistant: a private, on-premises writing assistant for small therapy practices.

The package is split so that the core (documents, presets, config, privacy)
is plain Python. Only ``assistant.engine.hf`` imports torch/transformers/
bitsandbytes, and only ``assistant.web`` imports gradio.
"""

__version__ = "0.1.0"
