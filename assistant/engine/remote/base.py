"""``RemoteBackend``: the model contract over a model server (the office's, Ollama, or a cloud).

What every remote kind shares lives here; a kind only says how to open an answer's stream
(``_open``), how to ask the server about itself (``probe``) and what its errors mean (``_plain``):
* the answer is read in its own thread, so ``stop`` is honoured within ``POLL_S`` even while the
  server is silent (reading a long prompt); Stop closes the connection, which tells the server to
  stop writing;
* several staff at once: ``run_batch`` sends each answer as its own request, ``max_batch`` at a
  time, and the server batches them (vLLM, ``llama-server -np N``) or takes them in turn;
* tokens are estimated from characters (``CHARS_PER_TOKEN``, on the safe side), since the
  servers count differently and a count costs a round trip;
* an answer far longer than was asked for (``MAX_CHARS_PER_TOKEN``) is cut off and refused;
* each request is reported to ``on_request`` (host, model, sizes, seconds, outcome; never text),
  which the app writes to the audit log.
"""

from __future__ import annotations

import logging
import math
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import Job, ModelInfo
from assistant.errors import GenerationError, ModelError, where_failed
from assistant.store.endpoint import DEFAULT_WINDOW, Endpoint

log = logging.getLogger(__name__)

POLL_S = 0.2
CHARS_PER_TOKEN = 3.2  # English runs about 4 characters a token; fewer keeps the estimate above the truth
TOKENS_PER_MESSAGE = 8  # the chat template's markers around each message
MAX_CHARS_PER_TOKEN = 24  # an answer longer than this many characters per asked token is garbage
MAX_BATCH = 16  # answers sent to the server at once; the rest wait in the engine's line
CLOUD_WINDOW = 32768  # the cloud models offered today read at least 128k; a safe default
_END = object()
RequestReport = Callable[[dict], None]


class RemoteError(ModelError):
    """The model server failed; ``unreachable`` when nothing reached it (a local fallback may step in);
    ``dropped`` when the connection broke before any answer, so asking once more at once may work."""

    def __init__(self, message: str, *, unreachable: bool = False, dropped: bool = False) -> None:
        super().__init__(message)
        self.unreachable, self.dropped = unreachable, dropped


@dataclass(frozen=True)
class Probe:
    """What a server says about itself: its model names (where it lists them) and reading window."""

    models: tuple[str, ...] = ()
    window: int | None = None


def ssl_context(endpoint: Endpoint) -> ssl.SSLContext | bool:
    """The system's certificates, plus the clinic's own authority when a CA file is set."""
    if not endpoint.ca_file:
        return True
    return ssl.create_default_context(cafile=endpoint.ca_file)


