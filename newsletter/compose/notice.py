"""The confirmation mail of a sign-up: plain text from the theme's `web/confirm_email.txt.j2`."""

from __future__ import annotations

from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from newsletter.compose.headers import header_value
from newsletter.compose.mime import sender_domain
from newsletter.compose.text import normalize
from newsletter.compose.theme import plain_environment, render_template
from newsletter.config import Config

CONFIRM_TEMPLATE = "web/confirm_email.txt.j2"


def confirmation_message(config: Config, address: str, link: str, digests: list[str], hours: int) -> bytes:
    """The whole message (CRLF) asking `address` to confirm by following `link`."""
    context = dict(title=config.title, link=link, digests=digests, hours=hours, address=address)
    text = normalize(render_template(plain_environment(config), CONFIRM_TEMPLATE, context, config))
    msg = EmailMessage(policy=policy.SMTP)
    msg.set_raw("From", header_value("From", config.sender))
    msg.set_raw("To", header_value("To", address))
    if config.reply_to:
        msg.set_raw("Reply-To", header_value("Reply-To", config.reply_to))
    msg.set_raw("Subject", header_value("Subject", f"Confirm your subscription to {config.title}"))
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = make_msgid(domain=sender_domain(config))
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to it
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    # SMTPUTF8: a To with a non-ASCII local part stays UTF-8 (the mailer asks for SMTPUTF8 then), as in a digest.
    return msg.as_bytes(policy=policy.SMTPUTF8)
