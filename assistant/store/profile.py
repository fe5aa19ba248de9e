"""The practice profile on disk: ``<data>/profile.json``, written atomically.

A damaged file is reported in the log and left in place for a person to look at; the app
goes on with an empty profile.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import ValidationError

from assistant.core.profile import PracticeProfile
from assistant.errors import InputError
from assistant.store.files import atomic_write

log = logging.getLogger(__name__)


def profile_file(data_root: Path) -> Path:
    return data_root / "profile.json"


def load_profile(data_root: Path) -> PracticeProfile:
    """The saved profile, or an empty one. A damaged file is reported and left in place."""
    path = profile_file(data_root)
    try:
        return PracticeProfile.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return PracticeProfile()
    except (OSError, ValueError, ValidationError) as exc:
        log.warning("practice profile unreadable (%s); using an empty one", type(exc).__name__)
        return PracticeProfile()


def save_profile(data_root: Path, profile: PracticeProfile) -> None:
    """A crash leaves either the old or the new file, never half of one."""
    try:
        atomic_write(profile_file(data_root), json.dumps(profile.model_dump(), indent=2))
    except OSError as exc:
        raise InputError(
            f"The practice profile could not be saved ({exc.strerror or type(exc).__name__}). "
            "Check that the disk is not full, then try again. Your changes are still on the screen."
        ) from exc
