"""A reader's own pages, reached by the token of their emails: unsubscribe (RFC 8058 one-click, and the
page with its buttons) and preferences. A GET never changes anything: link scanners follow GETs."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from newsletter.serve.forms import NO_STORE, forged, genuine_form, not_found, page, web

ONE_CLICK = "One-Click"


def _titles(request: Request, names) -> list[str]:
    digests = web(request).config.digests
    return [digests[n].title if n in digests else n for n in names]


async def unsubscribe_page(request: Request):
    token = request.path_params["token"]
    reader = await run_in_threadpool(web(request).reader, token)
    if reader is None:
        return await not_found(request)
    return await page(request, "unsubscribe.html", {"reader": reader, "token": token,
                                                    "digest_title": _titles(request, [reader.digest])[0]})


async def unsubscribe(request: Request):
    token = request.path_params["token"]
    form = await request.form()
    if form.get("List-Unsubscribe") == ONE_CLICK and "csrf" not in form:
        # RFC 8058: no cookie, no anti-forgery field; the same short answer whatever the token.
        await run_in_threadpool(web(request).one_click, token)
        return PlainTextResponse("Unsubscribed.\n", headers=NO_STORE)
    if await genuine_form(request) is None:
        return await forged(request)
    everything = form.get("scope") == "everything"
    call = web(request).unsubscribe_everything if everything else web(request).one_click
    if not await run_in_threadpool(call, token):
        return await not_found(request)
    reader = await run_in_threadpool(web(request).reader, token)
    return await page(request, "unsubscribed.html", {"reader": reader, "everything": everything, "token": token,
                                                     "digest_title": _titles(request, [reader.digest])[0]})


async def preferences(request: Request):
    token = request.path_params["token"]
    saved = False
    if request.method == "POST":
        form = await genuine_form(request)
        if form is None:
            return await forged(request)
        reader = await run_in_threadpool(web(request).save_preferences, token, form.getlist("digest"),
                                         form.getlist("topic"))
        saved = True
    else:
        reader = await run_in_threadpool(web(request).reader, token)
    if reader is None:
        return await not_found(request)
    topics = await run_in_threadpool(web(request).offered_topics)
    return await page(request, "preferences.html", {
        "reader": reader, "token": token, "saved": saved, "digests": web(request).offered_digests(),
        "topics": topics, "chosen": {t.lower() for t in reader.topics}})
