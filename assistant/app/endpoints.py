"""Changing where the model runs, from the System tab: test a server, then use it (or this computer).

``use_endpoint`` checks the settings (a cloud needs the BAA acknowledgement), switches the engine to
the new place without a restart (the previous one comes back if that fails), and only then keeps
the key (``store.secrets``: the key store or a 0600 file, never settings.json) and the settings.
Each change is audited: the kind, the host, and the BAA acknowledgement; never the key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from assistant.app.services import Services
from assistant.engine.contract import Backend
from assistant.install import vendor
from assistant.store.endpoint import KEY_NAME, Endpoint
from assistant.store.secrets import load_secret, save_secret

log = logging.getLogger(__name__)


def current(services: Services) -> Endpoint:
    """The endpoint in settings (this computer when the settings cannot be used)."""
    try:
        return services.config.settings.server
    except Exception:  # noqa: BLE001 - shown as "this computer"; the load said what was wrong
        return Endpoint()


def has_key(services: Services) -> bool:
    """Whether a key is kept (the page shows "a key is saved", never the key)."""
    return bool(services.config.engine_key or load_secret(services.config.paths.root, KEY_NAME))


def test(services: Services, endpoint: Endpoint, key: str | None) -> tuple[str, tuple[str, ...]]:
    """Try the server with these settings (the typed key, else the kept one); plain words and its models."""
    from assistant.engine import remote
    from assistant.security import privacy

    endpoint.check()
    key = key or services.config.engine_key or load_secret(services.config.paths.root, KEY_NAME)
    before = privacy.allowed_endpoint()
    privacy.allow_endpoint(*endpoint.host_port())  # the admin asked for exactly this host
    try:
        return remote.test_connection(endpoint, key)
    finally:
        privacy.allow_endpoint(*(before or (None, 0)))


def use_endpoint(services: Services, endpoint: Endpoint, key: str | None, *, user: str = "",
                 stage: Callable[[float, str], None] | None = None) -> Backend:
    """Switch to ``endpoint`` (kind "local": this computer's model) and remember it."""
    if vendor.is_locked("endpoint"):
        from assistant.errors import ModelError

        raise ModelError("Your vendor has set where the model runs, so it cannot be changed here.")
    endpoint.check()
    config = services.config
    previous, previous_key = dict(config.settings.endpoint), config.engine_key
    wanted = endpoint.to_dict() if endpoint.remote else {}

    def load() -> Backend:
        config.settings.endpoint, config.engine_key = wanted, (key or previous_key)
        try:
            return services.load(config.settings.model_path, lambda text: None, stage)
        except BaseException:
            config.settings.endpoint, config.engine_key = previous, previous_key
            raise

    backend = services.engine.switch(load, reload=lambda: services.load(config.settings.model_path, lambda t: None))
    if key:
        where = save_secret(config.paths.root, KEY_NAME, key)
        config.engine_key = None  # the kept key from now on
        log.info("model server key kept in the %s", where)
    config.settings.save(config.paths)
    host, port = endpoint.host_port()
    detail = f"model runs on: {endpoint.kind}" + (f" {host}:{port} model={endpoint.model}" if endpoint.remote else "")
    if endpoint.cloud:
        detail += f"; BAA acknowledged with {endpoint.baa_provider!r}"
    if services.audit is not None:
        services.audit.record("settings_changed", user=user, detail=detail)
    return backend