def estimate_tokens(messages: list[Message]) -> int:
    return sum(math.ceil(len(m.content) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for m in messages)


class Opened:
    """An answer being received: iterate for text pieces; ``close`` drops the connection."""

    def __init__(self, pieces: Iterator[str], close: Callable[[], None]) -> None:
        self.pieces, self._close = pieces, close

    def close(self) -> None:
        try:
            self._close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is closed all the same
            pass


class RemoteBackend:
    max_batch = MAX_BATCH

    def __init__(self, endpoint: Endpoint, key: str | None, *, on_request: RequestReport | None = None) -> None:
        self.endpoint = endpoint
        self.key = key
        self.on_request = on_request
        self._lock = threading.Lock()
        host, port = endpoint.host_port()
        self.info = ModelInfo(
            name=endpoint.model, device=endpoint.label, precision="chosen by the server",
            context_window=endpoint.context_window or (CLOUD_WINDOW if endpoint.cloud else DEFAULT_WINDOW),
            engine=endpoint.where_words(), sent_to=endpoint.where_words(), cloud=endpoint.cloud,
            notice=(f"Drafts are sent to {endpoint.provider} under your Business Associate Agreement." if endpoint.cloud
                    else ""),
        )
        self.reached: bool | None = None  # None: not tried; the last request's outcome after that
        log.info("model server kind=%s host=%s port=%d", endpoint.kind, host, port)

    # -- what a kind provides ----------------------------------------------------------

    def _open(self, messages: list[Message], settings: GenerationSettings) -> Opened:
        raise NotImplementedError

    def probe(self) -> Probe:
        """Ask the server about itself; raises ``RemoteError`` in plain words."""
        raise NotImplementedError

    def _plain(self, error: BaseException, midway: bool) -> RemoteError:
        raise NotImplementedError

    # -- the contract --------------------------------------------------------------------

    def learn(self, probe: Probe) -> None:
        """Use the server's own reading window unless the admin set one."""
        if probe.window and not self.endpoint.context_window:
            self.info = replace(self.info, context_window=int(probe.window))

    def count_tokens(self, messages: list[Message]) -> int:
        return estimate_tokens(messages)

    def stream(self, messages: list[Message], settings: GenerationSettings, stop: threading.Event) -> Iterator[str]:
        pieces: queue.SimpleQueue = queue.SimpleQueue()
        done = threading.Event()
        opened: list[Opened] = []

        def read() -> None:
            try:
                answer = self._open_again_if_dropped(messages, settings)
                opened.append(answer)
                if done.is_set():
                    return
                for piece in answer.pieces:
                    if done.is_set():
                        return
                    pieces.put(piece)
                pieces.put(_END)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                if not done.is_set():
                    pieces.put(exc)
            finally:
                for answer in opened:
                    answer.close()

        start, received, outcome = time.perf_counter(), 0, "error"
        cap = settings.max_new_tokens * MAX_CHARS_PER_TOKEN + 1024
        reader = threading.Thread(target=read, name="model-server-reader", daemon=True)
        reader.start()
        try:
            while True:
                try:
                    item = pieces.get(timeout=POLL_S)
                except queue.Empty:
                    if stop.is_set():
                        outcome = "stopped"
                        return
                    continue
                if item is _END:
                    outcome = "done"
                    return
                if isinstance(item, BaseException):
                    error = item if isinstance(item, RemoteError) else self._plain(item, received > 0)
                    if not isinstance(item, RemoteError):
                        log.warning("model server failed: %s", where_failed(item))
                    outcome = "unreachable" if error.unreachable else "failed"
                    raise error from None
                received += len(item)
                if received > cap:
                    outcome = "too-long"
                    raise GenerationError("The model server sent far more text than was asked for, so it was "
                                          "stopped. Check the server's settings, or tell whoever looks after it.")
                yield item
                if stop.is_set():
                    outcome = "stopped"
                    return
        finally:
            done.set()
            for answer in opened:
                answer.close()  # from this thread: the reader may be waiting on the server
            self.reached = outcome not in ("unreachable",)
            self._report(messages, received, time.perf_counter() - start, outcome)

    def _report(self, messages: list[Message], received: int, seconds: float, outcome: str) -> None:
        host, port = self.endpoint.host_port()
        log.info("model server request host=%s model=%s sent_chars=%d received_chars=%d seconds=%.2f outcome=%s",
                 host, self.endpoint.model, sum(len(m.content) for m in messages), received, seconds, outcome)
        if self.on_request is not None:
            try:
                self.on_request({"host": f"{host}:{port}", "model": self.endpoint.model, "outcome": outcome,
                                 "sent_chars": sum(len(m.content) for m in messages), "received_chars": received,
                                 "seconds": round(seconds, 2)})
            except Exception as exc:  # noqa: BLE001 - the audit must never break a draft
                log.error("recording a model-server request failed: %s", where_failed(exc))

    def _open_again_if_dropped(self, messages: list[Message], settings: GenerationSettings) -> Opened:
        """``_open``, and once more at once when the connection broke before the server answered.

        Servers close a kept-alive connection after a few idle seconds (uvicorn, llama-server: 5);
        a request sent just as that happens finds the connection gone. Nothing was answered, so
        one more try is safe. A refusal, a timeout or a failed certificate is said at once."""
        try:
            return self._open(messages, settings)
        except RemoteError:
            raise
        except Exception as exc:  # noqa: BLE001 - sorted by the kind's own table
            if not self._plain(exc, False).dropped:
                raise
            log.info("model server dropped the connection before answering (%s); asking once more",
                     where_failed(exc))
        return self._open(messages, settings)

    def run_batch(self, jobs: list[Job], more: Callable[[int], list[Job]]) -> None:
        serve_each(self.stream, self.max_batch, jobs, more)

    def close(self) -> None:
        """Nothing is held on this computer but connections; they close with their answers."""


def serve_each(stream: Callable[..., Iterator[str]], most: int, jobs: list[Job], more: Callable[[int], list[Job]]) -> None:
    """Each answer as its own request (``stream``) in its own thread, at most ``most`` at once;
    later arrivals join as room frees. Every job is finished, with its own error if it failed."""
    running: list[threading.Thread] = []

    def serve(job: Job) -> None:
        try:
            for piece in stream(job.messages, job.settings, job.stop):
                job.emit(piece)
            job.finish()
        except BaseException as exc:  # noqa: BLE001 - this answer's caller gets it
            job.finish(exc)

    def start(batch: list[Job]) -> None:
        for job in batch:
            thread = threading.Thread(target=serve, args=(job,), name="model-server-request", daemon=True)
            thread.start()
            running.append(thread)

    start(jobs)
    while running:
        running[0].join(POLL_S)
        running[:] = [t for t in running if t.is_alive()]
        start(more(most - len(running)))
