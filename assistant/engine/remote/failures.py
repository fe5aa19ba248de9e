"""What a model server's failure means, in plain words: server down, wrong key, a certificate that
cannot be checked, an unknown model, too many requests, an answer cut off, or garbage.

One table for every kind that speaks HTTP through httpx (the openai SDK, Ollama); Bedrock maps
botocore's errors onto the same sentences (``remote.bedrock``). The words name the server's host,
never anything the person typed.
"""

from __future__ import annotations

import json
import ssl

from assistant.engine.remote.base import RemoteError
from assistant.store.endpoint import Endpoint

ADMIN = "An admin can check it in the System tab, under Where the model runs."
# the connection went away under the request: the server closed it, or it was reset (not a refusal)
DROPPED = ssl.SSLEOFError | ssl.SSLZeroReturnError | ConnectionResetError | ConnectionAbortedError | BrokenPipeError


def words(endpoint: Endpoint) -> dict[str, str]:
    host, port = endpoint.host_port()
    where = endpoint.provider if endpoint.cloud else f"the model server at {host}:{port}"
    return {
        "down": f"{where[0].upper() + where[1:]} is not answering. Check that it is on and this computer "
                f"is connected to it, then try again; your text is still here. {ADMIN}",
        "timeout": f"{where[0].upper() + where[1:]} took too long to answer. Try again in a minute; your "
                   "text is still here.",
        "tls": f"The certificate of {where} could not be checked, so nothing was sent. If the clinic uses its "
               f"own certificate, an admin adds its certificate file (CA file) in the System tab.",
        "key": f"{where[0].upper() + where[1:]} refused the key. {ADMIN} Enter the key again there.",
        "model": f"{where[0].upper() + where[1:]} has no model called '{endpoint.model}'. {ADMIN}",
        "busy": f"{where[0].upper() + where[1:]} is busy (too many requests at once). Wait a minute, then "
                "try again; your text is still here.",
        "refused": f"{where[0].upper() + where[1:]} refused the request. The text may be too long for the "
                   f"model there; try a shorter one. {ADMIN}",
        "broken": f"{where[0].upper() + where[1:]} had a problem of its own. Try again in a minute; if it "
                  "keeps happening, tell whoever looks after it.",
        "midway": f"{where[0].upper() + where[1:]} stopped answering part-way through. The text so far is "
                  "kept; try again.",
        "garbage": f"{where[0].upper() + where[1:]} answered with something that is not a model's answer. "
                   f"Check the server's address. {ADMIN}",
    }


def _chain(error: BaseException):  # noqa: ANN202 - the error and its causes
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _status(error: BaseException) -> int | None:
    for item in _chain(error):
        code = getattr(item, "status_code", None)
        if isinstance(code, int):
            return code
        response = getattr(item, "response", None)
        code = getattr(response, "status_code", None)
        if isinstance(code, int):
            return code
    return None


def for_status(code: int) -> str:
    if code in (401, 403):
        return "key"
    if code == 404:
        return "model"
    if code == 429:
        return "busy"
    if code in (400, 413, 422):
        return "refused"
    return "broken"


def plain_http(error: BaseException, endpoint: Endpoint, midway: bool) -> RemoteError:
    """``error`` from httpx or the openai SDK as a ``RemoteError`` in plain words."""
    import httpx

    said = words(endpoint)
    causes = list(_chain(error))
    if any(isinstance(c, ssl.SSLError) and not isinstance(c, DROPPED) for c in causes):
        return RemoteError(said["tls"], unreachable=False)
    code = _status(error)
    if code is not None and code >= 400:
        return RemoteError(said[for_status(code)])
    timed_out = any(isinstance(c, httpx.TimeoutException) for c in causes)
    if not midway and not timed_out and any(isinstance(c, DROPPED | httpx.RemoteProtocolError | httpx.ReadError
                                                       | httpx.WriteError) for c in causes):
        return RemoteError(said["down"], unreachable=True, dropped=True)
    if any(isinstance(c, httpx.ConnectTimeout | httpx.ConnectError) for c in causes):
        return RemoteError(said["down"], unreachable=not midway)
    if any(isinstance(c, httpx.TimeoutException) for c in causes):
        return RemoteError(said["timeout"])
    if midway or any(isinstance(c, httpx.RemoteProtocolError | httpx.ReadError) for c in causes):
        return RemoteError(said["midway"] if midway else said["down"], unreachable=not midway)
    if any(isinstance(c, json.JSONDecodeError | ValueError | KeyError | TypeError) for c in causes):
        return RemoteError(said["garbage"])
    name = type(error).__name__
    if name in ("APIConnectionError",):
        return RemoteError(said["down"], unreachable=True)
    if name in ("APITimeoutError",):
        return RemoteError(said["timeout"])
    return RemoteError(said["garbage"] if "Validation" in name or "Decode" in name else said["broken"])
