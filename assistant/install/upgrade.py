"""Keeping the data folder right across versions.

Installers replace the program and never touch the data folder (settings, presets, models,
drafts, accounts, audit log). On each start the app compares the version that last used the
data folder (``app-version.json``) with its own and runs, in order, every migration step
introduced after the older version. Steps must be safe to run twice. A data folder last used
by a newer version is left as it is (with a warning in the log), so going back a version
never rewrites newer data.

There is no update check: new versions arrive only through the vendor's installer.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable

from assistant.store.config import Paths
from assistant.store.files import atomic_write

log = logging.getLogger(__name__)

STAMP = "app-version.json"
Step = Callable[[Paths], None]
# (version that introduced the step, what it does, the step). None needed so far: versions up
# to this one keep every file in the format 0.1.0 wrote.
MIGRATIONS: list[tuple[str, str, Step]] = []


def parse_version(text: str) -> tuple[int, ...]:
    """'0.10.2' -> (0, 10, 2); anything after the numbers (e.g. '+vendor') is ignored."""
    found = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(part) for part in found.group(0).split(".")) if found else (0,)


def last_version(paths: Paths) -> str | None:
    try:
        raw = json.loads((paths.root / STAMP).read_text(encoding="utf-8"))
        return str(raw["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def migrate(paths: Paths, current: str | None = None) -> list[str]:
    """Run the steps between the data folder's version and ``current``; returns what ran."""
    if current is None:
        from assistant.install.about import version

        current = version()
    previous = last_version(paths)
    if previous == current:
        return []
    if previous is not None and parse_version(previous) > parse_version(current):
        log.warning("data folder was last used by a newer version (%s); this is %s", previous, current)
        return []
    done = []
    for introduced, what, step in MIGRATIONS:
        newer_than_data = previous is None or parse_version(previous) < parse_version(introduced)
        if newer_than_data and parse_version(introduced) <= parse_version(current):
            log.info("migrating the data folder: %s", what)
            step(paths)
            done.append(what)
    _write_stamp(paths, current, previous, done)
    log.info("data folder now at version %s (was %s)", current, previous or "new or older than 0.1.0")
    return done


def _write_stamp(paths: Paths, current: str, previous: str | None, done: list[str]) -> None:
    record = {"version": current, "previous": previous, "migrations": done,
              "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    atomic_write(paths.root / STAMP, json.dumps(record, indent=2))
