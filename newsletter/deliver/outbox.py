"""The outbox: each issue's files written atomically under outbox/<digest>/<issue key>/, owner-only."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path

from newsletter.config import Config
from newsletter.errors import DeliveryError

log = logging.getLogger(__name__)

FILES = {"eml": "message.eml", "html": "index.html", "txt": "message.txt"}


class OutboxBackend:
    """`delivery = "outbox"`: the issue is built into the outbox (as `build` does for every digest), once;
    nobody is sent anything, so there is no ledger and no send_all."""

    personal = False

    def __init__(self, folder: Path):
        self.folder = folder

    @classmethod
    def from_config(cls, config: Config, digest: str, key: str, **_) -> "OutboxBackend":
        return cls(issue_dir(config.outbox, digest, key))


def issue_dir(outbox: Path, digest: str, key: str) -> Path:
    return outbox / digest / key


def private_dirs(folder: Path) -> None:
    """Make `folder` and any missing parents owner-only (0700): issues and personal messages are private."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            if not path.is_dir():  # a file, a device (outbox = "/dev/null"): never ours to change
                raise NotADirectoryError(errno.ENOTDIR, "it exists and is not a folder", str(path)) from None
            continue  # made meanwhile by another process, which set its mode
        # Only a folder made here: mkdir's mode passes through the umask. Never chmod what was there.
        os.chmod(path, 0o700)


def write_issue(outbox: Path, digest: str, key: str, contents: dict[str, bytes]) -> dict[str, Path]:
    """Write each file next to its final name, fsync it, then rename over: no reader sees half a file."""
    folder = issue_dir(outbox, digest, key)
    try:
        private_dirs(folder)
    except OSError as exc:
        raise DeliveryError(f"cannot create the outbox folder: {exc.strerror}", where=str(exc.filename or folder),
                            hint="check newsletter.outbox and its permissions") from None
    written = {}
    for kind, data in contents.items():
        target = folder / FILES[kind]
        atomic_write(target, data)
        written[kind] = target
    log.info("wrote %s", folder)
    return written


def atomic_write(target: Path, data: bytes) -> None:
    """Replace `target` with `data` in one step."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise DeliveryError(f"cannot write: {exc.strerror}", where=str(target),
                            hint="check the disk space and permissions of the outbox") from None
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
