"""Servers the remote-engine tests talk to, on free localhost ports.

* ``llama_server``: the real thing, llama.cpp's OpenAI-compatible server
  (``python -m llama_cpp.server``) with the demo model's GGUF.
* ``StandIn`` + ``ollama_app`` / ``azure_app``: STAND-INS for Ollama's own server and Azure OpenAI,
  which cannot run here. Each checks a request against what the provider documents (paths, headers,
  api-version, body fields) and answers in the documented streaming format, refusing anything
  else with the status the real service would give. ``mode`` switches in failures: "garbage",
  "cut" (the stream stops half-way), "endless", "slow", or an HTTP status.
* ``DropsFirst``: a relay that closes a server's first connections unanswered.
  - Ollama: https://github.com/ollama/ollama/blob/main/docs/api.md (/api/chat NDJSON, /api/tags, /api/show)
  - Azure: https://learn.microsoft.com/azure/ai-services/openai/reference (POST
    /openai/deployments/{deployment}/chat/completions?api-version=..., header api-key, SSE chunks, data: [DONE])
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from assistant.ops.bench.remote import free_port, start_llamacpp  # shared with the bench

WORDS = ["Client ", "practiced ", "paced ", "breathing ", "and ", "reported ", "less ", "worry."]


class StandIn:
    """A small ASGI app served by uvicorn in a thread (optionally over TLS)."""

    def __init__(self, app: Starlette, *, certfile: str | None = None, keyfile: str | None = None) -> None:
        self.port = free_port()
        self.scheme = "https" if certfile else "http"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                ssl_certfile=certfile, ssl_keyfile=keyfile)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> StandIn:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "the stand-in server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class DropsFirst:
    """A TCP relay in front of a server that closes the first ``drops`` connections after their first
    bytes arrive, unanswered, as a server does when it closes an idle kept-alive connection just as a
    request is sent. Later connections are relayed byte for byte (TLS passes through untouched)."""

    def __init__(self, target_port: int, drops: int = 1) -> None:
        self.target, self.left, self.accepted = target_port, drops, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.accepted += 1
            if self.left > 0:
                self.left -= 1
                client.recv(65536)  # read what was sent, so the close is a clean end, not a reset
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for one, other in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(one, other), daemon=True).start()

    def close(self) -> None:
        self.listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class State:
    def __init__(self) -> None:
        self.mode: str | int = "ok"
        self.requests: list[dict] = []
        self.disconnected = threading.Event()
        self.open = 0  # answers being streamed right now
        self.most_open = 0


async def _words(state: State, render, request: Request):  # noqa: ANN001 - an async generator
    state.open += 1
    state.most_open = max(state.most_open, state.open)
    try:
        async for item in _stream(state, render, request):
            yield item
    except (asyncio.CancelledError, GeneratorExit):  # Starlette cancels the answer when the client goes
        state.disconnected.set()
        raise
    finally:
        state.open -= 1


async def _stream(state: State, render, request: Request):  # noqa: ANN001 - an async generator
    count = 0
    while True:
        for word in WORDS:
            if await request.is_disconnected():
                state.disconnected.set()
                return
            yield render(word, False)
            count += 1
            if state.mode == "cut" and count == 3:
                return
            if state.mode == "slow":
                await asyncio.sleep(0.3)
        if state.mode not in ("endless", "slow"):
            yield render("", True)
            return
        await asyncio.sleep(0.01)


def _refusal(state: State) -> JSONResponse | PlainTextResponse | None:
    if isinstance(state.mode, int):
        return JSONResponse({"error": {"message": "refused", "code": str(state.mode)}}, status_code=state.mode)
    if state.mode == "garbage":
        return PlainTextResponse("<html>Welcome to the router's login page</html>", status_code=200)
    return None


def ollama_app(state: State, models: dict[str, int]) -> Starlette:
    """Ollama's /api/chat, /api/tags and /api/show. ``models``: name -> its context length."""

    async def chat(request: Request):
        body = await request.json()
        state.requests.append({"path": "/api/chat", "body": body, "headers": dict(request.headers)})
        if refused := _refusal(state):
            return refused
        if body.get("model") not in models:
            return JSONResponse({"error": f"model '{body.get('model')}' not found"}, status_code=404)
        assert body.get("stream") is True and isinstance(body.get("messages"), list)
        assert all(set(m) == {"role", "content"} for m in body["messages"])
        assert set(body.get("options", {})) <= {"num_predict", "temperature", "top_p", "repeat_penalty", "num_ctx"}

        def render(word: str, done: bool) -> str:
            item = {"model": body["model"], "created_at": "2026-12-02T00:00:00Z",
                    "message": {"role": "assistant", "content": word}, "done": done}
            if done:
                item.update(done_reason="stop", total_duration=1, eval_count=len(WORDS))
            return json.dumps(item) + "\n"

        return StreamingResponse(_words(state, render, request), media_type="application/x-ndjson")

    async def tags(request: Request):
        state.requests.append({"path": "/api/tags", "headers": dict(request.headers)})
        if refused := _refusal(state):
            return refused
        return JSONResponse({"models": [{"name": name, "model": name, "size": 1} for name in models]})

    async def show(request: Request):
        body = await request.json()
        state.requests.append({"path": "/api/show", "body": body})
        if body.get("model") not in models:
            return JSONResponse({"error": "model not found"}, status_code=404)
        return JSONResponse({"model_info": {"general.architecture": "llama",
                                            "llama.context_length": models[body["model"]]}})

    return Starlette(routes=[Route("/api/chat", chat, methods=["POST"]), Route("/api/tags", tags),
                             Route("/api/show", show, methods=["POST"])])


