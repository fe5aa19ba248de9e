"""What the commands print, and where the log goes.

``say`` prints one line for the person at the terminal (nothing in a windowed app).
``setup_logging`` sends the log to the data folder's ``logs/``; its formatter writes any
exception as type and place only, since an exception's message can quote what a user typed.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from assistant.errors import where_failed


class NoTextFormatter(logging.Formatter):
    """Any library's logged exception becomes its type and code location: exception messages can
    quote what the user typed (assistant.errors.where_failed)."""

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return "  " + where_failed(ei[1]) if ei and ei[1] is not None else ""

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return ""


def setup_logging(folder: Path) -> None:
    """Log to the user's log folder. Messages carry ids, sizes and timings, never text."""
    handler = logging.handlers.RotatingFileHandler(folder / "assistant.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(NoTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    for noisy in ("httpx", "httpcore", "uvicorn.access", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def say(text: str) -> None:
    stream = sys.stdout
    if stream is not None:  # None in a windowed (frozen) app
        print(text, file=stream, flush=True)
