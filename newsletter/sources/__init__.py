"""Readers: one per input format, chosen by name, file extension or content.

A reader takes the raw bytes of one input and a ReadContext and returns a ReadResult:
the good articles, one Rejection per unusable item, and notes (such as undated items
and the date they were given). A reader raises SourceError only when the input as a
whole is unusable (binary, not UTF-8, not the format it claims); the caller turns that
into a rejection of the whole input and goes on with the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from newsletter.errors import SourceError
from newsletter.model import ReadResult


@dataclass(frozen=True)
class ReadContext:
    origin: str            # file path, URL or "<stdin>", for messages
    tz: ZoneInfo           # a date without a time is noon in this zone
    undated: datetime      # the date an item without one is given
    undated_label: str     # how that date was chosen: "--date 2024-10-11", "the import time"


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


def read(data: bytes, ctx: ReadContext, fmt: str | None = None) -> ReadResult:
    """Read one input with the named reader, or the one its name and content suggest."""
    fmt = fmt or detect_format(ctx.origin, data)
    if fmt not in READERS:
        raise SourceError(f"unknown format {fmt!r}", where=ctx.origin, hint="use one of " + ", ".join(READERS))
    return READERS[fmt](data, ctx)
