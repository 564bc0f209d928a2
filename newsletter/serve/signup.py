"""Double opt-in: the sign-up form, the same answer whatever the address's state, and the confirmation
page whose button (a POST) makes the pending address a subscriber."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from newsletter.errors import SubscriberError
from newsletter.serve.forms import forged, genuine_form, not_found, page, texts, web

HONEYPOT = "website"  # hidden from people by the stylesheet; bots fill every field


async def _form(request: Request, error: str | None = None, email: str = "", status: int = 200):
    topics = await run_in_threadpool(web(request).offered_topics)
    return await page(request, "subscribe.html", {"digests": web(request).offered_digests(), "topics": topics,
                                                  "error": error, "email": email, "honeypot": HONEYPOT},
                      status=status)


async def subscribe(request: Request):
    if request.method != "POST":  # GET, and HEAD (which Starlette routes with it)
        return await _form(request)
    form = await genuine_form(request)
    if form is None:
        return await forged(request)
    email = (texts(form, "email") or [""])[0][:320]
    if not form.get(HONEYPOT):
        try:
            queued = await run_in_threadpool(web(request).sign_up, email, texts(form, "digest"),
                                             texts(form, "topic"), request.state.client)
        except SubscriberError:
            return await _form(request, "That is not a valid email address.", email, status=400)
        if queued:
            request.app.state.wake.set()
    # Sent, held back by a limit, a bot, an address already subscribed: one answer for all.
    return await page(request, "check_mail.html", {})


async def confirm(request: Request):
    token = request.path_params["token"]
    if request.method != "POST":  # GET, and HEAD (which Starlette routes with it)
        signup = await run_in_threadpool(web(request).pending, token)
        if signup is None:
            return await not_found(request)
        return await page(request, "confirm.html", {"token": token})
    if await genuine_form(request) is None:
        return await forged(request)
    if not await run_in_threadpool(web(request).confirm, token):
        return await not_found(request)
    return await page(request, "confirmed.html", {})
