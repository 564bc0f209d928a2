"""Readers: one per input format, chosen by name, file extension or content.

A reader takes the raw bytes of one input and a ReadContext and returns a ReadResult:
the good articles, one Rejection per unusable item, and notes (such as undated items
and the date they were given). A reader raises SourceError when the input as a whole is
unusable (binary, not UTF-8, not the format it claims). Every reader is called through
`read`, the one guard: whatever a reader or its parser raises (SourceError, or a crash
deep in feedparser, json or YAML on hostile input) becomes one rejection naming the input,
and the caller goes on with the others. Within a reader, `fields.item` does the same for
each item.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from newsletter.config import DEFAULT_MAX_ARTICLE_SIZE, DEFAULT_MAX_FILE_SIZE, format_size
from newsletter.errors import SourceError
from newsletter.model import ReadResult, Rejection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadContext:
    origin: str            # file path, URL or "<stdin>", for messages
    tz: ZoneInfo           # a date without a time is noon in this zone
    undated: datetime      # the date an item without one is given
    undated_label: str     # how that date was chosen: "--date 2024-10-11", "the import time"
    root: str | None = None          # the source folder a file path is taken relative to (Markdown ids)
    content_type: str | None = None  # the Content-Type a server sent with a fetched input
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    max_article_size: int = DEFAULT_MAX_ARTICLE_SIZE


Reader = Callable[[bytes, ReadContext], ReadResult]


def _lazy(module: str, name: str) -> Reader:
    # Readers import heavy parsers (feedparser, markdown-it); load them on first use.
    def reader(data: bytes, ctx: ReadContext) -> ReadResult:
        import importlib

        return getattr(importlib.import_module(f"newsletter.sources.{module}"), name)(data, ctx)

    reader.__name__ = name
    return reader


READERS: dict[str, Reader] = {
    "markdown": _lazy("markdown", "read_markdown"),
    "feed": _lazy("feeds", "read_feed"),
    "rss": _lazy("feeds", "read_feed"),
    "atom": _lazy("feeds", "read_feed"),
    "jsonfeed": _lazy("jsonfeed", "read_jsonfeed"),
    "json": _lazy("jsonfeed", "read_json"),
    "jsonl": _lazy("jsonfeed", "read_jsonl"),
    "digest": _lazy("digest", "read_digest"),
}

SUFFIXES = {
    ".md": "markdown", ".markdown": "markdown",
    ".xml": "feed", ".rss": "feed", ".atom": "feed", ".rdf": "feed",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".txt": "digest",
}


def detect_format(name: str, data: bytes) -> str:
    """The format of an input from its name, else from its first bytes; SourceError if neither tells."""
    lower = name.lower()
    for suffix, fmt in SUFFIXES.items():
        if lower.endswith(suffix):
            if fmt == "json" and b"jsonfeed.org/version" in data[:4096]:
                return "jsonfeed"
            return fmt
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"---"):
        return "markdown"
    if head.startswith(b"<"):
        return "feed"
    if head.startswith(b"{"):
        if b"jsonfeed.org/version" in head:
            return "jsonfeed"
        first_line = head.split(b"\n", 1)[0].strip()
        return "jsonl" if first_line.endswith(b"}") and b"\n{" in head else "json"
    if head.startswith(b"["):
        return "json"
    if b"\nMore about:" in data or b"\nRead more at " in data:
        return "digest"
    raise SourceError("cannot tell the format", where=name,
                      hint="use --format markdown|feed|jsonfeed|json|jsonl|digest")


# What to fix when a parser fails on an input of this format.
_FIX = {"feed": "check it with https://validator.w3.org/feed/ or ask its publisher",
        "jsonfeed": "check it against https://www.jsonfeed.org/version/1.1/ or ask its publisher"}


def read(data: bytes, ctx: ReadContext, fmt: str | None = None) -> ReadResult:
    """Read one input with the named reader, or the one its name and content suggest; never raises.

    Anything that goes wrong is one rejection of the input that says what to fix.
    """
    from newsletter.sources.common import describe_failure, scrub

    try:
        if len(data) > ctx.max_file_size:
            raise SourceError(f"is larger than {format_size(ctx.max_file_size)}", where=ctx.origin,
                              hint="raise max_file_size in [newsletter] if it is meant to be read")
        fmt = fmt or detect_format(ctx.origin, data)
        if fmt not in READERS:
            raise SourceError(f"unknown format {fmt!r}", where=ctx.origin, hint="use one of " + ", ".join(READERS))
        result = READERS[fmt](data, ctx)
    except SourceError as exc:
        result = ReadResult(rejected=[Rejection(ctx.origin, "", str(exc).removeprefix(f"{ctx.origin}: "))])
    except Exception as exc:  # noqa: BLE001 - the one guard: no input may crash a command
        log.debug("%s: the %s reader failed", ctx.origin, fmt, exc_info=True)
        fix = _FIX.get(READERS[fmt].__name__.removeprefix("read_") if fmt in READERS else "", "fix or remove it")
        result = ReadResult(rejected=[Rejection(ctx.origin, "", describe_failure(exc, fix))])
    # Messages quote the input: none of them may carry a character that cannot be printed or stored.
    result.notes = [scrub(note)[0] for note in result.notes]
    result.rejected = [Rejection(*(scrub(part)[0] for part in (r.origin, r.item, r.reason))) for r in result.rejected]
    return result


# The sources package's offer to the pipeline; below `read`, which these use.
from newsletter.sources.common import canonical_url, day_to_datetime, legacy_id  # noqa: E402
from newsletter.sources.fetch import Fetched, fetch  # noqa: E402
from newsletter.sources.html import markdown_to_html  # noqa: E402
from newsletter.sources.refresh import (  # noqa: E402
    Refreshed, due, file_key, in_parallel, list_files, load_file, next_look, refresh_feeds, refresh_folder,
)

__all__ = ["READERS", "SUFFIXES", "Fetched", "ReadContext", "Reader", "Refreshed", "canonical_url", "day_to_datetime",
           "detect_format", "due", "fetch", "file_key", "in_parallel", "legacy_id", "list_files", "load_file",
           "markdown_to_html", "next_look", "read", "refresh_feeds", "refresh_folder"]
