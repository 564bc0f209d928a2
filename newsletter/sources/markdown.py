"""Markdown articles: one file, YAML front matter for the fields, the text for lede and body."""

from __future__ import annotations

import logging

import frontmatter
import yaml

from newsletter.errors import SourceError
from newsletter.model import ReadResult
from newsletter.sources import ReadContext, fields
from newsletter.sources.common import (ItemError, decode_text, file_id, legacy_id, parse_datetime, split_lede,
                                       unknown_keys)
from newsletter.sources.fields import Fields

log = logging.getLogger(__name__)

KEYS = ("title", "date", "url", "source", "topics", "author", "image", "id", "lede", "draft")
TRUE, FALSE = ("true", "yes", "on"), ("false", "no", "off", "")
# Keys other tools use for the same thing: name ours in the note rather than a random near miss.
ALIASES = {"tags": "topics", "categories": "topics", "category": "topics", "published": "date",
           "link": "url", "summary": "lede", "description": "lede"}
ITEM = "front matter"


def read_markdown(data: bytes, ctx: ReadContext) -> ReadResult:
    """Read one Markdown article with YAML front matter."""
    try:
        text = decode_text(data, ctx.origin)
    except ItemError as exc:
        raise SourceError(str(exc), where=ctx.origin, hint="a Markdown article is a UTF-8 text file") from None
    if not text.strip():
        raise SourceError("is empty", where=ctx.origin, hint="start it with front matter: '---', 'title: ...', '---'")
    meta, content = _split(text.replace("\r\n", "\n").replace("\r", "\n"), ctx)

    result = ReadResult()
    if note := unknown_keys(meta, KEYS, ALIASES, noun="front-matter key"):
        result.notes.append(f"{ctx.origin}: {note}")
    built = fields.item(ctx, ITEM, "", lambda: _fields(meta, content, ctx), result)
    fields.keep(result, ctx, [built])
    if built is not None:
        log.debug("%s: read %r", ctx.origin, built.article.title)
        legacy = legacy_id(ctx.origin)
        if built.article.id == file_id(ctx.origin, ctx.root) and legacy != built.article.id:
            result.aliases[built.article.id] = legacy
    return result


def _split(text: str, ctx: ReadContext) -> tuple[dict, str]:
    """Front matter as a mapping of plain strings (and lists), and the Markdown after it."""
    handler = frontmatter.YAMLHandler()
    if not handler.detect(text):
        return {}, text
    try:
        fm, content = handler.split(text)
    except ValueError:
        raise SourceError("has front matter opened with '---' on line 1 that is never closed", where=ctx.origin,
                          hint="end the front matter with a line '---'") from None
    try:
        # BaseLoader keeps every scalar as written: a title "2024" or "yes" stays text, a date stays the
        # string whose hash is the id, and no YAML tag can build an object.
        meta = yaml.load(fm, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # fm starts with the newline that ends the opening '---' line, so YAML's 0-based line is the file's 1-based.
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None and mark is not None and start.line != mark.line:
            problem += f" ({context} started at line {start.line + 1})"
        raise SourceError(f"has broken YAML front matter{where}: {problem}", where=ctx.origin,
                          hint="check the quoting and indentation of that line") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise SourceError(f"front matter is a YAML {type(meta).__name__}, not a mapping of keys", where=ctx.origin,
                          hint="write one 'key: value' per line, e.g. 'title: My article'")
    return meta, content


def _fields(meta: dict, content: str, ctx: ReadContext) -> Fields:
    """The raw fields of one file's article."""
    if meta.get("title") in (None, ""):
        raise ItemError("has no title; add a line 'title: ...' to the front matter")
    stamp = _text(meta, "date") or ""
    draft = (_text(meta, "draft") or "").lower()
    if draft not in TRUE + FALSE:
        raise ItemError(f"draft must be true or false, not {meta['draft']!r}")
    if _text(meta, "lede") is not None:
        lede, body = _text(meta, "lede"), content
    else:
        lede, body = split_lede(content)
    # Without a URL, the file itself is the article's identity: fixing a typo in the
    # title must update the article, not add a second one that the next issue would carry.
    return Fields(
        title=meta["title"], url=_text(meta, "url"), guid=file_id(ctx.origin, ctx.root), given_id=_text(meta, "id"),
        source=_text(meta, "source"), author=_text(meta, "author"), topics=meta.get("topics") or None,
        image=_text(meta, "image"), lede=("markdown", lede), body=("markdown", body),
        published=parse_datetime(stamp, ctx.tz) if stamp else None, stamp=stamp, draft=draft in TRUE)


def _text(meta: dict, key: str) -> str | None:
    """A front-matter value that must be one piece of text; None when absent or empty."""
    value = meta.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ItemError(f"{key} must be one value, not a YAML {'list' if isinstance(value, list) else 'mapping'}")
    return value.strip() or None
