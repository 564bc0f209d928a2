"""`newsletter serve` on 127.0.0.1 for tests: the real app under a real uvicorn in a thread, and a tiny
HTTP client that keeps cookies (urllib, so the tests need nothing more than the [serve] extras)."""

from __future__ import annotations

import contextlib
import http.client
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

from newsletter.config import Config  # noqa: E402
from newsletter.serve import create_app, listen  # noqa: E402


@dataclass
class Running:
    url: str
    host: str
    port: int
    app: object


@contextlib.contextmanager
def running(config: Config, *, mail: bool = True):
    """The app of `config` served on a free port until the block ends."""
    import uvicorn

    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(config, base_url=f"http://127.0.0.1:{port}", mail=mail)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Running(f"http://127.0.0.1:{port}", "127.0.0.1", port, app)
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


@dataclass
class Answer:
    status: int
    headers: dict
    text: str


class Browser:
    """Requests that keep cookies like one browser behind a TLS proxy (Secure ones too, over plain HTTP to
    the app), sent with `host` as the Host header; never follows redirects (none are expected)."""

    def __init__(self, base: str, host: str | None = None):
        self.base, self.host = base, host
        self.cookies: dict[str, str] = {}
        self.opener = urllib.request.build_opener(_NoRedirect())

    def get(self, path: str, headers: dict | None = None) -> Answer:
        return self._open(urllib.request.Request(self.base + path, headers=self._headers(headers)))

    def post(self, path: str, fields=None, headers: dict | None = None, body: bytes | None = None) -> Answer:
        data = body if body is not None else urllib.parse.urlencode(fields or {}, doseq=True).encode()
        request = urllib.request.Request(self.base + path, data=data, method="POST", headers=self._headers(
            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}))
        return self._open(request)

    def _headers(self, extra: dict | None) -> dict:
        headers = dict(extra or {})
        if self.host:
            headers.setdefault("Host", self.host)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _open(self, request) -> Answer:
        try:
            response = self.opener.open(request, timeout=20)
        except urllib.error.HTTPError as exc:
            response = exc
        with response:
            for value in response.headers.get_all("Set-Cookie") or ():
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return Answer(response.status if hasattr(response, "status") else response.code,
                          {k.lower(): v for k, v in response.headers.items()}, response.read().decode("utf-8"))

    def csrf(self, path: str) -> str:
        """The anti-forgery field of the form on the page at `path`."""
        page = self.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def raw_request(host: str, port: int, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, str]:
    """One request with exactly these headers (Host included), for what urllib would not send."""
    conn = http.client.HTTPConnection(host, port, timeout=20)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(body or None)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()
