"""Entry point for a double-click and for PyInstaller (build/practice_assistant.spec).

The privacy lockdown (offline environment, egress guard) runs before anything
imports gradio, transformers or huggingface_hub.
"""

import multiprocessing
import os
import sys


def prepare_process() -> None:
    """What a frozen, double-clicked app needs before anything else runs."""
    multiprocessing.freeze_support()  # a frozen child process runs its task here and exits
    # A windowed app (Windows, macOS) has no console: sys.stdout and sys.stderr are None, and a
    # library that prints progress would fail. Their output goes nowhere (never to a file: a
    # library's message could quote text).
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives as long as the app
    # Finder adds a process serial number argument to apps started on older macOS.
    sys.argv[1:] = [arg for arg in sys.argv[1:] if not arg.startswith("-psn_")]


if __name__ == "__main__":
    prepare_process()

from assistant.security.privacy import lockdown  # noqa: E402

lockdown()

from assistant.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
