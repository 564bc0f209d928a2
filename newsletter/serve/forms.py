"""What every human form shares: the session cookie and its anti-forgery field, pages, form reading."""

from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from newsletter.tokens import check_form_token, form_token

COOKIE = "nl_session"
NO_STORE = {"cache-control": "no-store"}


def web(request: Request):
    """The pipeline's Web of this app."""
    return request.app.state.web


async def page(request: Request, name: str, context: dict, status: int = 200) -> HTMLResponse:
    """A theme page with a fresh anti-forgery field; sets the session cookie when the browser has none."""
    session = request.cookies.get(COOKIE)
    fresh = not session or len(session) > 200  # an empty one too: no form of it could ever pass
    if fresh:
        session = secrets.token_urlsafe(18)
    context = {**context, "csrf": form_token(web(request).form_key, session)}
    html = await run_in_threadpool(web(request).page, name, context)
    response = HTMLResponse(html, status_code=status, headers=NO_STORE)
    if fresh:
        secure = (web(request).config.public_url or "").startswith("https://")
        response.set_cookie(COOKIE, session, httponly=True, samesite="lax", secure=secure, path="/")
    return response


async def genuine_form(request: Request):
    """The submitted form, or None when its anti-forgery field does not match the session cookie."""
    form = await request.form()
    if not check_form_token(web(request).form_key, request.cookies.get(COOKIE), form.get("csrf")):
        return None
    return form


def texts(form, name: str) -> list[str]:
    """The text values of a repeated field (a multipart body may send files instead: ignored)."""
    return [v for v in form.getlist(name) if isinstance(v, str)]


async def forged(request: Request) -> HTMLResponse:
    """403, nothing changed: the form did not come from a page of this site in this browser."""
    return await page(request, "forbidden.html", {}, status=403)


async def not_found(request: Request) -> HTMLResponse:
    """The same page for a forged, altered, expired or unknown link: nothing tells them apart."""
    return await page(request, "invalid.html", {}, status=404)
