"""Sanitized article HTML -> wrapped plain-text paragraphs, in the digest text format.

The text part of the email *is* the plain-text digest format (DESIGN.md section 2), so
the digest reader can import a sent issue back. What the reader relies on:
paragraphs separated by exactly one blank line, quoted paragraphs indented four spaces,
one-line titles, and the "Read more" / "More about:" lines that close an item.

Accepted limitation: an editor's paragraph that itself starts with "Read more at ",
"Read more:" or "More about:" (or consists of a bare date) looks exactly like those
structural lines, and a reader will take it for one. We do not escape it, because the
format has no escape syntax and mangling the editor's words would be worse.
"""

from __future__ import annotations

import logging
import re
import textwrap
from dataclasses import dataclass
from html.parser import HTMLParser

log = logging.getLogger(__name__)

WIDTH = 72
QUOTE_INDENT = "    "
# A <br> inside a paragraph; NUL cannot occur in sanitized HTML and is not white space,
# so it survives the whitespace folding below.
_BR = "\x00"
_BLOCKS = {"p", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "ul", "ol", "li",
           "figure", "figcaption", "hr", "div", "table", "tr", "section", "article", "header",
           "footer", "dl", "dt", "dd", "address"}
_SKIP = {"script", "style", "head", "title", "template"}


@dataclass(frozen=True)
class Block:
    """One paragraph of text: its quote depth, list marker (or ''), and whether it is <pre>."""

    text: str
    depth: int = 0
    marker: str = ""
    pre: bool = False
    list_depth: int = 0
    list_start: bool = False  # the first item of a top-level list: starts a new paragraph


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.parts: list[str] = []
        self.depth = 0
        self.lists: list[list] = []  # one [kind, counter] per open <ul>/<ol>
        self.marker = ""
        self.new_list = False
        self.pre = 0
        self.skip = 0
        self.links: list[tuple[str, int]] = []  # (href, index in parts where its text starts)

    def flush(self) -> None:
        raw = "".join(self.parts)
        self.parts = []
        # A link that spans blocks (HTML5 allows <a><p>..</p></a>) goes on in the next block.
        self.links = [(href, 0) for href, _ in self.links]
        marker, self.marker = self.marker, ""
        if self.pre:
            text = raw.strip("\n")
        else:
            lines = [" ".join(line.split()) for line in raw.split(_BR)]
            while lines and not lines[0]:
                lines.pop(0)
            while lines and not lines[-1]:
                lines.pop()
            text = "\n".join(lines)
        if not text.strip():
            self.marker = marker  # an <li> opening with a <p>: the marker belongs to that text
            return
        self.blocks.append(Block(text, self.depth, marker, bool(self.pre), max(len(self.lists) - 1, 0),
                                 bool(marker) and self.new_list))
        if marker:
            self.new_list = False

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip += 1
            return
        if tag == "br":
            self.parts.append("\n" if self.pre else _BR)
            return
        if tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))
            return
        if tag not in _BLOCKS:
            return
        self.flush()
        if tag == "blockquote":
            self.depth += 1
        elif tag in ("ul", "ol"):
            self.new_list = self.new_list or not self.lists
            self.lists.append([tag, 0])
        elif tag == "li":
            kind = self.lists[-1] if self.lists else ["ul", 0]
            kind[1] += 1
            self.marker = f"{kind[1]}. " if kind[0] == "ol" else "- "
        elif tag == "pre":
            self.pre += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(self.skip - 1, 0)
            return
        if tag == "a":
            if self.links:
                href, start = self.links.pop()
                self._link(href, start)
            return
        if tag not in _BLOCKS:
            return
        self.flush()
        if tag == "blockquote":
            self.depth = max(self.depth - 1, 0)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self.marker = ""
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)

    def _link(self, href: str, start: int) -> None:
        label = " ".join("".join(self.parts[start:]).replace(_BR, " ").split())
        target = href.strip()
        if not target or target.startswith("#"):
            return
        shown = target[7:] if target.startswith("mailto:") else target
        if not label:
            self.parts.append(target)
        elif label not in (target, shown):
            self.parts.append(f" <{target}>")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)

    def close(self) -> list[Block]:
        super().close()
        while self.links:  # an unclosed <a> still shows its target
            self._link(*self.links.pop())
        self.flush()
        return self.blocks


def html_blocks(html: str) -> list[Block]:
    """Sanitized HTML -> its paragraphs, with quote depth and list markers."""
    collector = _Collector()
    collector.feed(html or "")
    return collector.close()


def html_to_text(html: str) -> str:
    """HTML -> one line of plain text: tags dropped, entities unescaped, whitespace folded."""
    return " ".join(" ".join(b.text.split()) for b in html_blocks(html))


def wrap(text: str, indent: str = "", first: str = "", width: int = WIDTH) -> str:
    """Wrap each line of `text` at `width`, never splitting a word or URL."""
    out = []
    for i, line in enumerate(text.split("\n")):
        lead = indent + (first if i == 0 else " " * len(first))
        if not line.strip():
            continue
        out.append(textwrap.fill(
            line, width=width, initial_indent=lead, subsequent_indent=indent + " " * len(first),
            break_long_words=False, break_on_hyphens=False,
        ))
    return "\n".join(out)


def paragraphs(html: str) -> list[str]:
    """Sanitized HTML -> wrapped text paragraphs; block quotes indented, list items one per line."""
    out: list[str] = []
    previous: Block | None = None
    for block in html_blocks(html):
        indent = QUOTE_INDENT * block.depth + "  " * block.list_depth
        if block.pre:
            text = "\n".join((indent + line).rstrip() for line in block.text.split("\n"))
        else:
            text = wrap(block.text, indent=indent, first=block.marker)
        if not text.strip():
            continue
        # The items of one list are lines of one paragraph, not paragraphs of their own.
        if block.marker and not block.list_start and previous is not None and previous.marker and out:
            out[-1] += "\n" + text
        else:
            out.append(text)
        previous = block
    return out


def with_url(text: str, url: str | None, width: int = WIDTH) -> str:
    """'text url' on one line, or the URL on the next line when that line would pass `width`."""
    if not url:
        return text
    line = f"{text} {url}"
    return line if len(line) <= width else f"{text}\n{url}"


_BLANKS = re.compile(r"\n{3,}")


def normalize(text: str) -> str:
    """Exactly one blank line between paragraphs, no trailing spaces, one final newline."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"
