"""The plain-text digest format (DESIGN.md section 2): the text part of our own emails, read back."""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass

from newsletter.errors import SourceError
from newsletter.model import ReadResult, Rejection
from newsletter.sources import ReadContext, fields
from newsletter.sources.common import ItemError, day_to_datetime, decode_text, parse_date_text
from newsletter.sources.fields import Fields, repr_title

log = logging.getLogger(__name__)

# A line of 3+ of the same rule character, spaces allowed between ("- - -", "=====", "───").
_SEPARATOR = re.compile(r"[ \t]*([-=_*─━])(?:[ \t]*\1){2,}[ \t]*")
_READ_MORE_AT = re.compile(r"read more at(?:\s+|$)", re.I)
_READ_MORE_URL = re.compile(r"read more:\s*", re.I)
_MORE_ABOUT = re.compile(r"more about:\s*", re.I)
_URL_TOKEN = re.compile(r"<?(https?://\S+?)>?", re.I)
_SKIP_NOTE_LINES = 5


@dataclass
class _Para:
    """One paragraph as written: its lines (indentation kept) and where it starts."""

    lines: list[str]
    line: int  # 1-based number of its first line in the input

    @property
    def text(self) -> str:
        # Wrapped text unwraps: a line break inside a paragraph is just a space.
        return " ".join(part.strip() for part in self.lines)

    @property
    def indented(self) -> bool:
        return all(part[:1] in (" ", "\t") for part in self.lines)

    @property
    def kind(self) -> str:
        text = self.text
        if _READ_MORE_AT.match(text):
            return "read_more_at"
        if _READ_MORE_URL.match(text):
            return "read_more_url"
        if _MORE_ABOUT.match(text):
            return "topics"
        return ""


def read_digest(data: bytes, ctx: ReadContext) -> ReadResult:
    """Read a plain-text digest: items of title, date, text, 'Read more at' and 'More about:' lines."""
    try:
        text = decode_text(data, ctx.origin)
    except ItemError as exc:
        raise SourceError(str(exc), where=ctx.origin, hint="a digest is a UTF-8 plain-text file") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not any(line.strip() for line in lines):
        raise SourceError("is empty", where=ctx.origin, hint="a digest holds items ending with a 'More about:' line")

    segments, has_separators = _segments(lines)
    if not any(p.kind for seg in segments for p in seg):
        raise SourceError("holds no digest items (an item ends with a 'More about:' line)", where=ctx.origin,
                          hint="write each item as title, date, text, 'Read more at <Source>', 'More about: <topics>'")

    # Indentation marks quotations in the text parts newsletter writes; where a document uses
    # it anywhere, it decides in every item (an item without quotes then has none).
    by_indent = any(p.indented for seg in segments for p in seg if not p.kind)
    result = ReadResult()
    number = 0
    built = []
    for seg in segments:
        if not any(p.kind for p in seg):
            count = sum(len(p.lines) for p in seg)
            if count > _SKIP_NOTE_LINES:
                result.notes.append(f"{ctx.origin}: skipped {count} lines from line {seg[0].line} "
                                    "(no 'Read more' or 'More about:' line: taken as masthead or footer)")
            continue
        for chunk, ended in _chunks(seg):
            number += 1
            label = f"item {number} {repr_title(chunk[0].lines[0])}"
            if not ended and (not has_separators or not any(p.kind.startswith("read_more") for p in chunk)):
                # Without separators only 'More about:' ends an item, so trailing text is a cut-off item.
                result.rejected.append(Rejection(ctx.origin, label, "has no 'More about:' line; end the item "
                                                 "with 'More about: <Topic>, <Topic>'"))
                continue
            built.append(fields.item(ctx, label, f"item {number}",
                                     lambda chunk=chunk, ended=ended: _item(chunk, ended, ctx, by_indent), result))
    fields.keep(result, ctx, built)
    log.debug("%s: %d digest items, %d rejected", ctx.origin, len(result.articles), len(result.rejected))
    return result