def azure_app(state: State, *, deployment: str, key: str, api_version: str) -> Starlette:
    """Azure OpenAI's chat completions for one deployment."""

    async def completions(request: Request):
        body = await request.json()
        state.requests.append({"path": request.url.path, "query": dict(request.query_params),
                               "headers": dict(request.headers), "body": body})
        if request.headers.get("api-key") != key:
            return JSONResponse({"error": {"code": "401", "message": "Access denied due to invalid subscription key."}},
                                status_code=401)
        if request.query_params.get("api-version") != api_version:
            return JSONResponse({"error": {"code": "404", "message": "Resource not found"}}, status_code=404)
        if request.path_params["deployment"] != deployment:
            return JSONResponse({"error": {"code": "DeploymentNotFound"}}, status_code=404)
        if refused := _refusal(state):
            return refused
        assert "model" not in body or body["model"] == deployment
        if not body.get("stream"):
            return JSONResponse({"id": "x", "object": "chat.completion", "created": 0, "model": "gpt-4o",
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"},
                                              "finish_reason": "length"}]})

        def render(word: str, done: bool) -> str:
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o",
                     "choices": [{"index": 0, "delta": {} if done else {"content": word},
                                  "finish_reason": "stop" if done else None}]}
            return f"data: {json.dumps(chunk)}\n\n" + ("data: [DONE]\n\n" if done else "")

        async def events():
            # Azure's first chunk carries only the content filter's results, with no choices.
            yield 'data: {"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[]}\n\n'
            async for item in _words(state, render, request):
                yield item

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/openai/deployments/{deployment}/chat/completions", completions, methods=["POST"])])


class LlamaServer:
    """llama.cpp's OpenAI-compatible server with the demo GGUF, as its own process."""

    def __init__(self, gguf: Path, alias: str = "demo", n_ctx: int = 2048) -> None:
        self.port = free_port()
        self.alias = alias
        self.proc = start_llamacpp(gguf, self.port, threads=1, n_ctx=n_ctx, alias=alias, capture=True)
        self.output: list[str] = []  # what it prints ("Disconnected from client" when a stream is closed)
        threading.Thread(target=lambda: self.output.extend(self.proc.stdout or ()), daemon=True).start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "llama.cpp's server stopped while starting"
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError("llama.cpp's server did not start in 2 minutes")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def self_signed(folder: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by itself, as a clinic's own server would have: (cert, key) paths.
    The certificate file doubles as the CA file the assistant is given."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clinic-server.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "clinic-ca.pem", folder / "clinic-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
