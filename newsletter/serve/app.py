"""The ASGI app of `newsletter serve`: routes, the guard in front, and the confirmation mailer behind."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import anyio
import anyio.to_thread

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from newsletter.config import Config
from newsletter.errors import StoreError
from newsletter.pipeline import Web
from newsletter.serve import archive
from newsletter.serve.batch import Batcher
from newsletter.serve.guard import Guard
from newsletter.serve.readers import preferences, unsubscribe, unsubscribe_page
from newsletter.serve.signup import confirm, subscribe

log = logging.getLogger(__name__)

DB_THREADS = 2
MAIL_POLL = 5.0  # seconds between looks at the queue when nothing wakes the mailer (retries, other instances)


async def healthz(request: Request) -> Response:
    try:
        await run_in_threadpool(request.app.state.web.store.get_meta, "schema_version")
    except Exception as exc:  # noqa: BLE001 - any failure of the database makes the instance unhealthy
        log.warning("health check failed: %s", exc)
        return PlainTextResponse("database unavailable\n", status_code=503)
    return PlainTextResponse("ok\n", headers={"cache-control": "no-store"})


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """A locked (a long import), full or unreachable database: a short 503 the reader can retry, not a 500
    with a traceback in the log; nothing was changed (the transaction was not committed)."""
    log.warning("%s %s: %s", request.method, request.url.path.split("/")[1], exc)  # the path may hold a token
    return PlainTextResponse("The service is busy. Try again in a minute.\n", status_code=503,
                             headers={"retry-after": "60", "cache-control": "no-store"})


async def stylesheet(request: Request) -> Response:
    return Response(request.app.state.css, media_type="text/css", headers={"cache-control": "public, max-age=3600"})


async def no_icon(request: Request) -> Response:
    """Browsers ask for one on every page; an empty answer keeps 404s out of the logs."""
    return Response(status_code=204, headers={"cache-control": "public, max-age=86400"})


async def mailer(web: Web, wake: asyncio.Event) -> None:
    """Send queued confirmation mails in the background, never in a request; woken by each sign-up.

    In a thread of its own: a slow mail server must not take one of the few the requests share.
    """
    own = anyio.CapacityLimiter(1)
    while True:
        try:
            claimed = await anyio.to_thread.run_sync(web.send_queued_mail, limiter=own)
        except Exception:  # noqa: BLE001 - a failing database must not end the loop; the next round retries
            log.exception("the confirmation mailer failed; trying again")
            claimed = 0
        if claimed:
            continue
        wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), MAIL_POLL)


def create_app(config: Config, *, base_url: str | None = None, mail: bool = True):
    """The web app for this config; `base_url` is where it listens when public_url is not set.

    mail=False leaves the confirmation queue to other instances (or none, in tests).
    """
    web = Web(config, base_url)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # The database calls run in threads; a few are enough for SQLite's one writer, and more only
        # fight the event loop for the GIL (with anyio's default of 40 the one-click p99 was 3 times higher).
        anyio.to_thread.current_default_thread_limiter().total_tokens = DB_THREADS
        app.state.one_clicks = Batcher(web.leave)
        app.state.wake = asyncio.Event()
        task = asyncio.create_task(mailer(web, app.state.wake)) if mail else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            web.close()

    routes = [
        Route("/healthz", healthz),
        Route("/static/web.css", stylesheet),
        Route("/favicon.ico", no_icon),
        Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", unsubscribe, methods=["POST"]),
        Route("/subscribe", subscribe, methods=["GET", "POST"]),
        Route("/confirm/{token}", confirm, methods=["GET", "POST"]),
        Route("/preferences/{token}", preferences, methods=["GET", "POST"]),
        Route("/archive", archive.to_index),
        Route("/archive/", archive.index),
        Route("/archive/{digest}/", archive.digest_page),
        Route("/archive/{digest}/feed.xml", archive.feed),
        Route("/archive/{digest}/{key}/", archive.issue_page),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={StoreError: database_unavailable})
    # No redirect to "the same path with a slash": nothing here answers with a Location built from input.
    app.router.redirect_slashes = False
    app.state.web = web
    app.state.css = web.theme_file("web.css")
    return Guard(app, public_url=config.public_url, max_body=config.serve.max_body,
                 trusted_proxies=config.serve.trusted_proxies)


__all__ = ["create_app"]
