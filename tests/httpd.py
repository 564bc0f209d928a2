"""A real HTTP server on 127.0.0.1 for fetching tests: routes with status, headers, gzip, validators and holds.

It records every request (path and headers) and how many were in flight at once, so a test
can tell that fetches overlapped without timing anything. A route may `hold` its answer until
the test releases it (a server that does not answer), or wait at a barrier until `together`
requests are in flight (fetches that must overlap, or the barrier times out).
"""

from __future__ import annotations

import gzip as gzip_module
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None            # answer 304 to a request that sends it back in If-None-Match
    last_modified: str | None = None   # answer 304 to a request that sends it back in If-Modified-Since
    gzip: bool = False                 # send the body gzipped (when the client accepts gzip)
    hold: bool = False                 # answer only once the server's `release` event is set
    delay: float = 0.0                 # seconds before answering (benchmarks: a slow server)
    location: str | None = None        # for 3xx


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = threading.Event()
        self.barrier: threading.Barrier | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server._serve(self)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="feed-server", daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def route(self, path: str, **kwargs) -> str:
        self.routes[path] = Route(**kwargs)
        return self.url(path)

    def together(self, count: int, timeout: float = 10.0) -> None:
        """Make every request wait until `count` are in flight (or `timeout` passes: then they were not)."""
        self.barrier = threading.Barrier(count, timeout=timeout)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append((handler.path, {k.lower(): v for k, v in handler.headers.items()}))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer(handler)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        route = self.routes.get(handler.path.split("?")[0])
        if self.barrier is not None:
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                pass
        if route is None:
            return self._send(handler, 404, {}, b"not found")
        if route.hold:
            self.release.wait(timeout=30)
        if route.delay:
            time.sleep(route.delay)
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if route.location:
            headers["Location"] = route.location
        fresh = (route.etag and handler.headers.get("If-None-Match") == route.etag) or \
                (route.last_modified and handler.headers.get("If-Modified-Since") == route.last_modified)
        if fresh:
            return self._send(handler, 304, headers, b"")
        body = route.body
        if route.gzip and "gzip" in handler.headers.get("Accept-Encoding", ""):
            body = gzip_module.compress(body, 6)
            headers["Content-Encoding"] = "gzip"
        self._send(handler, route.status, headers, body)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if status != 304:
                handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer


@pytest.fixture
def feed_server():
    """A FeedServer running in a thread for the test."""
    server = FeedServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.release.set()
        if server.barrier is not None:
            server.barrier.abort()
        server.httpd.shutdown()
        server.httpd.server_close()
