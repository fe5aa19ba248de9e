"""``WithFallback``: drafts go to the model server; when it cannot be reached, to this computer's model.

An admin's choice (``Endpoint.fallback_local``). Only a server that nothing reached counts (down,
refused the connection): a wrong key, an unknown model or an answer cut off half-way are the
server's to fix and are said as they are. The local model is loaded at the first fallback and kept
until the model is changed. While it stands in, ``info`` says so (the status line, and a notice above
every tab).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

from assistant.core.messages import GenerationSettings, Message
from assistant.engine.contract import Backend, Job, fit_window
from assistant.engine.remote.base import RemoteBackend, RemoteError, serve_each

log = logging.getLogger(__name__)

FALLBACK_NOTICE = ("{where} could not be reached, so drafts are being written on this computer for now (slower). "
                   "They go back to the server by themselves when it answers again.")


class WithFallback:
    def __init__(self, remote: RemoteBackend, load_local: Callable[[], Backend]) -> None:
        self.remote = remote
        self._load_local = load_local
        self._local: Backend | None = None
        self._loading = threading.Lock()
        self.max_batch = remote.max_batch
        self.fell_back = False  # the last draft was written here

    @property
    def info(self):  # noqa: ANN201 - ModelInfo
        info = self.remote.info
        if self.fell_back:
            return replace(info, sent_to="", notice=FALLBACK_NOTICE.format(where=info.sent_to),
                           engine=f"this computer's model while {info.sent_to} cannot be reached")
        return info

    @info.setter
    def info(self, value) -> None:  # noqa: ANN001
        self.remote.info = value

    def count_tokens(self, messages: list[Message]) -> int:
        return self.remote.count_tokens(messages)

    def local(self) -> Backend:
        with self._loading:
            if self._local is None:
                log.info("loading this computer's model for drafts while the model server cannot be reached")
                self._local = self._load_local()
            return self._local

    def stream(self, messages: list[Message], settings: GenerationSettings, stop: threading.Event) -> Iterator[str]:
        answer = self.remote.stream(messages, settings, stop)
        try:
            first = next(answer)
        except StopIteration:
            self.fell_back = False
            return
        except RemoteError as exc:
            if not exc.unreachable:
                raise
            log.warning("model server unreachable: this draft is written on this computer")
            local = self.local()
            self.fell_back = True
            yield from local.stream(messages, fit_window(local, messages, settings), stop)
            return
        self.fell_back = False
        yield first
        yield from answer

    def run_batch(self, jobs: list[Job], more: Callable[[int], list[Job]]) -> None:
        serve_each(self.stream, self.max_batch, jobs, more)

    def close(self) -> None:
        self.remote.close()
        local, self._local = self._local, None
        if local is not None:
            getattr(local, "close", lambda: None)()
