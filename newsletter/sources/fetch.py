"""Fetching a feed URL: conditional GET, a size cap, and one-line errors."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

from newsletter import __version__
from newsletter.errors import SourceError

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024
TIMEOUT = 30


@dataclass(frozen=True)
class Fetched:
    data: bytes | None  # None: not modified since last time
    etag: str | None
    last_modified: str | None


def fetch(url: str, etag: str | None = None, last_modified: str | None = None) -> Fetched:
    """GET a URL, sending the validators of the last fetch so an unchanged feed costs nothing."""
    headers = {"User-Agent": f"newsletter/{__version__}", "Accept": "application/atom+xml, application/rss+xml, "
               "application/feed+json, application/json, application/xml, text/xml, text/plain;q=0.8, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            data = resp.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise SourceError(f"is larger than {MAX_BYTES // (1024 * 1024)} MB", where=url)
            return Fetched(data, resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Fetched(None, etag, last_modified)
        raise SourceError(f"the server answered {exc.code} {exc.reason}", where=url,
                          hint="check the URL in [[sources]] or on the command line") from None
    except urllib.error.URLError as exc:
        raise SourceError(f"cannot be fetched: {exc.reason}", where=url, hint="check the URL and the network") from None
    except (TimeoutError, OSError) as exc:
        raise SourceError(f"cannot be fetched: {exc}", where=url, hint="check the URL and the network") from None
