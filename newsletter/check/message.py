"""Checks of the whole message: the text part, the headers mailbox providers look at, line lengths."""

from __future__ import annotations

from email.utils import parseaddr

from newsletter.check.document import Document, describe, text_of
from newsletter.check.findings import ERROR, WARNING, Finding

SUBJECT_LENGTH = 78   # RFC 5322's line length; inboxes show far less
LINE_LIMIT = 998      # RFC 5322: no line may be longer, in octets, without the CRLF


def check_text_part(doc: Document):
    """A message without a text/plain part, or with an empty one."""
    if doc.message is None:
        return
    if doc.text is None:
        yield Finding("text-part", ERROR, "no text/plain part: text-only readers and some spam filters see nothing "
                      "or distrust the message", "send multipart/alternative with a text part (newsletter writes one "
                      "from email.txt.j2)")
    elif not doc.text.strip():
        yield Finding("text-part", ERROR, "the text/plain part is empty", "fill it: newsletter renders it from "
                      "email.txt.j2")


def read_more_links(doc: Document) -> list:
    """The items' "Read more" links: text that starts with "Read more", or inside a class "read-more"."""
    found = []
    for a in doc.elements():
        if a.tag != "a" or not (a.get("href") or "").strip():
            continue
        text = text_of(a).lower()
        marked = any("read-more" in (el.get("class") or "").split() for el in [a, *a.iterancestors()])
        if text.startswith("read more") or marked:
            found.append(a)
    return found


def check_read_more(doc: Document):
    """Items whose "Read more" URL the text part does not carry."""
    if doc.message is None or not (doc.text or "").strip():
        return
    missing = [a for a in read_more_links(doc) if a.get("href").strip() not in doc.text]
    if missing:
        more = f" [{len(missing)} items]" if len(missing) > 1 else ""
        yield Finding("read-more", WARNING, f"the text part lacks the \"Read more\" URL {missing[0].get('href').strip()}"
                      f"{more}: text-only readers cannot follow it", "write each item's URL into email.txt.j2 "
                      "(the default theme does)", describe(missing[0]), missing[0].sourceline, count=len(missing))


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip("<>").lower().rstrip(".")


def check_headers(doc: Document):
    """From, Date, Message-ID, the subject and List-Unsubscribe (RFC 2369, one-click RFC 8058)."""
    msg = doc.message
    if msg is None:
        return
    for name in ("From", "Date", "Message-ID"):
        if not str(msg.get(name, "") or "").strip():
            yield Finding("headers", ERROR, f"no {name} header: mailbox providers treat such mail as suspect",
                          f"add a {name} header (newsletter always writes one)", name)
    subject = " ".join(str(msg.get("Subject", "") or "").split())
    if not subject:
        yield Finding("headers", ERROR, "the subject is empty", "set `subject` of the digest in newsletter.toml",
                      "Subject")
    elif len(subject) > SUBJECT_LENGTH:
        yield Finding("headers", WARNING, f"the subject is {len(subject)} characters long, over {SUBJECT_LENGTH}: "
                      "inboxes show only the first 40 to 70 or so", "shorten the digest's `subject` template", "Subject")
    unsubscribe = str(msg.get("List-Unsubscribe", "") or "")
    targets = [t.strip() for t in unsubscribe.replace("\n", " ").split(",") if t.strip()]
    https = [t for t in targets if t.strip("<> ").lower().startswith("https://")]
    post = str(msg.get("List-Unsubscribe-Post", "") or "").strip()
    if not targets:
        yield Finding("headers", WARNING, "no List-Unsubscribe header: Gmail and Yahoo ask it of bulk senders, and "
                      "readers who cannot find the link report spam instead", "set `unsubscribe_url` (https) or "
                      "`unsubscribe_mailto` in newsletter.toml", "List-Unsubscribe")
    elif https and post.replace(" ", "").lower() != "list-unsubscribe=one-click":
        yield Finding("headers", WARNING, "List-Unsubscribe has an https URL but no List-Unsubscribe-Post: "
                      "One-Click: Gmail and Yahoo want one-click unsubscribe (RFC 8058)",
                      "add List-Unsubscribe-Post: List-Unsubscribe=One-Click (newsletter does with an https "
                      "unsubscribe_url)", "List-Unsubscribe-Post")
    elif post and not https:
        yield Finding("headers", WARNING, "List-Unsubscribe-Post without an https URL in List-Unsubscribe: "
                      "one-click unsubscribe needs one", "make `unsubscribe_url` an https URL", "List-Unsubscribe")
    sender = _domain(parseaddr(str(msg.get("From", "") or ""))[1])
    message_id = str(msg.get("Message-ID", "") or "").strip()
    if sender and "@" in message_id and _domain(message_id) != sender:
        yield Finding("headers", WARNING, f"the Message-ID's domain ({_domain(message_id)}) is not the sender's "
                      f"({sender}): some filters score that as forged", "make Message-IDs with the From domain "
                      "(newsletter does)", "Message-ID")


def check_line_length(doc: Document):
    """Lines over 998 octets anywhere in the message, which servers may break or refuse."""
    if doc.raw is None:
        return
    long_lines = [n for n, line in enumerate(doc.raw.split(b"\n"), 1) if len(line.rstrip(b"\r")) > LINE_LIMIT]
    if long_lines:
        more = f" [{len(long_lines)} lines]" if len(long_lines) > 1 else ""
        yield Finding("line-length", ERROR, f"a line of the message is longer than {LINE_LIMIT} octets{more}: mail "
                      "servers may break it anywhere or refuse the message", "encode the parts quoted-printable or "
                      "base64 (newsletter does)", "message", long_lines[0], count=len(long_lines))
