"""One ASGI middleware in front of every route: the Host check, the body limit, the client's address
(X-Forwarded-For believed only from trusted proxies) and the security headers of every answer."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

# No script at all; styles and images only from the app itself; forms post only back to it.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # Page URLs hold readers' tokens: never hand them to another site.
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
UNCHECKED_PATHS = ("/healthz",)  # the proxy's health check may use any Host


def expected_host(public_url: str | None) -> str | None:
    """The Host header requests must carry when public_url is set (lower case, default port left out)."""
    if not public_url:
        return None
    parts = urlsplit(public_url)
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def client_address(peer: str | None, forwarded: str | None, proxies: list) -> str:
    """The client: the peer, unless it is a trusted proxy; then the nearest X-Forwarded-For hop
    that is not one (walking from the right, as each proxy appends)."""
    if peer is None:
        return "unknown"
    if not forwarded or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, proxies: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


class Guard:
    def __init__(self, app, *, public_url: str | None, max_body: int, trusted_proxies=()):
        self.app = app
        self.host = expected_host(public_url)
        self.max_body = max_body
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers, forwarded = {}, []
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
            if name == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
        peer = scope.get("client")[0] if scope.get("client") else None
        # Every line, in order: a proxy that adds a line of its own (HAProxy) leaves the client's own first.
        scope.setdefault("state", {})["client"] = client_address(peer, ", ".join(forwarded), self.proxies)

        async def secured(message):
            if message["type"] == "http.response.start":
                own = message.get("headers", [])
                set_by_route = {name.lower() for name, _ in own}  # the archive's pages set a CSP of their own
                message = {**message, "headers": [*own, *(h for h in HEADERS if h[0] not in set_by_route)]}
            await send(message)

        if sum(name == b"host" for name, _ in scope["headers"]) > 1:  # RFC 9112 3.2: which one would be meant?
            return await _plain(secured, 400, "A request carries one Host header.")
        if self.host and scope["path"] not in UNCHECKED_PATHS and headers.get("host", "").lower() != self.host:
            return await _plain(secured, 421, "This server does not answer for that host name.")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _plain(secured, 413, "The request is too large.")
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:  # chunked bodies carry no Content-Length to refuse up front
                    raise HTTPException(413, "The request is too large.")  # answered by the app's handler
            return message

        await self.app(scope, limited, secured)


async def _plain(send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
