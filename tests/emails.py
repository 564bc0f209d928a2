"""Small hand-written emails for the check tests: a clean one, and builders to break it one way at a time."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage

URL = "https://example.org/articles/one"

CLEAN_BODY = (
    '<div style="display:none;mso-hide:all">A preview of the issue</div>'
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
    '<tr><td style="padding:20px;background-color:#ffffff;color:#222222">'
    '<h1 style="margin:0 0 12px 0;font-size:28px;line-height:34px;mso-line-height-rule:exactly">The Issue</h1>'
    f'<p style="margin:0 0 12px 0">An article worth reading. <a href="{URL}" style="color:#8c2f1b">Read more</a></p>'
    '<p style="margin:0"><a href="mailto:editors@example.org" style="color:#8c2f1b">Write to us</a></p>'
    "</td></tr></table>"
)


def page(body: str = CLEAN_BODY, head: str = "", html_attrs: str = ' lang="en"') -> str:
    """A whole HTML email around `body`."""
    return (f"<!DOCTYPE html>\n<html{html_attrs}>\n<head>\n<meta charset=\"utf-8\">\n<title>The Issue</title>\n"
            f"{head}</head>\n<body>\n{body}\n</body>\n</html>\n")


def message(html: str | None = None, text: str | None = f"An article worth reading.\nRead more: {URL}\n", *,
            headers: dict | None = None, drop: tuple[str, ...] = ()) -> bytes:
    """A multipart/alternative message with the headers a newsletter sends; `headers` overrides, `drop` removes."""
    values = {
        "From": "Editors <editors@example.org>",
        "To": "reader@example.com",
        "Subject": "The Issue",
        "Date": "Fri, 11 Oct 2024 07:00:00 +0000",
        "Message-ID": "<abc123@example.org>",
        "List-Unsubscribe": "<https://example.org/unsubscribe?token=1.daily.AAAA>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        **(headers or {}),
    }
    msg = EmailMessage(policy=policy.SMTP)
    for name, value in values.items():
        if name not in drop and value is not None:
            msg[name] = value
    if text is not None:
        msg.set_content(text, cte="quoted-printable")
    html = page() if html is None else html
    if text is None:
        msg.set_content(html, subtype="html", cte="quoted-printable")
    else:
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return bytes(msg)


def found(report, check: str) -> list:
    """The findings of one check."""
    return [f for f in report.findings if f.check == check]
