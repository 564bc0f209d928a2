"""RSS 0.9x/1.0/2.0 and Atom feeds, parsed by feedparser from bytes we already hold."""

from __future__ import annotations

import html
import io
import logging
import re
from datetime import datetime, timezone

import feedparser

from newsletter.errors import SourceError
from newsletter.model import Article, ReadResult, Rejection
from newsletter.sources import ReadContext
from newsletter.sources.common import (
    ItemError, add_article, article_id, check_url, clean_title, sanitize_html, topics_from,
)

log = logging.getLogger(__name__)

_HTML_HINT = re.compile(rb"<!doctype\s+html|<html[\s>]", re.I)


def read_feed(data: bytes, ctx: ReadContext) -> ReadResult:
    """Read an RSS or Atom feed: one article per entry."""
    if not data.strip():
        raise SourceError("is empty", where=ctx.origin, hint="an RSS or Atom feed is an XML document")
    # Pass a stream: feedparser takes bytes or str as a file name (or URL) to open first.
    headers = {"content-location": ctx.origin} if re.match(r"https?://", ctx.origin, re.I) else {}
    # nh3 is our one allowlist for stored HTML, so feedparser's own sanitizer would only blur which rule applied.
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers, sanitize_html=False)
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
    if problem is not None:
        result.notes.append(f"{ctx.origin}: read despite a problem in the feed: {problem}")
    if not parsed.entries:
        result.notes.append(f"{ctx.origin}: the feed has no entries")
    feed_title = _plain(parsed.feed.get("title_detail")) or None
    for number, entry in enumerate(parsed.entries, 1):
        raw_title = _plain(entry.get("title_detail"))
        label = f"item {number} '{_short(raw_title)}'" if raw_title.strip() else f"item {number}"
        try:
            article, dated = _article(entry, raw_title, feed_title, label, ctx, result)
        except ItemError as exc:
            result.rejected.append(Rejection(ctx.origin, label, str(exc)))
            continue
        add_article(result, article, dated, ctx, f"item {number}")
    log.debug("%s: %d entries, %d rejected", ctx.origin, len(result.articles), len(result.rejected))
    return result


def _article(entry, raw_title: str, feed_title: str | None, label: str, ctx: ReadContext,
             result: ReadResult) -> tuple[Article, bool]:
    """One feed entry -> (Article, whether it carried a date)."""
    if not raw_title.strip():
        raise ItemError("has no title; give the entry a <title>")
    title = clean_title(raw_title)
    url = check_url(entry.get("link") or None, "link")
    guid = entry.get("id") or None
    published, stamp = _date(entry)
    topics = topics_from([t for tag in entry.get("tags") or [] if (t := tag.get("label") or tag.get("term"))])

    contents = entry.get("content") or []
    summary = entry.get("summary_detail")
    if contents:
        body = _html(contents[0])
        # feedparser copies content:encoded into summary when there is no description: not a lede then.
        lede = _html(summary) if summary and summary.get("value") != contents[0].get("value") else ""
    else:
        body, lede = _html(summary), ""

    origin = entry.get("source") or {}
    source = " ".join((_plain(origin.get("title_detail")) or origin.get("title") or feed_title or "").split()) or None
    author = " ".join(((entry.get("author_detail") or {}).get("name") or entry.get("author") or "").split()) or None
    image = None
    candidate = _image(entry)
    if candidate:
        try:
            image = check_url(candidate, "image")
        except ItemError as exc:
            result.notes.append(f"{ctx.origin}: {label}: dropped the image: {exc}")
    article = Article(
        id=article_id(url, guid, source, title, stamp), title=title,
        published=published or ctx.undated, url=url, source=source, topics=topics,
        lede=lede, body=body, author=author, image=image)
    return article, published is not None


def _date(entry) -> tuple[datetime | None, str]:
    """The entry's published (else updated) time in UTC, and the date as written; ItemError if unreadable."""
    written = ""
    for key in ("published", "updated"):
        # dict.get: FeedParserDict.get("updated") falls back to "published" with a DeprecationWarning.
        value = dict.get(entry, f"{key}_parsed")
        if value:
            # feedparser's *_parsed are UTC struct_times.
            return datetime(*value[:6], tzinfo=timezone.utc), dict.get(entry, key) or ""
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


def _html(detail) -> str:
    """Entry text as sanitized HTML; plain text is escaped into paragraphs."""
    if not detail or not detail.get("value"):
        return ""
    value = detail["value"]
    if detail.get("type") == "text/plain":
        paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", value) if p.strip()]
        return "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)
    return sanitize_html(value)


def _plain(detail) -> str:
    """A title as plain text: markup in an HTML title is dropped, entities decoded."""
    if not detail or not detail.get("value"):
        return ""
    value = detail["value"]
    if "html" in (detail.get("type") or ""):
        import nh3

        value = html.unescape(nh3.clean(value, tags=set()))
    return value


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
