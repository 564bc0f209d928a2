"""The memory backend: messages kept in this process's memory, nothing sent (for tests and benchmarks).

Like any backend it takes its messages through the ledger, so a test or a benchmark sees the
whole send (claims, results, skipped subscribers) without a mail server.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable

from newsletter.config import Config
from newsletter.deliver.message import Outgoing, Result


class MemoryBackend:
    personal = True
    sent: list[Outgoing] = []  # every message of this process, in order; clear() empties it
    _lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config, digest: str, key: str, **_) -> "MemoryBackend":
        return cls()

    @classmethod
    def clear(cls) -> None:
        with cls._lock:
            cls.sent.clear()

    def send_all(self, messages: Iterable[Outgoing], on_result: Callable[[Result], None],
                 stop: threading.Event | None = None, gate: Callable[[Outgoing], bool] | None = None) -> None:
        for message in messages:
            if stop is not None and stop.is_set():
                return
            if gate is not None and not gate(message):
                continue
            with self._lock:
                self.sent.append(message)
            on_result(Result(message.key, True, False, None, None, 1))
