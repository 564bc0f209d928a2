"""`newsletter serve`: the public web app for readers, behind a reverse proxy."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.app import app, state
from newsletter.errors import NewsletterError


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (the reverse proxy connects here).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free one).")] = 8080,
) -> None:
    """Serve readers' pages: one-click unsubscribe (RFC 8058), sign-up with double opt-in, preferences,
    /healthz; confirmation mails go out from here. Run it behind a reverse proxy; see [serve] in the README.

    Example: newsletter serve --port 8080
    """
    from newsletter.serve import listen, local_url, missing_extras, serve as run

    missing = missing_extras()
    if missing:
        raise NewsletterError(f"newsletter serve needs the {missing!r} module",
                              hint='install the web extras: pip install "newsletter[serve]"')
    config = state.config()
    sock = listen(host, port)
    url = local_url(sock)
    typer.echo(f"serving {config.title} on {url} (Ctrl-C to stop)")
    if not config.public_url:
        typer.echo(f"warning: [newsletter] public_url is not set: confirmation links point at {url}, "
                   "and any Host header is answered", err=True)
    try:
        run(config, sock)
    finally:
        sock.close()
    typer.echo("stopped")
