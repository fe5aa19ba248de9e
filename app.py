"""Entry point for a double-click and for PyInstaller.

The privacy lockdown (offline environment, egress guard) runs before anything
imports gradio, transformers or huggingface_hub.
"""

import multiprocessing

from assistant.privacy import lockdown

lockdown()

from assistant.cli import main  # noqa: E402

if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(main())
