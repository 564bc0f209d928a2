"""What every part of the pipeline shares: the store, files that belong to a database, the delivery backend."""

from __future__ import annotations

import hashlib
from pathlib import Path

from newsletter.config import Config, Digest, Smtp
from newsletter.deliver import BACKENDS, Backend
from newsletter.store import LeaderLock, Store, sqlite_path


def open_store(config: Config, **options) -> Store:
    """The configured database, schema checked; options as Store takes them (busy_timeout_ms)."""
    return Store(config.database, **options)


def leader_lock(config: Config) -> LeaderLock | None:
    """The scheduler's lock in the database itself on PostgreSQL (it crosses machines); None elsewhere (a flock)."""
    if not config.database.startswith("postgresql"):
        return None
    return LeaderLock(config.database)


def state_path(config: Config, name: str) -> Path:
    """A file of this database's own (a lock, journals): beside a SQLite file as `<db>.<name>`; for
    other databases in the config folder, as `.newsletter-<stem>-<hash of the URL><suffix>`."""
    path = sqlite_path(config.database)
    if path is not None:
        return path.with_name(f"{path.name}.{name}")
    stem, suffix = Path(name).stem, Path(name).suffix
    digest = hashlib.sha256(config.database.encode("utf-8")).hexdigest()[:16]
    return config.root / f".newsletter-{stem}-{digest}{suffix}"


def journal_folder(config: Config) -> Path:
    """Where a send keeps the results its ledger could not take (see store/journal.py)."""
    return state_path(config, "unrecorded")


def sending(config: Config) -> Smtp:
    """The sending settings ([smtp]: connections, lease, ledger_timeout...), defaults without the table."""
    return config.smtp or Smtp()


def backend_for(config: Config, digest: Digest, key: str, *, personal: bool = False, ssl_context=None) -> Backend:
    """The digest's delivery backend for one issue, by name: the one place a backend is chosen.

    With personal=True, the backend `send` uses: the digest's own if it delivers personal
    messages, else SMTP (an outbox digest is still sent by hand with `send --subscribers`).
    """
    name = digest.delivery
    if personal and not BACKENDS[name].personal:
        name = "smtp"
    return BACKENDS[name].from_config(config, digest.name, key, ssl_context=ssl_context)


def delivers_personally(digest: Digest) -> bool:
    """Whether the digest's own backend sends each subscriber a message (through the ledger)."""
    return BACKENDS[digest.delivery].personal
