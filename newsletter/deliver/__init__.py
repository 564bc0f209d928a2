"""The deliver stage: finished message bytes out, through one of a few backends chosen by name.

A backend is a class in BACKENDS with:

- `personal`: True when it delivers one message per subscriber, each through the ledger
  (claimed, then recorded); False for the outbox, which gets one copy of the issue from
  `build` and sends nobody anything.
- `from_config(config, digest, key, ssl_context=None)`: the backend for one issue.
- for personal backends, `send_all(messages, on_result, stop=None, gate=None)`: deliver each
  Outgoing, call on_result with its Result as soon as it is known (a connection waits for
  on_result to return before it sends again), stop early when `stop` is set, and ask
  `gate(message)` right before a message may go out (False: leave it unsent, unreported).

The test backends are real backends: "memory" keeps the messages in the process, "maildir"
writes each into a Maildir folder (useful to editors too).

Imports only newsletter.config, .errors, .masking: never another stage.
"""

from __future__ import annotations

from typing import Callable, Iterable, Protocol

from newsletter.config import Config
from newsletter.deliver.maildir import MaildirBackend
from newsletter.deliver.memory import MemoryBackend
from newsletter.deliver.message import Outgoing, Result
from newsletter.deliver.outbox import FILES, OutboxBackend, issue_dir, write_issue
from newsletter.deliver.smtp import SmtpTransport


class Backend(Protocol):
    personal: bool

    @classmethod
    def from_config(cls, config: Config, digest: str, key: str, **options) -> "Backend": ...


class PersonalBackend(Backend, Protocol):
    def send_all(self, messages: Iterable[Outgoing], on_result: Callable[[Result], None], stop=None,
                 gate: Callable[[Outgoing], bool] | None = None) -> None: ...


BACKENDS: dict[str, type[Backend]] = {
    "outbox": OutboxBackend,
    "smtp": SmtpTransport,
    "maildir": MaildirBackend,
    "memory": MemoryBackend,
}

__all__ = ["BACKENDS", "FILES", "Backend", "MaildirBackend", "MemoryBackend", "Outgoing", "OutboxBackend",
           "PersonalBackend", "Result", "SmtpTransport", "issue_dir", "write_issue"]
