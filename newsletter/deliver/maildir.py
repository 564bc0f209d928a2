"""The maildir backend: each personal message written as a file into a Maildir, nothing sent.

For an editor who wants to see every subscriber's own message (open the folder in a mail
client, or grep it) before, or instead of, sending: `delivery = "maildir"` writes the issue
to outbox/<digest>/<issue key>/maildir/new/, one file per subscriber, through the ledger
like a real send. Folders are owner-only (0700), files too (0600).
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from newsletter.config import Config
from newsletter.deliver.message import Outgoing, Result
from newsletter.deliver.outbox import issue_dir, private_dirs
from newsletter.errors import DeliveryError

_counter = itertools.count()


class MaildirBackend:
    personal = True

    def __init__(self, folder: Path):
        self.folder = folder

    @classmethod
    def from_config(cls, config: Config, digest: str, key: str, **_) -> "MaildirBackend":
        return cls(issue_dir(config.outbox, digest, key) / "maildir")

    def send_all(self, messages: Iterable[Outgoing], on_result: Callable[[Result], None],
                 stop: threading.Event | None = None, gate: Callable[[Outgoing], bool] | None = None) -> None:
        """Write each message into new/ (by way of tmp/, as Maildir readers expect), then report it."""
        try:
            for sub in ("tmp", "new", "cur"):
                private_dirs(self.folder / sub)
        except OSError as exc:
            raise DeliveryError(f"cannot create the maildir: {exc.strerror}", where=str(self.folder)) from None
        host = socket.gethostname().replace("/", "-").replace(":", "-")
        for message in messages:
            if stop is not None and stop.is_set():
                return
            if gate is not None and not gate(message):
                continue
            name = f"{time.time_ns()}.P{os.getpid()}Q{next(_counter)}.{host}"
            tmp = self.folder / "tmp" / name
            try:
                fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(message.data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.rename(tmp, self.folder / "new" / name)
            except OSError as exc:
                raise DeliveryError(f"cannot write a message: {exc.strerror}", where=str(tmp),
                                    hint="check the disk space and permissions of the outbox") from None
            on_result(Result(message.key, True, False, None, None, 1))
