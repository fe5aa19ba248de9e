"""Domain exceptions. The core raises these; the edges (CLI, UI) turn them into
plain-language messages. Every message says what happened and what to do next.

    AssistantError                 base; ``message`` is safe to show to a user
    ├── InputError                 what the user typed cannot be used as it is
    │   ├── InputTooLong           longer than a field allows or the model can read
    │   └── ExportError            an approved draft could not be written to a file
    ├── PresetError                a preset file is broken (names the file and field)
    ├── ModelError                 anything about the language model
    │   ├── ModelNotFound          no model folder where one was expected
    │   ├── ModelLoadError         a model folder exists but cannot be loaded
    │   ├── ModelBusy              the model is still loading
    │   └── GenerationError        the model failed while writing
    └── NetworkRefused             a request for a non-loopback address or a connection out

No message ever contains clinical text: messages may be logged.
"""

from __future__ import annotations

import traceback
from pathlib import Path


class AssistantError(Exception):
    """Base class. ``str(err)`` is a complete, user-facing sentence or two."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(AssistantError):
    """Raised when user input is empty, not text, or otherwise unusable."""


class InputTooLong(InputError):
    """Raised when input exceeds a field's limit or the model's reading window."""


class ExportError(InputError):
    """Raised when an export cannot be written (disk full, folder not writable) or
    a PDF font lacks some of the text's characters; the caller keeps the text."""


class PresetError(AssistantError):
    """Raised when a preset file fails validation; the message names file and field."""


class ModelError(AssistantError):
    """Raised for problems with the language model."""


class ModelNotFound(ModelError):
    """Raised when the configured model folder does not exist or is empty."""


class ModelLoadError(ModelError):
    """Raised when a model folder exists but cannot be loaded safely."""


class ModelBusy(ModelError):
    """Raised when a request arrives before the model has finished loading."""


class GenerationError(ModelError):
    """Raised when the model fails in the middle of writing a draft."""


class NetworkRefused(AssistantError):
    """Raised when asked to listen beyond loopback or to connect outside the computer."""


def where_failed(exc: BaseException, depth: int = 5) -> str:
    """Type and location of an exception for the log, without its message.

    Exception messages can quote what the user typed, so logs get only
    ``APIConnectionError at file.py:12 func <- ... (from ConnectError <- SSLEOFError)``: the
    causes' types say which of several failures behind one library error it was.
    """
    frames = traceback.extract_tb(exc.__traceback__)[-depth:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    causes, seen, item = [], {id(exc)}, exc.__cause__ or exc.__context__
    while item is not None and id(item) not in seen and len(causes) < depth:
        causes.append(type(item).__name__)
        seen.add(id(item))
        item = item.__cause__ or item.__context__
    return f"{type(exc).__name__} at {where or '?'}" + (f" (from {' <- '.join(causes)})" if causes else "")