def _segments(lines: list[str]) -> tuple[list[list[_Para]], bool]:
    """Cut the lines at separator lines into segments of paragraphs."""
    segments: list[list[_Para]] = [[]]
    current: list[str] = []
    start = 0
    has_separators = False

    def flush() -> None:
        if current:
            segments[-1].append(_Para(list(current), start))
            current.clear()

    for number, line in enumerate(lines, 1):
        if _SEPARATOR.fullmatch(line):
            flush()
            has_separators = True
            segments.append([])
        elif not line.strip():
            flush()
        else:
            if not current:
                start = number
            current.append(line.rstrip())
    flush()
    return [seg for seg in segments if seg], has_separators


def _chunks(paras: list[_Para]) -> list[tuple[list[_Para], bool]]:
    """Split a segment into items: each ends with its 'More about:' paragraph (True) or the segment end."""
    chunks: list[tuple[list[_Para], bool]] = []
    current: list[_Para] = []
    for para in paras:
        current.append(para)
        if para.kind == "topics":
            chunks.append((current, True))
            current = []
    if current:
        chunks.append((current, False))
    return chunks


def _item(chunk: list[_Para], ended: bool, ctx: ReadContext, by_indent: bool) -> Fields:
    """One item's paragraphs -> its raw fields."""
    head, rest = chunk[0], list(chunk[1:])
    if head.kind:
        word = "More about:" if head.kind == "topics" else "Read more"
        raise ItemError(f"has no title line before its '{word}' line (line {head.line})")
    if len(head.lines) > 1:
        raise ItemError(f"title must be one line (lines {head.line}-{head.line + len(head.lines) - 1}); "
                        "put a blank line after the title")
    topics = _MORE_ABOUT.sub("", rest.pop().text, count=1) if ended else None

    stamp, published = "", None
    if rest and not rest[0].kind:
        day = parse_date_text(rest[0].text)
        if day is not None:
            stamp, published = rest[0].text, day_to_datetime(day, ctx.tz)
            rest = rest[1:]

    cut = next((i for i, p in enumerate(rest) if p.kind.startswith("read_more")), len(rest))
    text, after = rest[:cut], rest[cut:]
    source, url = None, None
    if after:
        source, url = _read_more(after.pop(0))
        if url is None and after and re.fullmatch(r"https?://\S+", after[0].text, re.I):
            url = after.pop(0).text
    if after:
        raise ItemError(f"has text after its 'Read more' line (line {after[0].line}); "
                        "end each item with a 'More about:' line")
    lede, body = _lede_body(text, by_indent)
    return Fields(title=head.text, url=url, source=source, topics=topics, lede=("html", lede), body=("html", body),
                  published=published, stamp=stamp)


def _read_more(para: _Para) -> tuple[str | None, str | None]:
    """'Read more at <Source> [<URL>]' or 'Read more: <URL>' -> (source, url)."""
    if para.kind == "read_more_url":
        return None, _READ_MORE_URL.sub("", para.text, count=1).strip() or None
    words = _READ_MORE_AT.sub("", para.text, count=1).split()
    url = None
    for index in range(len(words) - 1, -1, -1):
        match = _URL_TOKEN.fullmatch(words[index])
        if match:
            url = match[1]
            words = words[:index]
            break
    source = " ".join(words).rstrip(" :") or None
    return source, url


def _lede_body(paras: list[_Para], by_indent: bool) -> tuple[str, str]:
    """Editor's text before the first quotation is the lede; the rest, with block quotes, the body."""
    if by_indent:
        quoted = [p.indented for p in paras]
    else:
        # A paragraph ending with ":" introduces a quotation that runs until the next such paragraph.
        quoted, quoting = [], False
        for p in paras:
            introduces = p.text.endswith(":")
            quoted.append(quoting and not introduces)
            quoting = quoting or introduces
    first = quoted.index(True) if True in quoted else len(paras)
    lede = "\n".join(_p(p) for p in paras[:first])
    blocks: list[str] = []
    in_quote = False
    for p, q in zip(paras[first:], quoted[first:]):
        if q and not in_quote:
            blocks.append("<blockquote>")
        elif not q and in_quote:
            blocks.append("</blockquote>")
        in_quote = q
        blocks.append(_p(p))
    if in_quote:
        blocks.append("</blockquote>")
    return lede, "\n".join(blocks)


def _p(para: _Para) -> str:
    # Digest text is plain text: markup in it is shown, never interpreted.
    return f"<p>{html.escape(para.text, quote=False)}</p>"
