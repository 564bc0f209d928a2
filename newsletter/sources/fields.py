"""One table of field processors that every reader's items go through, and the guard around each item.

A reader finds an item's raw fields (`Fields`) in its own format and hands them to `build`,
which cleans every text (controls removed, lone surrogates replaced), runs the processor of
each field from FIELDS, turns the lede and body into sanitized HTML cut to the size cap, titles
an untitled feed item from its text, checks the date, and makes the Article. So a rule about
a field lives here once, not in each reader. Anything that goes wrong with one item becomes a
rejection of that item alone; the reader goes on with the next.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Iterable

from newsletter.config import format_size
from newsletter.model import Article, ReadResult, Rejection
from newsletter.sources.common import (
    ItemError, add_article, article_id, bounded_id, check_url, clean_title, describe_failure, scrub, to_utc, topics_from,
)
from newsletter.sources.html import cut_html, markdown_to_html, paragraphs, plain_text, sanitize_html

log = logging.getLogger(__name__)

MAX_LINE = 300          # source and author names
MAX_TOPIC = 100         # one topic's name (its slug is a 200-character key)
MAX_TOPICS = 50
TITLE_FROM_TEXT = 80    # an untitled item's title: its first sentence, about this long
UNTITLED = "Untitled"


class Dropped(ValueError):
    """A field that is wrong but not needed: the item is kept without it, and a note says so."""


@dataclass
class Fields:
    """The raw fields of one item as a reader found them; `build` checks and cleans them all."""

    title: Any = None
    url: Any = None
    guid: Any = None          # the feed's own id (a Markdown file's path): the id when there is no URL
    given_id: Any = None      # an id the editor wrote ("id:" in front matter or JSON): wins over everything
    source: Any = None
    author: Any = None
    topics: Any = None
    image: Any = None
    lede: tuple[str, Any] = ("html", "")   # (kind, text): kind is "html", "markdown" or "text"
    body: tuple[str, Any] = ("html", "")
    published: datetime | None = None
    stamp: str = ""           # the date as written: part of the hash id of an item without URL or guid
    untitled: bool = False    # a feed item may lack a title: it is titled from its text
    url_field: str = "url"    # how the format names its link, for messages
    draft: bool = False       # Markdown `draft: true`: stored, never picked for an issue


@dataclass
class Built:
    """An item made into an Article, before the reader keeps it."""

    article: Article
    dated: bool
    where: str
    guid: str | None = None
    notes: list[str] = field(default_factory=list)


def _line(value, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ItemError(f"{name} must be text")
    text = " ".join(value.split())
    return (text if len(text) <= MAX_LINE else text[:MAX_LINE - 1] + "…") or None


def _guid(value, name: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, type(None))):
        raise ItemError(f"{name} must be text")
    return str(value).strip() or None if value is not None else None


def _topics(value, name: str) -> tuple[str, ...]:
    names = topics_from(value or None)
    return tuple(t if len(t) <= MAX_TOPIC else t[:MAX_TOPIC - 1] + "…" for t in names[:MAX_TOPICS])


def _image(value, name: str) -> str | None:
    if isinstance(value, str) and value.startswith("//"):
        value = "https:" + value  # protocol-relative, as Blogger writes them: mail clients need a scheme
    try:
        return check_url(value or None, "image")
    except ItemError as exc:
        raise Dropped(f"dropped the image: {exc}") from None


# Pelican's idea: one processor per field, so every reader gets the same rules.
FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "url": lambda value, name: check_url(value or None, name),
    "guid": _guid,
    "given_id": _guid,
    "source": _line,
    "author": _line,
    "topics": _topics,
    "image": _image,
}
_KIND = {"html": sanitize_html, "markdown": markdown_to_html, "text": paragraphs}


def build(raw: Fields, ctx, where: str, label: str) -> Built:
    """The Article of one item (ItemError when it is unusable), with the notes it needs."""
    notes: list[str] = []
    cleaned, replaced = _scrubbed(raw)
    if replaced:
        notes.append("replaced invalid characters (lone surrogates) with \ufffd")
    values: dict[str, Any] = {}
    for name, process in FIELDS.items():
        try:
            values[name] = process(getattr(cleaned, name), cleaned.url_field if name == "url" else name)
        except Dropped as exc:
            notes.append(str(exc))
            values[name] = None
    limit = ctx.max_article_size
    lede = _html(cleaned.lede, limit)
    body = _html(cleaned.body, limit)
    cut_lede = cut_html(lede, limit)
    cut_body = cut_html(body, max(limit - len(cut_lede.encode("utf-8")), 0)) if body else ""
    if (cut_lede, cut_body) != (lede, body):
        notes.append(f"cut to {format_size(limit)} (max_article_size)")
    title = _title(cleaned, cut_lede or cut_body, notes)
    if cleaned.published is not None:
        to_utc(cleaned.published)  # ItemError for a date the store could not hold
    article = Article(
        id=bounded_id(values["given_id"]) if values["given_id"] else article_id(
            values["url"], values["guid"], values["source"], title, cleaned.stamp),
        title=title, published=cleaned.published or ctx.undated, url=values["url"], source=values["source"],
        topics=values["topics"], lede=cut_lede, body=cut_body, author=values["author"], image=values["image"],
        draft=raw.draft)
    # A one-article file (Markdown) names the article by its title; a feed's item by its number.
    prefix = f"{ctx.origin}: {label if where else repr_title(title)}: "
    return Built(article, cleaned.published is not None, where, values["guid"], [prefix + n for n in notes])


def _scrubbed(raw: Fields) -> tuple[Fields, bool]:
    """Every text in the fields cleaned (see common.scrub), and whether a surrogate was replaced."""
    replaced = False

    def clean(value):
        nonlocal replaced
        if isinstance(value, str):
            text, hit = scrub(value)
            replaced = replaced or hit
            return text
        if isinstance(value, (list, tuple)):
            return type(value)(clean(v) for v in value)
        return value

    changes = {name: clean(getattr(raw, name)) for name in ("title", "url", "guid", "given_id", "source", "author",
                                                            "topics", "image", "stamp")}
    changes["lede"] = (raw.lede[0], clean(raw.lede[1]))
    changes["body"] = (raw.body[0], clean(raw.body[1]))
    return replace(raw, **changes), replaced


def _html(part: tuple[str, Any], limit: int) -> str:
    kind, text = part
    if text is None or text == "":
        return ""
    if not isinstance(text, str):
        raise ItemError("text must be text")
    # Sanitizing is linear, but there is no need to clean megabytes that the cut would throw away.
    return _KIND[kind](text[:4 * limit + 1024])


def _title(fields: Fields, text_html: str, notes: list[str]) -> str:
    """The cleaned title; an untitled feed item is titled from its text, with a note."""
    if fields.title is not None and (not isinstance(fields.title, str) or fields.title.strip()):
        return clean_title(fields.title)
    if not fields.untitled:
        raise ItemError("has no title")
    title = title_from_text(plain_text(text_html)) if text_html else ""
    notes.append(f"has no title; titled '{title}' from its text" if title else f"has no title or text; titled '{UNTITLED}'")
    return title or UNTITLED


def repr_title(title: str, limit: int = 60) -> str:
    """A title quoted for a message: 'First words of it…'."""
    short = " ".join(title.split())
    return f"'{short if len(short) <= limit else short[:limit - 1] + '…'}'"


def title_from_text(text: str, limit: int = TITLE_FROM_TEXT) -> str:
    """The first sentence of a text, cut at a word boundary near `limit` characters (with …)."""
    text = " ".join(text.split())
    first = re.match(r".+?[.!?…](?=\s|$)", text)
    sentence = first.group(0) if first else text
    if len(sentence) <= limit:
        return sentence
    cut = sentence[:limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:-–—") + "…"


def item(ctx, label: str, where: str, make: Callable[[], Fields], result: ReadResult) -> Built | None:
    """The guard around one item: its Built article, or None after recording one rejection."""
    try:
        return build(make(), ctx, where, label)
    except ItemError as exc:
        reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - any failure on one item rejects that item, never the input
        log.debug("%s: %s failed", ctx.origin, label, exc_info=True)
        reason = describe_failure(exc)
    result.rejected.append(Rejection(ctx.origin, label, reason))
    return None


def keep(result: ReadResult, ctx, built: Iterable[Built | None]) -> None:
    """Add an input's articles to its result, giving entries that share a link distinct ids first."""
    items = [b for b in built if b is not None]
    _separate(items, ctx, result)
    for b in items:
        result.notes.extend(b.notes)
        add_article(result, b.article, b.dated, ctx, b.where)


def _separate(items: list[Built], ctx, result: ReadResult) -> None:
    """Entries of one input that would share an id: told apart by the URL fragment, else by their guid.

    Comment feeds link every entry to one page with its own #comment-N; without the fragment
    they would collapse into one article.
    """
    groups: dict[str, list[Built]] = {}
    for b in items:
        groups.setdefault(b.article.id, []).append(b)
    for same in (g for g in groups.values() if len(g) > 1):
        by_fragment = [article_id(b.article.url, None, None, "", "", keep_fragment=True) if b.article.url else None
                       for b in same]
        if None not in by_fragment and len(set(by_fragment)) == len(same):
            new_ids = by_fragment
        elif None not in by_fragment and len({b.guid for b in same} - {None}) == len(same):
            new_ids = [bounded_id(b.guid) for b in same]
        else:
            wheres = ", ".join(b.where or repr_title(b.article.title) for b in same)
            result.notes.append(f"{ctx.origin}: {wheres} have the same id {same[0].article.id!r}; the last one is kept")
            continue
        for b, new_id in zip(same, new_ids):
            b.article = replace(b.article, id=new_id)
