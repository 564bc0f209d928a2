"""Secrets kept out of logs and error messages in every form they travel in.

The SMTP password goes over the wire plain (in a URL), base64 on its own (AUTH LOGIN) and
base64 inside "\\0user\\0password" (AUTH PLAIN), so a server that echoes a command back puts
it into a reply, and a reply into our logs. `mask` replaces each of those forms; `LogFilter`
applies it to every log record (installed once by the CLI and the scheduler).
"""

from __future__ import annotations

import base64
import logging
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_FRAGMENT = 6  # shorter base64 runs would mask ordinary words

_lock = threading.Lock()
_forms: tuple[str, ...] = ()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def forms(secret: str, user: str | None = None) -> set[str]:
    """The strings that give `secret` away: itself, URL-quoted, and base64 at every alignment."""
    raw = secret.encode("utf-8")
    found = {secret, quote(secret, safe=""), quote_plus(secret)}
    # base64 maps 3 bytes to 4 characters, so inside a longer encoded string the secret's
    # characters depend on where it starts: take, for each of the 3 offsets, the run of
    # characters that encode only the secret's bytes.
    for offset in range(3):
        encoded = _b64(b"\0" * offset + raw)
        first, last = -(-offset // 3), (offset + len(raw)) // 3
        fragment = encoded[4 * first:4 * last]
        if len(fragment) >= MIN_FRAGMENT:
            found.add(fragment)
    found.add(_b64(raw).rstrip("="))
    if user:
        found.add(_b64(b"\0" + user.encode("utf-8") + b"\0" + raw).rstrip("="))
    return {f for f in found if f}


def register(secret: str | None, user: str | None = None) -> None:
    """Mask this secret (and its encodings) from now on, in this process."""
    global _forms
    if not secret:
        return
    with _lock:
        # Longest first, so a whole AUTH PLAIN blob goes before the fragments inside it.
        _forms = tuple(sorted(set(_forms) | forms(secret, user), key=len, reverse=True))


def mask(text: str) -> str:
    """`text` with every registered secret, in every form, replaced by ***."""
    for form in _forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


class LogFilter(logging.Filter):
    """Masks secrets in a record's message and traceback before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _forms:
            record.msg, record.args = mask(record.getMessage()), None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = mask(record.exc_text)
        return True


def install_log_filter() -> None:
    """Put the filter on every handler of the root logger (once), so records of every logger pass it."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, LogFilter) for f in handler.filters):
            handler.addFilter(LogFilter())


def mask_address(address: str) -> str:
    """An address shown on a page reached by a token: enough for its owner to know it, not to learn it."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}{'*' * 3}@{domain}"
