"""The preview HTTP server: a fixed set of routes over a Previewer, bound to loopback unless asked otherwise."""

from __future__ import annotations

import errno
import ipaddress
import json
import logging
import re
import socket
import socketserver
import threading
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from newsletter.config import find_config, load_config
from newsletter.errors import NewsletterError
from newsletter.pipeline.preview import GMAIL_CLIP_BYTES, NotFound, PreviewIssue, PreviewSession, watched_paths
from newsletter.preview import pages
from newsletter.preview.watch import Watcher

log = logging.getLogger(__name__)

_DIGEST = r"(?P<digest>[A-Za-z0-9][A-Za-z0-9_-]{0,63})"
_KEY = r"(?P<key>\d{4}-\d{2}-\d{2}(?:T\d{6})?)"
# Matched against the raw request path, before any %-decoding: "%2e%2e", "..", "//" and
# absolute paths match nothing and get a 404. No route reads a file named by the URL.
ROUTES = [
    (re.compile(r"/"), "index"),
    (re.compile(r"/__version"), "version"),
    (re.compile(r"/__go"), "go"),
    (re.compile(rf"/{_DIGEST}/{_KEY}/?"), "page"),
    (re.compile(rf"/{_DIGEST}/{_KEY}/email\.html"), "html"),
    (re.compile(rf"/{_DIGEST}/{_KEY}/email\.txt"), "text"),
    (re.compile(rf"/{_DIGEST}/{_KEY}/info\.json"), "info"),
]
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}


def _real_key(key: str) -> bool:
    """Is this issue key a real date or date-time (the route's pattern lets 2024-02-30 through)?"""
    try:
        if "T" in key:
            datetime.strptime(key, "%Y-%m-%dT%H%M%S")
        else:
            date.fromisoformat(key)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """Does this address only accept connections from this machine?"""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Previewer:
    """What the pages show: the session, reloaded after the watcher sees a change, and its renders."""

    def __init__(self, config_path=None, *, sync_first: bool = True, interval: float = 0.3):
        self.session = PreviewSession(config_path, sync_first=sync_first)
        try:
            self.session.watched = watched_paths(load_config(config_path))
        except NewsletterError:
            self.session.watched = [find_config(config_path)]
        # The snapshot is taken before the first sync, so a save during it is not missed.
        self.watcher = Watcher(lambda: self.session.watched, interval)
        self.lock = threading.Lock()
        self.loaded: int | None = None
        self.error: NewsletterError | None = None

    @property
    def version(self) -> int:
        return self.watcher.version

    def refresh(self) -> None:
        """Reload config, sources and templates if a watched file changed since the last reload."""
        with self.lock:
            self._refresh()

    def _refresh(self) -> None:
        version = self.watcher.version
        if version == self.loaded:
            return
        try:
            self.session.reload()
            self.error = None
        except NewsletterError as exc:
            self.error = exc
            log.warning("%s", exc)
        self.loaded = version

    def issue(self, digest: str, key: str, variant: str) -> PreviewIssue:
        """The rendered issue; NewsletterError (a broken config or template) or NotFound."""
        # Rendered on every request, never cached: a render takes milliseconds, and a cache
        # would hide what other commands change in the store (a build, a new subscriber).
        with self.lock:
            self._refresh()
            if self.error is not None:
                raise self.error.with_traceback(None)  # the same error again: no growing traceback
            return self.session.issue(digest, key, variant)

    def digests(self) -> list:
        """The digests and their recent issues for the index."""
        with self.lock:
            self._refresh()
            if self.error is not None:
                raise self.error.with_traceback(None)  # the same error again: no growing traceback
            return self.session.digests()

    def digest_title(self, digest: str) -> str | None:
        """The digest's title, its name while the config is broken, or None when there is no such digest."""
        with self.lock:
            self._refresh()
            if self.error is not None or self.session.config is None:
                return digest
            found = self.session.config.digests.get(digest)
            return found.title if found else None

    def close(self) -> None:
        self.watcher.stop()
        with self.lock:
            self.session.close()


