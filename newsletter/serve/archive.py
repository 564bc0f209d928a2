"""The public archive under /archive/: the pipeline's pages and feed, read through the app's open store."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from newsletter.errors import ArchiveNotFound
from newsletter.pipeline import archive_digest_html, archive_feed_xml, archive_index_html, archive_issue_html

# An issue page is the email's own HTML: inline styles and a <style> block, images from anywhere.
# Still no script, no framing, no forms.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
       "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
CACHE = "public, max-age=300"


async def _answer(request: Request, make, *args, media_type: str = "text/html; charset=utf-8") -> Response:
    web = request.app.state.web
    try:
        body = await run_in_threadpool(make, web.config, *args, store=web.store)
    except ArchiveNotFound:
        return PlainTextResponse("No such page in the archive.\n", status_code=404,
                                 headers={"cache-control": "no-store"})
    return Response(body, media_type=media_type,
                    headers={"cache-control": CACHE, "content-security-policy": CSP})


async def to_index(request: Request) -> Response:
    """`/archive` without its slash: the pages' relative links need it. A fixed target: no open redirect.
    Relative, so that it stays under the path a proxy serves the app at."""
    return RedirectResponse("archive/", status_code=308)


async def index(request: Request) -> Response:
    return await _answer(request, archive_index_html)


async def digest_page(request: Request) -> Response:
    return await _answer(request, archive_digest_html, request.path_params["digest"])


async def issue_page(request: Request) -> Response:
    return await _answer(request, archive_issue_html, request.path_params["digest"], request.path_params["key"])


async def feed(request: Request) -> Response:
    return await _answer(request, archive_feed_xml, request.path_params["digest"],
                         media_type="application/atom+xml; charset=utf-8")
