"""Results the ledger could not take, kept in a file whose space was reserved before the first message went out.

A send creates its journal (owner-only, in a private folder beside the database) and
reserves its space with posix_fallocate, so that a disk that fills up during the send still
has room for it. Normally nothing is written and the file is removed at the end. When the
ledger cannot be written (locked too long, disk full, server gone), the results of messages
already sent go here, one JSON line each, and the next send replays them before it claims
anything. The first line names the process that owns the file.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

from newsletter.errors import StoreError
from newsletter.store.ledger import Ledger, Outcome

log = logging.getLogger(__name__)

RESERVED = 256 * 1024  # room for a few hundred results: more than the messages one send has in flight
SUFFIX = ".journal"

# The sends running in this process: a long-lived process (the scheduler) runs one after another,
# and the claims a finished one left behind belong to nobody.
LIVE: set[str] = set()


def worker_alive(worker: str) -> bool:
    """Whether the sender named by a worker id (host:pid:random) may still run; True when it cannot be told."""
    host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    if int(pid) == os.getpid():
        return worker in LIVE
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: dead all the same
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Journal:
    """One sending process's journal file."""

    def __init__(self, path: Path, fd: int, offset: int):
        self.path, self.fd, self.offset = path, fd, offset
        self.entries = 0

    @classmethod
    def create(cls, folder: Path, worker: str) -> "Journal":
        """Make the file, owner-only, and reserve its space; StoreError when that is impossible."""
        name = "".join(c if c.isalnum() or c in ".-" else "-" for c in worker)
        path = folder / f"{name}{SUFFIX}"
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the journal for unrecorded results: {exc.strerror}", where=str(path),
                             hint="that folder (beside a SQLite database, else in the config folder) must be "
                                  "writable; nothing was sent") from None
        try:
            os.posix_fallocate(fd, 0, RESERVED)
            header = (json.dumps({"worker": worker}) + "\n").encode("utf-8")
            os.pwrite(fd, header, 0)
            os.fsync(fd)
            _sync_folder(folder)
        except OSError as exc:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise StoreError(f"cannot reserve space for the journal of unrecorded results: {exc.strerror}",
                             where=str(path), hint="free some space on that disk, then send again") from None
        return cls(path, fd, len(header))

    def write(self, outcomes: list[Outcome]) -> None:
        """Append results and make them durable before returning."""
        data = "".join(json.dumps(o.as_dict()) + "\n" for o in outcomes).encode("utf-8")
        os.pwrite(self.fd, data, self.offset)
        os.fsync(self.fd)
        self.offset += len(data)
        self.entries += len(outcomes)

    def close(self) -> None:
        """Close the file; remove it when it holds nothing (the usual case)."""
        if self.fd < 0:
            return
        os.close(self.fd)
        self.fd = -1
        if not self.entries:
            self.path.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _written_part(path: Path) -> bytes:
    """The bytes before the reserved (zeroed) space; read a block at a time, as it is mostly empty."""
    parts = []
    with open(path, "rb") as fh:
        while block := fh.read(16384):
            end = block.find(b"\0")
            if end >= 0:
                parts.append(block[:end])
                break
            parts.append(block)
    return b"".join(parts)


def read_journal(path: Path) -> tuple[str | None, list[Outcome]]:
    """(owner, results) of a journal; a line cut short by a crash is left out."""
    try:
        raw = _written_part(path)
    except OSError:
        return None, []
    lines = raw.decode("utf-8", "replace").splitlines()
    owner, outcomes = None, []
    for number, line in enumerate(lines):
        try:
            item = json.loads(line)
            if number == 0:
                owner = item["worker"]
            else:
                outcomes.append(Outcome(**item))
        except (ValueError, KeyError, TypeError):
            log.warning("%s: line %d is incomplete and is left out", path, number + 1)
    return owner, outcomes


def replay_journals(ledger: Ledger, folder: Path, own: Path | None = None) -> int:
    """Record what journals in `folder` hold (but `own`); remove those whose process is gone; how many applied."""
    if not folder.is_dir():
        return 0
    applied = 0
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        if path == own:
            continue
        owner, outcomes = read_journal(path)
        if owner is None:  # torn at creation: nothing in it was ever needed
            if not _young(path):
                path.unlink(missing_ok=True)
            continue
        if outcomes:
            done = ledger.replay(owner, outcomes)
            applied += done
            if done:
                log.warning("recorded %d result(s) kept in %s while the ledger could not be written", done, path)
        if not worker_alive(owner):
            path.unlink(missing_ok=True)
    return applied


def _young(path: Path) -> bool:
    """Made moments ago: its owner may still be writing its first line."""
    import time

    try:
        return time.time() - path.stat().st_mtime < 60
    except OSError:
        return False