class Handler(BaseHTTPRequestHandler):
    """GET and HEAD on the routes above; everything else is a 404 (or 501 for other methods)."""

    server: "PreviewServer"
    server_version = "newsletter-preview"
    sys_version = ""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s %s", self.address_string(), format % args)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def do_GET(self) -> None:
        self._handle(head=False)

    def _handle(self, head: bool) -> None:
        self.head = head
        parts = urlsplit(self.path)
        if not self._host_allowed():
            return self._send(403, "text/plain", b"unknown Host header\n")
        for pattern, name in ROUTES:
            match = pattern.fullmatch(parts.path)
            if match and not (self.path.startswith("//") or parts.netloc):
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                try:
                    return getattr(self, f"route_{name}")(query, **match.groupdict())
                except NotFound as exc:
                    return self._error(404, "Not found", str(exc))
                except Exception as exc:  # noqa: BLE001 - a bug of ours: say so in the page, details in the log
                    log.exception("preview failed on %s", parts.path)
                    return self._error(500, "Internal error", f"{type(exc).__name__}: {exc} (see the terminal)")
        self._error(404, "Not found", "the preview serves only its own pages")

    def _host_allowed(self) -> bool:
        """On loopback, only loopback Host names: a web page cannot reach the preview by DNS rebinding."""
        if not self.server.loopback:
            return True
        host = self.headers.get("Host")
        if host is None:
            return True
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name.lower() in LOOPBACK_NAMES

    # -- routes --------------------------------------------------------------

    def route_index(self, query: dict) -> None:
        previewer = self.server.previewer
        try:
            digests, error = previewer.digests(), None
        except NewsletterError as exc:
            digests, error = [], str(exc)
        body = pages.index_page(digests=digests, start=self.server.start, version=previewer.version, error=error)
        self._send(500 if error else 200, "text/html; charset=utf-8", body.encode("utf-8"))

    def route_version(self, query: dict) -> None:
        self._send(200, "application/json", json.dumps({"version": self.server.previewer.version}).encode())

    def route_go(self, query: dict) -> None:
        digest, day = query.get("digest", ""), query.get("date", "")
        try:
            date.fromisoformat(day)
        except ValueError:
            raise NotFound(f"{day!r} is not a date (YYYY-MM-DD)") from None
        if not re.fullmatch(_DIGEST, digest) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            raise NotFound("no such digest or date")
        self._send(303, "text/plain", b"", {"Location": f"/{digest}/{day}/"})

    def route_page(self, query: dict, digest: str, key: str) -> None:
        if not _real_key(key):
            raise NotFound(f"{key!r} is not a date")
        title = self.server.previewer.digest_title(digest)
        if title is None:
            raise NotFound(f"no digest named {digest!r}")
        body = pages.wrapper_page(digest=digest, title=title, key=key, version=self.server.previewer.version,
                                  options=query)
        self._send(200, "text/html; charset=utf-8", body.encode("utf-8"))

    def route_html(self, query: dict, digest: str, key: str) -> None:
        try:
            issue = self.server.previewer.issue(digest, key, query.get("variant", ""))
        except NewsletterError as exc:
            return self._error(500, "The email cannot be rendered", str(exc), fixable=True)
        # The email's bytes exactly as `newsletter build` writes index.html: nothing added.
        self._send(200, "text/html; charset=utf-8", issue.html, {"Content-Security-Policy": EMAIL_CSP})

    def route_text(self, query: dict, digest: str, key: str) -> None:
        try:
            issue = self.server.previewer.issue(digest, key, query.get("variant", ""))
        except NewsletterError as exc:
            return self._send(500, "text/plain; charset=utf-8", f"error: {exc}\n".encode("utf-8"))
        self._send(200, "text/plain; charset=utf-8", issue.text)

    def route_info(self, query: dict, digest: str, key: str) -> None:
        previewer = self.server.previewer
        try:
            issue = previewer.issue(digest, key, query.get("variant", ""))
        except NewsletterError as exc:
            return self._json(500, {"error": str(exc), "version": previewer.version})
        notes = [["skipped", issue.skipped]] if issue.skipped else []
        notes += [["note", note] for note in issue.notes]
        if not any(name == "List-Unsubscribe" for name, _ in issue.headers):
            notes.append(["warn", "no List-Unsubscribe header: set newsletter.unsubscribe_url or unsubscribe_mailto "
                                  "(Gmail and Yahoo require one-click unsubscribe from bulk senders)"])
        report = previewer.session.report
        if report is not None:
            notes += [["note", f"note: {n}"] for n in report.notes]
            notes += [["error", f"rejected: {r}"] for r in report.rejected]
        self._json(200, {
            "digest": issue.digest, "key": issue.key, "subject": issue.subject, "preheader": issue.preheader,
            "headers": [list(h) for h in issue.headers], "html_bytes": len(issue.html), "text_bytes": len(issue.text),
            "clip_bytes": GMAIL_CLIP_BYTES, "titles": list(issue.titles), "recorded": issue.recorded,
            "skipped": issue.skipped, "variant": issue.variant, "version": previewer.version,
            "variants": [{"key": v.key, "label": v.label, "subscribers": v.subscribers, "items": v.items}
                         for v in issue.variants],
            "notes": notes,
        })

    # -- responses -----------------------------------------------------------

    def _json(self, status: int, data: dict) -> None:
        self._send(status, "application/json", json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def _error(self, status: int, title: str, message: str, fixable: bool = False) -> None:
        self._send(status, "text/html; charset=utf-8", pages.error_page(title, message, fixable).encode("utf-8"),
                   {"Content-Security-Policy": EMAIL_CSP})

    def _send(self, status: int, ctype: str, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        # The preview changes with every save: a cached copy would show an old email.
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not self.head:
            self.wfile.write(body)


# Sent as a header, so the email's bytes stay exactly what build writes: no script runs in
# the email (none should be there), and only the preview itself may frame it.
EMAIL_CSP = "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"


class PreviewServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer with a Previewer and its file watcher; close() stops both."""

    daemon_threads = True  # a browser's open connection must not keep Ctrl-C waiting

    def __init__(self, host: str, port: int, previewer: Previewer, start: tuple[str, date] | None = None):
        self.previewer = previewer
        self.loopback = is_loopback(host)
        self.start = start
        if ":" in host.strip("[]"):
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn), which can hang without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]

    @property
    def url(self) -> str:
        host = self.server_address[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '[::]') else host}:{self.server_port}"

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self.previewer.watcher.start()
        super().serve_forever(poll_interval)

    def close(self) -> None:
        """Stop watching, close the socket and the store."""
        self.previewer.close()
        self.server_close()


def make_server(config_path: str | Path | None = None, host: str = "127.0.0.1", port: int = 8025, *,
                sync_first: bool = True, interval: float = 0.3, start: tuple[str, date] | None = None) -> PreviewServer:
    """Bind the preview server and do the first sync; serve_forever() serves. NewsletterError if it cannot listen."""
    previewer = Previewer(config_path, sync_first=sync_first, interval=interval)
    try:
        server = PreviewServer(host, port, previewer, start)
    except OSError as exc:
        previewer.close()
        if exc.errno == errno.EADDRINUSE:
            raise NewsletterError(f"port {port} is in use; pass --port") from None
        if exc.errno == errno.EACCES:
            raise NewsletterError(f"cannot listen on port {port}: permission denied", hint="use a port above 1023") from None
        raise NewsletterError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                              hint="use 127.0.0.1 or an address of this machine") from None
    previewer.refresh()
    return server
