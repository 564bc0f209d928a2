"""JSON inputs: JSON Feed 1.1, our own article JSON, and JSON Lines of the same objects."""

from __future__ import annotations

import html
import json
import logging
import re

from newsletter.errors import SourceError
from newsletter.model import Article, ReadResult, Rejection
from newsletter.sources import ReadContext
from newsletter.sources.common import (
    ItemError, add_article, article_id, check_url, clean_title, decode_text, markdown_to_html, parse_datetime, sanitize_html,
    to_utc, topics_from, unknown_keys,
)

log = logging.getLogger(__name__)

OWN_KEYS = ("id", "title", "url", "source", "published", "date", "topics", "lede", "body", "author", "image")
# Names other formats use for our fields: a note that names ours helps more than "unknown key".
ALIASES = {"tags": "topics", "categories": "topics", "link": "url", "summary": "lede", "content": "body",
           "date_published": "published"}


def read_jsonfeed(data: bytes, ctx: ReadContext) -> ReadResult:
    """Read a JSON Feed (version 1 or 1.1): one article per item."""
    feed = _load(data, ctx, "a JSON Feed")
    if not isinstance(feed, dict) or not isinstance(feed.get("items"), list):
        raise SourceError("is not a JSON Feed (no 'items' list at the top level)", where=ctx.origin,
                          hint="see https://www.jsonfeed.org/version/1.1/, or use --format json for article lists")
    source = feed.get("title") if isinstance(feed.get("title"), str) and feed["title"].strip() else None
    result = ReadResult()
    for number, item in enumerate(feed["items"], 1):
        label = _label(f"item {number}", item)
        try:
            article, dated = _feed_item(item, source, label, ctx, result)
        except ItemError as exc:
            result.rejected.append(Rejection(ctx.origin, label, str(exc)))
            continue
        add_article(result, article, dated, ctx, f"item {number}")
    return result


def read_json(data: bytes, ctx: ReadContext) -> ReadResult:
    """Read our own article JSON: a list of objects, one object, or {"articles": [...]}."""
    value = _load(data, ctx, "article JSON")
    if isinstance(value, dict) and isinstance(value.get("articles"), list):
        value = value["articles"]
    elif isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise SourceError(f"holds a JSON {_json_type(value)}, not an article object or a list of them",
                          where=ctx.origin, hint='write [{"title": ..., "published": ...}, ...]')
    result = ReadResult()
    for number, obj in enumerate(value, 1):
        _own(obj, f"item {number}", ctx, result)
    return result


def read_jsonl(data: bytes, ctx: ReadContext) -> ReadResult:
    """Read JSON Lines: one article object per line; a bad line is rejected, the others kept."""
    text = _text(data, ctx, "JSON Lines")
    result = ReadResult()
    first_error = None
    parsed_any = False
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            first_error = first_error or (number, exc)
            result.rejected.append(Rejection(ctx.origin, f"line {number}",
                                             f"is not valid JSON: {exc.msg} at column {exc.colno}"))
            continue
        parsed_any = True
        _own(obj, f"line {number}", ctx, result)
    if not parsed_any and first_error:
        number, exc = first_error
        raise SourceError(f"is not JSON Lines: {exc.msg} at line {number}, column {exc.colno}", where=ctx.origin,
                          hint="write one JSON object per line")
    return result


def _own(obj, where: str, ctx: ReadContext, result: ReadResult) -> None:
    """One object of our own JSON -> an article, or a rejection."""
    label = _label(where, obj)
    if isinstance(obj, dict) and (note := unknown_keys(obj, OWN_KEYS, ALIASES)):
        result.notes.append(f"{ctx.origin}: {where}: {note}")
    try:
        article, dated = _own_article(obj, label, ctx, result)
    except ItemError as exc:
        result.rejected.append(Rejection(ctx.origin, label, str(exc)))
        return
    add_article(result, article, dated, ctx, where)


