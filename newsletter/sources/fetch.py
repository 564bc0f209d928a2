"""Fetching a feed URL as feed readers do: conditional GET, gzip, redirects told apart, bounded work.

`fetch` never raises: whatever happens (a refused connection, a timeout, a 410, a gzip bomb)
comes back as a Fetched with `error` set, so that fetches can run in threads side by side.
stdlib urllib is enough here; what it lacks (a redirect chain, a decompression cap, a
deadline for the whole fetch) is a few lines below.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsletter import __version__
from newsletter.config import DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_FILE_SIZE, format_size

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
ACCEPT = ("application/atom+xml, application/rss+xml, application/feed+json, application/json, application/xml, "
          "text/xml, text/plain;q=0.8, */*;q=0.5")
PERMANENT = (301, 308)


@dataclass(frozen=True)
class Fetched:
    """The outcome of one fetch; `data` is None unless the server sent a body (200)."""

    url: str
    status: int | None = None       # None when no HTTP answer came
    data: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    moved_to: str | None = None     # the URL every redirect on the way was permanent to
    error: str | None = None        # what went wrong, ready for a one-line message
    hint: str | None = None         # how to fix it, when the URL and the network are not the likely cause

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def gone(self) -> bool:
        return self.status == 410


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects (http and https only) and remembers their codes."""

    def __init__(self) -> None:
        self.codes: list[int] = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        # urllib itself refuses file: and data:, but would follow ftp:.
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"redirect to a non-http URL {newurl}", headers, fp)
        self.codes.append(code)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, etag: str | None = None, last_modified: str | None = None, *,
          timeout: float = DEFAULT_FETCH_TIMEOUT, max_bytes: int = DEFAULT_MAX_FILE_SIZE) -> Fetched:
    """GET a URL with the validators of the last fetch, within `timeout` seconds and `max_bytes`."""
    headers = {"User-Agent": f"newsletter/{__version__} (feed reader)", "Accept": ACCEPT, "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    redirects = _Redirects()
    opener = urllib.request.build_opener(redirects)
    deadline = time.monotonic() + timeout
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
            moved = resp.url if redirects.codes and all(c in PERMANENT for c in redirects.codes) else None
            data = _body(resp, max_bytes, deadline)
            return Fetched(url, resp.status, data, resp.headers.get("ETag"), resp.headers.get("Last-Modified"),
                           resp.headers.get("Content-Type"), moved)
    except urllib.error.HTTPError as exc:
        exc.close()
        moved = exc.url if redirects.codes and all(c in PERMANENT for c in redirects.codes) else None
        if exc.code == 304:
            return Fetched(url, 304, None, exc.headers.get("ETag") or etag,
                           exc.headers.get("Last-Modified") or last_modified, moved_to=moved)
        return Fetched(url, exc.code, moved_to=moved, error=_http_error(exc))
    except _TooLarge as exc:
        return Fetched(url, 200, error=str(exc), hint="raise max_file_size in [newsletter] to read it")
    except (TimeoutError, _Late):
        return Fetched(url, error=f"timed out after {timeout:g} s")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return Fetched(url, error=f"timed out after {timeout:g} s")
        return Fetched(url, error=f"cannot be fetched: {_reason(exc.reason)}")
    except (OSError, http.client.HTTPException, ValueError, zlib.error, EOFError) as exc:
        return Fetched(url, error=f"cannot be fetched: {_reason(exc)}")


class _TooLarge(Exception):
    pass


class _Late(Exception):
    pass


def _body(resp, max_bytes: int, deadline: float) -> bytes:
    """The response body, gunzipped, read until `deadline`; _TooLarge past `max_bytes` (after decompression)."""
    length = resp.headers.get("Content-Length")
    encoding = (resp.headers.get("Content-Encoding") or "").strip().lower()
    if length and length.isdigit() and int(length) > max_bytes:
        raise _TooLarge(f"is {format_size(int(length))}, over max_file_size ({format_size(max_bytes)})")
    # wbits 47: gzip or zlib, told by the header; raw deflate is rare enough to ignore.
    inflate = zlib.decompressobj(47) if encoding in ("gzip", "x-gzip", "deflate") else None
    parts, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise _Late()
        chunk = resp.read(CHUNK)
        if not chunk:
            break
        if inflate is not None:
            # max_length bounds what one compressed chunk may expand to: a gzip bomb stops here.
            chunk = inflate.decompress(chunk, max_bytes - size + 1)
            if inflate.unconsumed_tail:
                size = max_bytes + 1
        size += len(chunk)
        if size > max_bytes:
            what = "when decompressed" if inflate is not None else ""
            raise _TooLarge(f"is larger than max_file_size ({format_size(max_bytes)}){' ' + what if what else ''}")
        parts.append(chunk)
    if inflate is not None:
        parts.append(inflate.flush())
    return b"".join(parts)


def _http_error(exc: urllib.error.HTTPError) -> str:
    if exc.code == 410:
        return "answered 410 Gone: the feed was removed for good"
    if exc.code in (401, 403):
        return f"answered {exc.code} {exc.reason}: the feed is not public"
    if exc.code == 404:
        return "answered 404 Not Found"
    if exc.code == 429 or exc.code >= 500:
        return f"answered {exc.code} {exc.reason}: the server is busy or failing; it is tried again next time"
    return f"answered {exc.code} {exc.reason}"


def _reason(reason) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[:1].lower() + reason.strerror[1:]
    return " ".join(str(reason).split()) or type(reason).__name__
