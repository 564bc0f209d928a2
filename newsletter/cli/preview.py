"""`newsletter preview`: serve the issue in a browser and re-render it on every save."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Optional

import typer

from newsletter.cli.app import NoSync, _parse_day, _sync_lines, app, open_in_browser, state


@app.command()
def preview(
    digest: Annotated[Optional[str], typer.Argument(help="Digest name (default: the only one).")] = None,
    day: Annotated[Optional[str], typer.Option("--date", metavar="DATE", help="Issue date, YYYY-MM-DD (default: today in the digest's zone).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback lets others read it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free one).")] = 8025,
    open_: Annotated[bool, typer.Option("--open", help="Open the preview in the default browser.")] = False,
    no_sync: NoSync = False,
) -> None:
    """Preview an issue in the browser as `newsletter build` would write it; it re-renders by itself
    when an article, the theme or newsletter.toml is saved. Nothing is recorded or sent.

    Toolbar: desktop/mobile width, light/dark, the text part, headers and size, subscribers' topic variants.
    Example: newsletter preview daily --date 2024-10-11 --open
    """
    from newsletter.pipeline.preview import today_path
    from newsletter.preview import is_loopback, make_server

    parsed_day = _parse_day(day)
    config = state.config()
    path = today_path(config, digest, parsed_day)
    chosen = config.digest(digest)
    start = (chosen.name, parsed_day) if parsed_day else None
    server = make_server(state.config_path, host, port, sync_first=not no_sync, start=start)
    if not is_loopback(host):
        typer.echo(f"warning: serving on {host}, not loopback: anyone who can reach this machine on port "
                   f"{server.server_port} can read the preview", err=True)
    previous = _stop_on_sigterm()
    try:
        _sync_lines(server.previewer.session.report)
        if server.previewer.error is not None:
            typer.echo(f"error: {server.previewer.error} (shown in the page until fixed)", err=True)
        url = server.url + path
        typer.echo(f"previewing {chosen.name} at {url} (Ctrl-C to stop)")
        if open_:
            open_in_browser(url)
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        server.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm():
    """`kill PID` stops the preview as cleanly as Ctrl-C does; returns the handler it replaced."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None  # signals can only be handled in the main thread (e.g. under a test runner's thread)
    return signal.signal(signal.SIGTERM, handler)