def _own_article(obj, label: str, ctx: ReadContext, result: ReadResult) -> tuple[Article, bool]:
    if not isinstance(obj, dict):
        raise ItemError(f"is a JSON {_json_type(obj)}, not an article object")
    title = clean_title(_title(obj))
    url = check_url(obj.get("url") or None)
    source, author = _str(obj, "source"), _str(obj, "author")
    raw_date = obj.get("published", obj.get("date"))
    published = parse_datetime(raw_date, ctx.tz) if raw_date not in (None, "") else None
    stamp = raw_date if isinstance(raw_date, str) else ""
    given_id = obj.get("id")
    if isinstance(given_id, bool) or not isinstance(given_id, (str, int, type(None))):
        raise ItemError(f"id must be text, not a JSON {_json_type(given_id)}")
    given_id = str(given_id).strip() if given_id is not None else ""
    article = Article(
        id=given_id or article_id(url, None, source, title, stamp),
        title=title, published=published or ctx.undated, url=url, source=source,
        topics=topics_from(obj.get("topics") or None), lede=markdown_to_html(_str(obj, "lede") or ""),
        body=markdown_to_html(_str(obj, "body") or ""), author=author,
        image=_image(obj.get("image"), label, ctx, result))
    return article, published is not None


def _feed_item(item, source: str | None, label: str, ctx: ReadContext, result: ReadResult) -> tuple[Article, bool]:
    """One JSON Feed item -> (Article, whether it carried a date)."""
    if not isinstance(item, dict):
        raise ItemError(f"is a JSON {_json_type(item)}, not an item object")
    title = clean_title(_title(item))
    url = check_url(item.get("url") or item.get("external_url") or None)
    guid = item.get("id")
    guid = str(guid) if isinstance(guid, (str, int)) and not isinstance(guid, bool) else None
    raw_date = item.get("date_published") or item.get("date_modified")
    published = to_utc(parse_datetime(raw_date, ctx.tz)) if raw_date else None
    stamp = raw_date if isinstance(raw_date, str) else ""
    if isinstance(item.get("content_html"), str) and item["content_html"].strip():
        body = sanitize_html(item["content_html"])
    else:
        body = _paragraphs(_str(item, "content_text") or "")
    authors = item.get("authors") if isinstance(item.get("authors"), list) else [item.get("author")]
    first = authors[0] if authors and isinstance(authors[0], dict) else {}
    author = first.get("name") if isinstance(first.get("name"), str) and first["name"].strip() else None
    article = Article(
        id=article_id(url, guid, source, title, stamp), title=title, published=published or ctx.undated, url=url,
        source=source, topics=topics_from(item.get("tags") or None),
        # JSON Feed's summary is plain text by the spec.
        lede=_paragraphs(_str(item, "summary") or ""), body=body, author=author,
        image=_image(item.get("image") or item.get("banner_image"), label, ctx, result))
    return article, published is not None


def _load(data: bytes, ctx: ReadContext, what: str):
    text = _text(data, ctx, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                          where=ctx.origin, hint="fix the JSON syntax there (a missing comma or quote?)") from None


def _text(data: bytes, ctx: ReadContext, what: str) -> str:
    try:
        text = decode_text(data, ctx.origin)
    except ItemError as exc:
        raise SourceError(str(exc), where=ctx.origin, hint=f"{what} is UTF-8 text") from None
    if not text.strip():
        raise SourceError("is empty", where=ctx.origin, hint=f"expected {what}")
    return text


def _title(obj: dict):
    title = obj.get("title")
    if title is None or title == "":
        raise ItemError('has no title; add "title": "..."')
    return title


def _str(obj: dict, key: str) -> str | None:
    """An optional text field; ItemError when it holds something else."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ItemError(f"{key} must be text, not a JSON {_json_type(value)}")
    return value.strip() or None


def _image(value, label: str, ctx: ReadContext, result: ReadResult) -> str | None:
    try:
        return check_url(value or None, "image")
    except ItemError as exc:
        result.notes.append(f"{ctx.origin}: {label}: dropped the image: {exc}")
        return None


def _paragraphs(text: str) -> str:
    """Plain text -> escaped HTML paragraphs; single line breaks are kept as <br>."""
    parts = [p.strip() for p in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")) if p.strip()]
    return "\n".join("<p>" + html.escape(p, quote=False).replace("\n", "<br>") + "</p>" for p in parts)


def _label(where: str, obj) -> str:
    title = obj.get("title") if isinstance(obj, dict) else None
    if isinstance(title, str) and title.strip():
        short = " ".join(title.split())
        return f"{where} '{short if len(short) <= 60 else short[:59] + '…'}'"
    return where


def _json_type(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")
