"""Per-recipient messages at speed: one template per distinct content, personal fields spliced in.

Building an EmailMessage and running the email generator costs ~4 ms for a 60 KB digest,
which caps a sender near 250 messages a second. Here the costly part (headers common to all,
both bodies quoted-printable encoded) is done once per variant; each recipient costs a
header fold for To and a bytes replace of the token.
"""

from __future__ import annotations

import binascii
import re
import uuid
from datetime import datetime
from email import policy
from email.utils import format_datetime

from newsletter.compose.context import TOKEN_MARK
from newsletter.compose.headers import header_value
from newsletter.compose.mime import CONTENT_HEADERS, list_id, sender_domain, unsubscribe_headers
from newsletter.config import Config, Digest
from newsletter.errors import ComposeError
from newsletter.model import Rendered

_MARK = TOKEN_MARK.encode("ascii")


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF lines of at most 76 octets, the token marker never split across lines."""
    out = []
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"  # as EmailMessage.set_content does, so both builders give the same part
    for segment in text.split(TOKEN_MARK):
        out.append(binascii.b2a_qp(segment.encode("utf-8"), istext=True).replace(b"\n", b"\r\n"))
    # The marker sits alone between two soft line breaks, so the token that replaces it
    # (at most ~40 URL-safe characters) keeps every line short and the encoding intact.
    return (b"=\r\n" + _MARK + b"=\r\n").join(out)


_PLAIN = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@<> -]*")


def _fold(name: str, value) -> bytes:
    if name in CONTENT_HEADERS:
        return f"{name}: {header_value(name, value)}\r\n".encode("utf-8")  # UTF-8 only for an SMTPUTF8 To
    if len(name) + len(value) < 76 and _PLAIN.fullmatch(value):
        # Short, plain ASCII (no quotes, commas or parentheses to escape): nothing to fold or
        # encode, and the header registry's parser costs a fifth of a millisecond a call.
        return f"{name}: {value}\r\n".encode("ascii")
    try:
        return policy.SMTP.header_factory(name, value).fold(policy=policy.SMTP).encode("ascii")
    except (ValueError, UnicodeEncodeError, IndexError) as exc:
        raise ComposeError(f"cannot write the {name} header: {exc}", where=f"{name}: {value!r}") from None


def _fold_targets(name: str, value: str) -> bytes:
    """List-Unsubscribe with each <target> on a line of its own, so the token spliced into it
    later (longer than the marker) cannot push a line past 78 characters."""
    if not value.isascii() or "\r" in value or "\n" in value:
        return _fold(name, value)
    return (f"{name}:\r\n " + ">,\r\n <".join(value.split(">, <")) + "\r\n").encode("ascii")

class MessageTemplate:
    """The bytes of one variant's message, with To, Message-ID and the unsubscribe token left open."""

    def __init__(self, rendered: Rendered, config: Config, digest: Digest, *, date: datetime,
                 subject_prefix: str = ""):
        self.domain = sender_domain(config)
        self.subject = subject_prefix + rendered.subject
        boundary = f"=_nl_{uuid.uuid4().hex}"
        common = [("From", config.sender), ("Reply-To", config.reply_to),
                  ("Subject", self.subject), ("Date", format_datetime(date)),
                  ("List-Id", list_id(config, digest, self.domain)),
                  *unsubscribe_headers(config, TOKEN_MARK).items(), ("MIME-Version", "1.0"),
                  ("Content-Type", f'multipart/alternative; boundary="{boundary}"')]
        self.head = b"".join(_fold_targets(n, v) if n == "List-Unsubscribe" else _fold(n, v) for n, v in common if v)
        part = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        self.body = b"".join([
            b"\r\n--", boundary.encode(), b"\r\n", part.format("plain").encode(), _qp(rendered.text),
            b"\r\n--", boundary.encode(), b"\r\n", part.format("html").encode(), _qp(rendered.html),
            b"\r\n--", boundary.encode(), b"--\r\n",
        ])

    def new_message_id(self) -> str:
        return f"<{uuid.uuid4().hex}@{self.domain}>"

    def personal(self, to: str | tuple[str | None, str], token: str, message_id: str) -> bytes:
        """The whole message for one recipient (to: "Name <address>" or (name, address)), CRLF line endings."""
        head = self.head.replace(_MARK, token.encode("ascii"))
        return b"".join([_fold("To", to), _fold("Message-ID", message_id), head, self.body.replace(_MARK, token.encode("ascii"))])
