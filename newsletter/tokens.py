"""Signed unsubscribe tokens: HMAC over the subscriber, the digest and the subscriber's salt.

The salt is random per subscriber (empty for subscribers of release 1, whose links are
already in inboxes), so a token made for a removed subscriber never matches a new one,
even on a database that handed the same id out again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Callable

# Bounded: an id of thousands of digits is refused by int(), and one past the id column's INTEGER
# (32 bits on PostgreSQL) by the database, as an error instead of "no such subscriber".
TOKEN_RE = re.compile(r"(\d{1,10})\.([A-Za-z0-9][A-Za-z0-9_-]{0,199})\.([A-Za-z0-9_-]{22})")
MAX_ID = 2**31 - 1


def _mac(key: bytes, subscriber_id: int, digest: str, salt: str) -> str:
    signed = f"{subscriber_id}:{digest}" + (f":{salt}" if salt else "")
    raw = hmac.new(key, signed.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_token(key: bytes, subscriber_id: int, digest: str, salt: str = "") -> str:
    """A URL-safe token naming the subscriber and digest, signed with `key` over the subscriber's salt."""
    return f"{subscriber_id}.{digest}.{_mac(key, subscriber_id, digest, salt)}"


def parse_token(token: str) -> tuple[int, str] | None:
    """(subscriber id, digest) as a token states them, NOT verified: only to look up what read_token needs."""
    m = _match(token)
    return (int(m[1]), m[2]) if m else None


def _match(token: str) -> re.Match | None:
    m = TOKEN_RE.fullmatch(token.strip())
    return m if m and int(m[1]) <= MAX_ID else None


def read_token(key: bytes, token: str, salt_of: Callable[[int], str | None]) -> tuple[int, str] | None:
    """(subscriber id, digest) of a genuine token; None for a forged, altered, malformed or orphaned one.

    `salt_of(id)` gives the subscriber's salt, or None when there is no such subscriber.
    """
    m = _match(token)
    if not m:
        return None
    subscriber_id, digest, mac = int(m[1]), m[2], m[3]
    salt = salt_of(subscriber_id)
    if salt is None or not hmac.compare_digest(mac, _mac(key, subscriber_id, digest, salt)):
        return None
    return subscriber_id, digest


def form_token(key: bytes, session: str) -> str:
    """The anti-forgery field of a form, bound to the browser's session cookie (a signed double submit):
    another site can make the browser send the cookie, but cannot read it to compute this."""
    raw = hmac.new(key, f"form:{session}".encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(raw).decode()


def check_form_token(key: bytes, session: str | None, value: str | None) -> bool:
    """Whether a submitted form's field matches its session cookie."""
    if not session or not value or len(session) > 200:
        return False
    return hmac.compare_digest(value.encode(), form_token(key, session).encode())
