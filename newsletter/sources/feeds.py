"""RSS 0.9x/1.0/2.0 and Atom feeds, parsed by feedparser from bytes we already hold."""

from __future__ import annotations

import io
import logging
import re
from datetime import datetime, timezone

import feedparser

from newsletter.errors import SourceError
from newsletter.model import ReadResult
from newsletter.sources import ReadContext, fields
from newsletter.sources.common import ItemError, scrub
from newsletter.sources.fields import Fields, repr_title
from newsletter.sources.html import plain_text

log = logging.getLogger(__name__)

_HTML_HINT = re.compile(rb"<!doctype\s+html|<html[\s>]", re.I)
# A character reference to half a surrogate pair, or past U+10FFFF, makes feedparser fail on the
# whole feed; as U+FFFD it is one wrong character in one field.
_CHAR_REF = re.compile(rb"&#([xX][0-9a-fA-F]+|[0-9]+);")


def _valid_refs(data: bytes) -> bytes:
    def fix(m: re.Match) -> bytes:
        digits = m.group(1)
        if len(digits) > 9:
            return b"&#xFFFD;"
        code = int(digits[1:], 16) if digits[:1] in b"xX" else int(digits)
        return b"&#xFFFD;" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else m.group(0)

    return _CHAR_REF.sub(fix, data)


def read_feed(data: bytes, ctx: ReadContext) -> ReadResult:
    """Read an RSS or Atom feed: one article per entry."""
    if not data.strip():
        raise SourceError("is empty", where=ctx.origin, hint="an RSS or Atom feed is an XML document")
    headers = {}
    if re.match(r"https?://", ctx.origin, re.I):
        headers["content-location"] = ctx.origin
        if ctx.content_type:
            headers["content-type"] = ctx.content_type
    # Pass a stream: feedparser takes bytes or str as a file name (or URL) to open first.
    # nh3 is our one allowlist for stored HTML, so feedparser's own sanitizer would only blur which rule applied.
    parsed = feedparser.parse(io.BytesIO(_valid_refs(data)), response_headers=headers,
                              sanitize_html=False)
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not parsed.entries and not parsed.get("version"):
        if _HTML_HINT.search(data[:4096]):
            why = "it looks like HTML"
        elif problem is not None:
            why = f"XML error: {problem}"
        else:
            why = "no <rss>, <feed> or <rdf:RDF> root element"
        raise SourceError(f"is not an RSS or Atom feed ({why})", where=ctx.origin,
                          hint="use the address of the feed itself, not of the web page that links to it")
    if not parsed.entries and problem is not None:
        raise SourceError(f"is a broken feed with no readable entries ({problem})", where=ctx.origin,
                          hint="check that the whole feed was saved or downloaded")

    result = ReadResult()
    if problem is not None and not _about_the_server(problem, ctx):
        result.notes.append(f"{ctx.origin}: read despite a problem in the feed: {problem}")
    if not parsed.entries:
        result.notes.append(f"{ctx.origin}: the feed has no entries")
    feed_title = _plain(parsed.feed.get("title_detail")) or None
    built = []
    for number, entry in enumerate(parsed.entries, 1):
        raw_title = _plain(entry.get("title_detail"))
        label = f"item {number} {repr_title(raw_title)}" if raw_title.strip() else f"item {number}"
        built.append(fields.item(ctx, label, f"item {number}", lambda e=entry, t=raw_title: _fields(e, t, feed_title),
                                 result))
    fields.keep(result, ctx, built)
    log.debug("%s: %d entries, %d rejected", ctx.origin, len(result.articles), len(result.rejected))
    return result


def _about_the_server(problem: Exception, ctx: ReadContext) -> bool:
    """A bozo note about how the server labelled the feed, not about the feed: not worth the editor's time."""
    if isinstance(problem, feedparser.NonXMLContentType):
        return True
    # text/xml without a charset is us-ascii by RFC 3023, which nearly no server means.
    return isinstance(problem, feedparser.CharacterEncodingOverride) and bool(ctx.content_type) \
        and "charset" not in ctx.content_type.lower()


def _fields(entry, raw_title: str, feed_title: str | None) -> Fields:
    """One feed entry's raw fields."""
    published, stamp = _date(entry)
    contents = entry.get("content") or []
    summary = entry.get("summary_detail")
    if contents:
        body = _text(contents[0])
        # feedparser copies content:encoded into summary when there is no description: not a lede then.
        lede = _text(summary) if summary and summary.get("value") != contents[0].get("value") else ("html", "")
    else:
        body, lede = _text(summary), ("html", "")
    origin = entry.get("source") or {}
    return Fields(
        # FeedBurner links go through its proxy; the original link is the article's own address.
        title=raw_title, url=entry.get("feedburner_origlink") or entry.get("link") or None, guid=entry.get("id") or None,
        source=_plain(origin.get("title_detail")) or origin.get("title") or feed_title,
        author=(entry.get("author_detail") or {}).get("name") or entry.get("author") or None,
        topics=[t for tag in entry.get("tags") or [] if (t := tag.get("label") or tag.get("term"))],
        image=_image(entry), lede=lede, body=body, published=published, stamp=stamp, untitled=True,
        url_field="link")


def _date(entry) -> tuple[datetime | None, str]:
    """The entry's published (else updated) time in UTC, and the date as written; ItemError if unreadable."""
    written = ""
    for key in ("published", "updated"):
        # dict.get: FeedParserDict.get("updated") falls back to "published" with a DeprecationWarning.
        value = dict.get(entry, f"{key}_parsed")
        if value:
            try:
                # feedparser's *_parsed are UTC struct_times.
                return datetime(*value[:6], tzinfo=timezone.utc), dict.get(entry, key) or ""
            except (ValueError, OverflowError):
                raise ItemError(f"date {dict.get(entry, key)!r} is out of range") from None
        written = written or dict.get(entry, key) or ""
    if written:
        raise ItemError(f"date {written!r} cannot be read; use RFC 822 (Fri, 11 Oct 2024 07:00:00 GMT) "
                        "or ISO 8601 (2024-10-11T07:00:00Z)")
    return None, ""


def _image(entry) -> str | None:
    """The first image the entry offers: media thumbnail, media content, image enclosure, <image>."""
    for thumb in entry.get("media_thumbnail") or []:
        if thumb.get("url"):
            return thumb["url"]
    for media in entry.get("media_content") or []:
        if media.get("url") and (media.get("medium") == "image" or str(media.get("type", "")).startswith("image/")):
            return media["url"]
    for link in entry.get("enclosures") or []:
        if link.get("href") and str(link.get("type", "")).startswith("image/"):
            return link["href"]
    return (entry.get("image") or {}).get("href") or None


def _text(detail) -> tuple[str, str]:
    """Entry text as (kind, text) for fields.build: HTML, or plain text to escape into paragraphs."""
    if not detail or not detail.get("value"):
        return "html", ""
    return ("text" if detail.get("type") == "text/plain" else "html"), detail["value"]


def _plain(detail) -> str:
    """A title as plain text: markup in an HTML title is dropped, entities decoded."""
    if not detail or not detail.get("value"):
        return ""
    value = scrub(detail["value"])[0]
    return plain_text(value) if "html" in (detail.get("type") or "") else value
