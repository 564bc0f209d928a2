"""A reader's own pages, reached by the token of their emails: unsubscribe (RFC 8058 one-click, and the
page with its buttons) and preferences. A GET never changes anything: link scanners follow GETs."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from newsletter.serve.forms import NO_STORE, forged, genuine_form, not_found, page, texts, web

log = logging.getLogger(__name__)

ONE_CLICK = "One-Click"


def _titles(request: Request, names) -> list[str]:
    digests = web(request).config.digests
    return [digests[n].title if n in digests else n for n in names]


async def _is_one_click(request: Request) -> bool:
    """Whether the POST is RFC 8058's: `List-Unsubscribe=One-Click` in its body and no anti-forgery field.

    Multipart goes through the form parser; any other body is read as urlencoded, whatever its type says
    (read without the form parser: it is the busy path), because mail providers vary in what they send
    (a charset, other fields, text/plain, no type at all) and a missed one-click keeps mailing someone who left.
    """
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        form = await request.form()
        return form.get("List-Unsubscribe") == ONE_CLICK and "csrf" not in form
    fields = parse_qs((await request.body()).decode("latin-1").strip())
    return fields.get("List-Unsubscribe") == [ONE_CLICK] and "csrf" not in fields


async def unsubscribe_page(request: Request):
    token = request.path_params["token"]
    reader = await run_in_threadpool(web(request).reader, token)
    if reader is None:
        return await not_found(request)
    return await page(request, "unsubscribe.html", {"reader": reader, "token": token,
                                                    "digest_title": _titles(request, [reader.digest])[0]})


async def unsubscribe(request: Request):
    token = request.path_params["token"]
    if await _is_one_click(request):
        # RFC 8058: no cookie, no anti-forgery field; the same short answer whatever the token.
        try:
            target = await run_in_threadpool(web(request).one_click_target, token)
            if isinstance(target, tuple):
                await request.app.state.one_clicks.add(target)
        except Exception:  # noqa: BLE001 - the database failed: the sender's retry will find it working
            log.exception("a one-click unsubscribe could not be recorded")
            return PlainTextResponse("Try again later.\n", status_code=503, headers={"retry-after": "60", **NO_STORE})
        return PlainTextResponse("Unsubscribed.\n", headers=NO_STORE)
    form = await genuine_form(request)
    if form is None:
        return await forged(request)
    everything = form.get("scope") == "everything"
    call = web(request).unsubscribe_everything if everything else web(request).one_click
    if not await run_in_threadpool(call, token):
        return await not_found(request)
    reader = await run_in_threadpool(web(request).reader, token)
    if reader is None:  # removed by the editor in the meantime
        return await not_found(request)
    return await page(request, "unsubscribed.html", {"reader": reader, "everything": everything, "token": token,
                                                     "digest_title": _titles(request, [reader.digest])[0]})


async def preferences(request: Request):
    token = request.path_params["token"]
    saved = False
    if request.method == "POST":
        form = await genuine_form(request)
        if form is None:
            return await forged(request)
        reader = await run_in_threadpool(web(request).save_preferences, token, texts(form, "digest"),
                                         texts(form, "topic"))
        saved = True
    else:
        reader = await run_in_threadpool(web(request).reader, token)
    if reader is None:
        return await not_found(request)
    topics = await run_in_threadpool(web(request).offered_topics)
    return await page(request, "preferences.html", {
        "reader": reader, "token": token, "saved": saved, "digests": web(request).offered_digests(),
        "topics": topics, "chosen": {t.lower() for t in reader.topics}})
