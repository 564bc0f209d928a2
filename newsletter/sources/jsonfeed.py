"""JSON inputs: JSON Feed 1.1, our own article JSON, and JSON Lines of the same objects."""

from __future__ import annotations

import json
import logging

from newsletter.errors import SourceError
from newsletter.model import ReadResult, Rejection
from newsletter.sources import ReadContext, fields
from newsletter.sources.common import ItemError, decode_text, parse_datetime, to_utc, unknown_keys
from newsletter.sources.fields import Fields, repr_title

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
    built = [fields.item(ctx, _label(f"item {number}", item), f"item {number}",
                         lambda item=item: _feed_item(item, source, ctx), result)
             for number, item in enumerate(feed["items"], 1)]
    fields.keep(result, ctx, built)
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
    fields.keep(result, ctx, [_own(obj, f"item {number}", ctx, result) for number, obj in enumerate(value, 1)])
    return result


def read_jsonl(data: bytes, ctx: ReadContext) -> ReadResult:
    """Read JSON Lines: one article object per line; a bad line is rejected, the others kept."""
    text = _text(data, ctx, "JSON Lines")
    result = ReadResult()
    first_error = None
    parsed_any = False
    built = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = _loads(line)
        except json.JSONDecodeError as exc:
            first_error = first_error or (number, exc)
            result.rejected.append(Rejection(ctx.origin, f"line {number}",
                                             f"is not valid JSON: {exc.msg} at column {exc.colno}"))
            continue
        except RecursionError:
            result.rejected.append(Rejection(ctx.origin, f"line {number}", "is nested too deeply to read; flatten it"))
            continue
        parsed_any = True
        built.append(_own(obj, f"line {number}", ctx, result))
    fields.keep(result, ctx, built)
    if not parsed_any and first_error:
        number, exc = first_error
        raise SourceError(f"is not JSON Lines: {exc.msg} at line {number}, column {exc.colno}", where=ctx.origin,
                          hint="write one JSON object per line")
    return result


def _own(obj, where: str, ctx: ReadContext, result: ReadResult):
    """One object of our own JSON -> its built article, or None after a rejection."""
    if isinstance(obj, dict) and (note := unknown_keys(obj, OWN_KEYS, ALIASES)):
        result.notes.append(f"{ctx.origin}: {where}: {note}")
    return fields.item(ctx, _label(where, obj), where, lambda: _own_fields(obj, ctx), result)


def _own_fields(obj, ctx: ReadContext) -> Fields:
    if not isinstance(obj, dict):
        raise ItemError(f"is a JSON {_json_type(obj)}, not an article object")
    raw_date = obj.get("published", obj.get("date"))
    given_id = obj.get("id")
    if isinstance(given_id, bool) or not isinstance(given_id, (str, int, type(None))):
        raise ItemError(f"id must be text, not a JSON {_json_type(given_id)}")
    return Fields(
        title=_title(obj), url=obj.get("url") or None, given_id=given_id, source=_str(obj, "source"),
        author=_str(obj, "author"), topics=obj.get("topics") or None, image=obj.get("image"),
        lede=("markdown", _str(obj, "lede") or ""), body=("markdown", _str(obj, "body") or ""),
        published=parse_datetime(raw_date, ctx.tz) if raw_date not in (None, "") else None,
        stamp=raw_date if isinstance(raw_date, str) else "")


def _feed_item(item, source: str | None, ctx: ReadContext) -> Fields:
    """One JSON Feed item's raw fields."""
    if not isinstance(item, dict):
        raise ItemError(f"is a JSON {_json_type(item)}, not an item object")
    guid = item.get("id")
    raw_date = item.get("date_published") or item.get("date_modified")
    if isinstance(item.get("content_html"), str) and item["content_html"].strip():
        body = ("html", item["content_html"])
    else:
        body = ("text", _str(item, "content_text") or "")
    authors = item.get("authors") if isinstance(item.get("authors"), list) else [item.get("author")]
    first = authors[0] if authors and isinstance(authors[0], dict) else {}
    return Fields(
        title=item.get("title"),
        url=item.get("url") or item.get("external_url") or None,
        guid=str(guid) if isinstance(guid, (str, int)) and not isinstance(guid, bool) else None,
        source=source, author=first.get("name") if isinstance(first.get("name"), str) else None,
        topics=item.get("tags") or None, image=item.get("image") or item.get("banner_image"),
        # JSON Feed's summary is plain text by the spec.
        lede=("text", _str(item, "summary") or ""), body=body,
        published=to_utc(parse_datetime(raw_date, ctx.tz)) if raw_date else None,
        stamp=raw_date if isinstance(raw_date, str) else "", untitled=True)


def _load(data: bytes, ctx: ReadContext, what: str):
    text = _text(data, ctx, what)
    try:
        return _loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                          where=ctx.origin, hint="fix the JSON syntax there (a missing comma or quote?)") from None


def _loads(text: str):
    # A number too long for int() (over 4,300 digits) stays text: one bad field, not a failed file.
    return json.loads(text, parse_int=lambda digits: int(digits) if len(digits) <= 4000 else digits)


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


def _label(where: str, obj) -> str:
    title = obj.get("title") if isinstance(obj, dict) else None
    return f"{where} {repr_title(title)}" if isinstance(title, str) and title.strip() else where


def _json_type(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")
