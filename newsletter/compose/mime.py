"""The MIME message of a rendered issue: multipart/alternative with the headers of DESIGN.md section 4."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import quote

from newsletter.compose.context import TOKEN_MARK, unsubscribe_mailto, unsubscribe_url
from newsletter.compose.headers import header_value
from newsletter.config import Config, Digest
from newsletter.errors import ComposeError
from newsletter.model import Rendered

log = logging.getLogger(__name__)


def sender_domain(config: Config) -> str:
    """The domain of the From address, as ASCII (IDNA), for Message-ID and List-Id."""
    address = parseaddr(config.sender)[1]
    domain = address.rpartition("@")[2].strip().strip(">").lower()
    if not domain:
        raise ComposeError(f"the sender {config.sender!r} has no domain", where=f"{config.path}: newsletter.from",
                           hint='write it as "Name <you@example.org>"')
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ComposeError(f"the sender's domain {domain!r} is not a valid domain name",
                           where=f"{config.path}: newsletter.from") from None


def fill_token(value: str, token: str) -> str:
    """A URL with the personal token, URL-quoted, in place of the marker."""
    return value.replace(TOKEN_MARK, quote(token, safe=""))


def personalize(rendered: Rendered, token: str) -> Rendered:
    """Fill the personal markers (the unsubscribe token, URL-quoted) in html and text."""
    # Only string replacement per recipient: the costly render and CSS inlining happened once.
    return replace(rendered, html=fill_token(rendered.html, token), text=fill_token(rendered.text, token),
                   web_html=fill_token(rendered.web_html, token))


def list_id(config: Config, digest: Digest, domain: str) -> tuple[str, str]:
    """List-Id (RFC 2919) as (description, id): the configured one, or (the digest's title, name.domain)."""
    if config.list_id:
        value = config.list_id.strip()
        if "<" in value:
            description, _, rest = value.partition("<")
            return description.strip(), rest.rstrip(">").strip()
        return digest.title, value
    return digest.title, f"{digest.name}.{domain}"


def unsubscribe_headers(config: Config, token: str) -> dict[str, str]:
    """List-Unsubscribe (RFC 2369) and, with an https URL, List-Unsubscribe-Post (RFC 8058)."""
    targets = []
    url = unsubscribe_url(config)
    if url:
        targets.append(fill_token(url, token))
    mailto = unsubscribe_mailto(config)
    if mailto:
        targets.append(fill_token(mailto, token))
    if not targets:
        return {}
    headers = {"List-Unsubscribe": ", ".join(f"<{t}>" for t in targets)}
    # One-click unsubscribe is a POST to an https URL; a mailto or plain http does not qualify.
    if url and url.lower().startswith("https://"):
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


# Headers that carry content (titles, names, config text): written through header_value.
CONTENT_HEADERS = ("From", "To", "Reply-To", "Subject", "List-Id")


def build_message(rendered: Rendered, config: Config, digest: Digest, *, to: str | tuple[str | None, str] | None = None,
                  token: str = "", message_id: str | None = None,
                  date: datetime | None = None) -> EmailMessage:
    """The MIME message: multipart/alternative, text/plain first, text/html last, headers per DESIGN.md 4."""
    # Fill any marker still there (an empty token for outbox copies): no message ever
    # leaves with the placeholder in it.
    rendered = personalize(rendered, token)
    domain = sender_domain(config)
    when = date or datetime.now(digest.timezone)
    if when.tzinfo is None:
        when = when.replace(tzinfo=digest.timezone)
    if message_id and not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    headers = {
        "From": config.sender,
        "To": to,
        "Reply-To": config.reply_to,
        "Subject": rendered.subject,
        "Date": format_datetime(when),
        "Message-ID": message_id or make_msgid(domain=domain),
        "List-Id": list_id(config, digest, domain),
        **unsubscribe_headers(config, token),
    }
    msg = EmailMessage(policy=policy.SMTP)
    for name, value in headers.items():
        if value is None or value == "":
            continue
        try:
            if name in CONTENT_HEADERS:
                # Stored as written: the header parser would decode a look-alike encoded word.
                msg.set_raw(name, header_value(name, value))
            else:
                msg[name] = value  # generated values; policy.SMTP refuses CR/LF in them all the same
        except (ValueError, HeaderParseError, IndexError, TypeError) as exc:
            raise ComposeError(f"cannot write the {name} header: {exc}", where=f"{name}: {value!r}",
                               hint="headers must be one line; check the config and the address") from None
    # Quoted-printable keeps every line under 998 octets whatever the paragraphs hold,
    # and stays readable in a raw .eml.
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in msg.iter_parts():
        del part["MIME-Version"]  # add_alternative() copies it into the part; it belongs on top only
    return msg
