"""Signed unsubscribe tokens: HMAC over the subscriber and the digest, verifiable without a lookup table."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

TOKEN_RE = re.compile(r"(\d+)\.([A-Za-z0-9][A-Za-z0-9_-]*)\.([A-Za-z0-9_-]{22})")


def _mac(key: bytes, subscriber_id: int, digest: str) -> str:
    raw = hmac.new(key, f"{subscriber_id}:{digest}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_token(key: bytes, subscriber_id: int, digest: str) -> str:
    """A URL-safe token naming the subscriber and digest, signed with `key`."""
    return f"{subscriber_id}.{digest}.{_mac(key, subscriber_id, digest)}"


def read_token(key: bytes, token: str) -> tuple[int, str] | None:
    """(subscriber id, digest) of a genuine token; None for a forged, altered or malformed one."""
    m = TOKEN_RE.fullmatch(token.strip())
    if not m:
        return None
    subscriber_id, digest, mac = int(m[1]), m[2], m[3]
    if not hmac.compare_digest(mac, _mac(key, subscriber_id, digest)):
        return None
    return subscriber_id, digest
