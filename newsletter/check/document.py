"""The email a check looks at: a whole message (headers, text part, HTML part) or an HTML file alone."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from functools import cached_property

from newsletter.check import css
from newsletter.errors import CheckError

ELEMENT_TEXT = 60  # how much of an attribute value a finding shows


@dataclass
class Document:
    """One email to check. `message` and `raw` are None for an HTML file on its own."""

    source: str
    html: str | None
    text: str | None = None
    message: EmailMessage | None = None
    raw: bytes | None = None
    _styles: dict = field(default_factory=dict, repr=False)

    @cached_property
    def root(self):
        """The parsed HTML (lxml), with source lines; None when there is no HTML part."""
        if not self.html or not self.html.strip():
            return None
        from lxml import etree

        # A string parse keeps lxml from guessing the encoding; the doctype is kept for its check.
        return etree.fromstring(self.html, etree.HTMLParser(remove_blank_text=False))

    @cached_property
    def body(self):
        return None if self.root is None else self.root.find("body")

    @cached_property
    def html_bytes(self) -> int:
        return len((self.html or "").encode("utf-8"))

    def style(self, element) -> list[css.Declaration]:
        """The declarations of an element's style attribute (parsed once)."""
        # By the text of the attribute: the items of an issue repeat the same few styles.
        text = element.get("style") or ""
        if text not in self._styles:
            self._styles[text] = css.declarations(text)
        return self._styles[text]

    @cached_property
    def sheets(self) -> list[tuple[object, list[css.Rule]]]:
        """Each <style> element with its parsed rules."""
        if self.root is None:
            return []
        return [(el, css.sheet(el.text or "")) for el in self.root.iter("style")]

    @cached_property
    def outlook_sheets(self) -> list[css.Rule]:
        """The rules of <style> elements inside Outlook-only conditional comments (<!--[if mso]>)."""
        if self.root is None:
            return []
        from lxml import etree

        rules = []
        for comment in self.root.iter(etree.Comment):
            text = comment.text or ""
            if re.match(r"\s*\[if [^\]]*mso", text):
                for style in re.findall(r"<style[^>]*>(.*?)</style>", text, re.S | re.I):
                    rules += [r for r in css.sheet(style) if r.selector]
        return rules

    def elements(self):
        """Every element of the HTML (comments and processing instructions left out)."""
        if self.root is None:
            return []
        return [el for el in self.root.iter() if isinstance(el.tag, str)]


def text_of(element) -> str:
    """The text inside an element, white space folded."""
    return " ".join("".join(element.itertext()).split())


def describe(element) -> str:
    """A short form of an element for a finding: '<img src="https://...">'."""
    attrs = []
    for name in ("id", "class", "href", "src", "name", "role"):
        value = element.get(name)
        if value is not None:
            if len(value) > ELEMENT_TEXT:
                value = value[:ELEMENT_TEXT - 1] + "…"
            attrs.append(f'{name}="{value}"')
    return "<" + " ".join([element.tag, *attrs]) + ">"


def from_html(data: bytes | str, source: str) -> Document:
    """An HTML file as a Document: UTF-8 (or the charset its <meta> names)."""
    if isinstance(data, bytes):
        data = _decode_html(data, source)
    return Document(source=source, html=data)


def _decode_html(data: bytes, source: str) -> str:
    head = data[:2048].decode("ascii", "replace")
    found = re.search(r"charset=[\"']?([A-Za-z0-9_-]+)", head)
    for charset in ([found.group(1)] if found else []) + ["utf-8"]:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    raise CheckError("is not UTF-8 text and names no charset it is in", where=source,
                          hint="save it as UTF-8")


def from_message(data: bytes, source: str) -> Document:
    """An RFC 5322 message as a Document: its text/plain and text/html parts decoded."""
    if b"\n" not in data[:4096] or not re.match(rb"[\x21-\x39\x3b-\x7e]+:", data.lstrip()[:200]):
        raise CheckError("does not start with mail headers", where=source,
                              hint="give a .eml file, an .html file, or a digest name")
    message = email.message_from_bytes(data, policy=policy.default)
    return Document(source=source, html=_part(message, "html", source), text=_part(message, "plain", source),
                    message=message, raw=data)


def _part(message: EmailMessage, kind: str, source: str) -> str | None:
    part = message.get_body((kind,))
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, UnicodeDecodeError, ValueError) as exc:
        raise CheckError(f"its text/{kind} part cannot be decoded: {exc}", where=source) from None


def load(data: bytes, source: str) -> Document:
    """A message or an HTML file, told by its name and then by its first bytes."""
    name = source.lower()
    if name.endswith((".html", ".htm")):
        return from_html(data, source)
    if name.endswith(".eml"):
        return from_message(data, source)
    if data.lstrip()[:1] == b"<":
        return from_html(data, source)
    return from_message(data, source)
