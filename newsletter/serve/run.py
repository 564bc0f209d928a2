"""Running the app under uvicorn on a socket bound first, so a taken port is one line, not a traceback."""

from __future__ import annotations

import errno
import logging
import socket

from newsletter.config import Config
from newsletter.errors import NewsletterError

log = logging.getLogger(__name__)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; NewsletterError saying why when it cannot be had."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise NewsletterError(f"cannot listen on {host}: {exc.strerror}", hint="give an address with --host") from None
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(info[4])
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        hint = "another program uses it: choose another --port" if exc.errno == errno.EADDRINUSE else \
            "use a port above 1023, or another --host"
        raise NewsletterError(f"cannot listen on {host}:{port}: {exc.strerror}", hint=hint) from None
    return sock


def local_url(sock: socket.socket) -> str:
    """http://address:port of a listening socket (an IPv6 address in brackets, as URLs write it)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(config: Config, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve the app on `sock` until stopped (Ctrl-C, SIGTERM)."""
    import uvicorn

    from newsletter.serve.app import create_app

    app = create_app(config, base_url=local_url(sock))
    # proxy_headers off: X-Forwarded-For is the guard's to read, and only from [serve] trusted_proxies.
    # No access log: paths hold readers' tokens.
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False, proxy_headers=False,
                                           server_header=False, lifespan="on"))
    server.run(sockets=[sock])


def missing_extras() -> str | None:
    """The first module of the [serve] extras that is not installed, or None."""
    from importlib.util import find_spec

    for modules in (("starlette",), ("uvicorn",), ("python_multipart", "multipart")):
        if not any(find_spec(m) for m in modules):
            return modules[0]
    return None
