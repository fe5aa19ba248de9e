"""Privacy lockdown. Must run before gradio, transformers or huggingface_hub is imported.

* ``lockdown()`` sets the offline and no-telemetry environment, points Gradio's
  temporary files into the app's own folder and installs the egress guard.
* The egress guard is a Python audit hook on ``socket.connect`` (and name
  lookups): any attempt to reach an address that is not on this computer is
  refused and counted. It knows nothing about the UI; the UI reads the count.
* ``allow_endpoint(host, port)``: the one model server an admin configured (the office's, or a
  cloud under a BAA) is let through, on that port only; everything else stays refused and counted.
* ``require_loopback(host)`` refuses to listen anywhere but 127.0.0.1 / ::1.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
import threading
from pathlib import Path

from assistant.errors import NetworkRefused

log = logging.getLogger(__name__)

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "DO_NOT_TRACK": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "GRADIO_SHARE": "False",
    "GRADIO_SERVER_NAME": "127.0.0.1",
    "GRADIO_SSR_MODE": "False",
    "BITSANDBYTES_NOWELCOME": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "AWS_EC2_METADATA_DISABLED": "true",  # boto3 never asks the cloud's metadata address for credentials
    "NO_PROXY": "127.0.0.1,localhost,::1",
    "no_proxy": "127.0.0.1,localhost,::1",
}

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}

_lock = threading.Lock()
_blocked: list[str] = []
_guard_installed = False
_listeners: list = []
_endpoint: tuple[str, int] | None = None  # the one configured model server, (host, port)
_endpoint_ips: set[str] = set()


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names for this computer."""
    if host is None:
        return True
    name = str(host).strip().strip("[]").lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def require_loopback(host: str) -> str:
    """Return the loopback address to bind for ``host``, or refuse with a clear reason."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise NetworkRefused(
            f"The assistant only runs on this computer, so it cannot listen on {host!r}. "
            "It always uses 127.0.0.1; remove that setting to continue."
        )
    return str(address)


def allow_endpoint(host: str | None, port: int = 0) -> None:
    """Let connections to ``host``:``port`` through (the configured model server); None: none again.
    A name is looked up now and again when it points somewhere new."""
    global _endpoint
    with _lock:
        _endpoint = (host.strip().strip("[]").lower(), int(port)) if host else None
        _endpoint_ips.clear()
    if host and not is_loopback(host):
        _resolve()
    log.info("egress: %s", f"the model server's host is allowed on port {port}" if host else "nothing is allowed")


def allowed_endpoint() -> tuple[str, int] | None:
    with _lock:
        return _endpoint


def _resolve() -> set[str]:
    with _lock:
        endpoint = _endpoint
    if endpoint is None:
        return set()
    try:
        found = {info[4][0] for info in socket.getaddrinfo(endpoint[0], endpoint[1], proto=socket.IPPROTO_TCP)}
    except OSError:
        found = set()
    with _lock:
        _endpoint_ips.update(found)
        return set(_endpoint_ips)


def _is_endpoint(host: str, port: object) -> bool:
    with _lock:
        endpoint, ips = _endpoint, set(_endpoint_ips)
    if endpoint is None or (port is not None and str(port) != str(endpoint[1])):
        return False
    name = str(host).strip("[]").lower()
    return name == endpoint[0] or name in ips or name in _resolve()


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect":
        sock, address = args[0], args[1]
        family = getattr(sock, "family", None)
        if family not in (socket.AF_INET, socket.AF_INET6):
            return  # Unix sockets and the like never leave the computer
        host = address[0] if isinstance(address, tuple) and address else address
        port = address[1] if isinstance(address, tuple) and len(address) > 1 else None
        if not is_loopback(host) and not (port is not None and _is_endpoint(host, port)):
            _refuse(f"connect:{host}")
    elif event == "socket.getaddrinfo":
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if not is_loopback(host) and not _is_name_of_endpoint(host):
            _refuse(f"lookup:{host}")


def _is_name_of_endpoint(host: object) -> bool:
    with _lock:
        return _endpoint is not None and str(host).strip("[]").lower() == _endpoint[0]


def _refuse(what: str) -> None:
    with _lock:
        _blocked.append(what)
        listeners = list(_listeners)
    log.warning("blocked an outbound network attempt (%s)", what)
    for listener in listeners:
        try:
            listener(what)
        except Exception:  # noqa: BLE001 - a listener must never stop the refusal
            log.error("blocked-attempt listener failed")
    raise NetworkRefused(
        "A connection outside this computer was blocked; the assistant works offline only."
    )


def install_egress_guard() -> None:
    """Install the audit hook once per process. Audit hooks cannot be removed."""
    global _guard_installed
    with _lock:
        if _guard_installed:
            return
        _guard_installed = True
    sys.addaudithook(_audit)


def on_blocked(listener) -> None:  # noqa: ANN001 - Callable[[str], None]
    """Call ``listener(destination)`` after each refused attempt (the audit log uses it).
    One listener per process: a new one replaces the old."""
    with _lock:
        _listeners[:] = [listener]


def blocked_attempts() -> list[str]:
    """The destinations refused so far in this process (host names, never content)."""
    with _lock:
        return list(_blocked)


def lockdown(tmp_dir: Path | None = None) -> None:
    """Set the offline environment and install the egress guard. Idempotent."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
    if tmp_dir is not None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        os.environ["GRADIO_TEMP_DIR"] = str(tmp_dir / "gradio")
        os.environ["HF_HOME"] = str(tmp_dir / "hf-home")
    install_egress_guard()
