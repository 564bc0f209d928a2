"""What every delivery backend takes and gives back: finished messages in, one result per message out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outgoing:
    key: object  # opaque, handed back in the Result (e.g. a ledger row id)
    sender: str  # envelope MAIL FROM (bare address)
    recipients: tuple[str, ...]  # envelope addresses, domains already in IDNA
    data: bytes  # the whole message, CRLF line endings
    smtputf8: bool = False  # a recipient's local part is not ASCII: only a server offering SMTPUTF8 can take it


@dataclass(frozen=True)
class Result:
    key: object
    ok: bool
    permanent: bool  # a 5xx refusal: retrying later will not help
    code: int | None
    error: str | None  # one line, never the password
    attempts: int
    unknown: bool = False  # the whole message went out and no reply came: it may have been delivered
