"""What the fuzzers share: the seed inputs of every format, the mutations, and what a storable article is.

Used by tests/test_sources_fuzz.py (hypothesis, in the suite) and tests/benchmarks/fuzz_sources.py
(a seeded mutator that runs for minutes).
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

DATA = Path(__file__).parent / "data"
FUZZ_DIR = DATA / "fuzz"
MAX_ARTICLE_SIZE = 16 * 1024


def _corpus() -> dict[str, list[Path]]:
    from newsletter.sources import SUFFIXES

    found: dict[str, list[Path]] = {}
    for folder in ("markdown", "json", "feeds", "feeds/readers", "digest", "crash", "fuzz"):
        for path in sorted((DATA / folder).glob("*")):
            fmt = SUFFIXES.get(path.suffix.lower())
            if path.is_file() and fmt and path.name != "README.md" and path.stat().st_size < 64 * 1024:
                found.setdefault(fmt, []).append(path)
    return found


CORPUS = _corpus()

# Bytes that parsers trip on: encodings, controls, markup, escapes, huge and deep values, dates at the edges.
TOKENS = [
    b"\x00", b"\xff", b"\x85", "\u0085".encode(), b"\xed\xa0\x80", b"\\ud800", b"\\udfff", b"&#xD800;", b"&#0;",
    b"&#1114112;", b"<", b">", b"</", b"<:", b"]]>", b"<![CDATA[", b'"', b"'", b"\\", b"\r", b"\n", b"\n\n",
    b"9" * 4400, b"[" * 2000, b"{\"a\":" * 1500, b"<div>" * 3000, b">" * 200, b"---\n", b"title: ", b"date: ",
    b"0001-01-01T00:00:00+05:00", b"9999-12-31T23:59:59-10:00", b"0000-00-00", b"<psc:chapter/>",
    b' xmlns:x="a\xc2\x85b"', b'encoding="', b"<!DOCTYPE x [<!ENTITY e \"&#60;\">]>", b"&e;", b"<a:b:c>",
    b"More about: ", b"Read more at ", b"\xef\xbb\xbf", b"<img width=1 height=1 src=x>", b"javascript:", b"//x/",
    b'"title": null', b'"items": 1', b"</item><item>", b"<entry>", b"\t" * 100,
]
OPS = ("delete", "insert", "byte", "copy")


def apply(data: bytes, mutations: list[tuple[str, float, int, int, int]]) -> bytes:
    """Apply (op, where 0..1, token index, byte, length) mutations to an input."""
    out = bytearray(data)
    for op, where, token, byte, length in mutations:
        pos = int(where * len(out))
        if op == "delete":
            del out[pos:pos + length]
        elif op == "insert":
            out[pos:pos] = TOKENS[token % len(TOKENS)]
        elif op == "byte" and out:
            out[min(pos, len(out) - 1)] = byte
        elif op == "copy":
            start = int((1 - where) * len(out))
            out[pos:pos] = out[start:start + length]
    return bytes(out)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random mutations of an input."""
    return apply(data, [(rng.choice(OPS), rng.random(), rng.randrange(len(TOKENS)), rng.randrange(256),
                         rng.randint(1, 64)) for _ in range(rng.randint(1, 4))])


def context(origin: str):
    from newsletter.sources import ReadContext

    utc = ZoneInfo("UTC")
    return ReadContext(origin=origin, tz=utc, undated=datetime(2024, 10, 12, 7, 0, tzinfo=utc),
                       undated_label="the import time", max_article_size=MAX_ARTICLE_SIZE)


def article_problems(articles) -> list[str]:
    """Why these articles could not be stored as they are (empty when they can)."""
    from newsletter.model import slugify

    problems = []
    for a in articles:
        texts = [a.id, a.title, a.url or "", a.source or "", a.lede, a.body, a.author or "", a.image or "", *a.topics]
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                problems.append(f"surrogate: {text[:40]!r}")
            if "\x00" in text:
                problems.append(f"nul: {text[:40]!r}")
        if not a.title.strip() or "\n" in a.title or len(a.title) > 500:
            problems.append(f"title: {a.title[:40]!r}")
        try:
            a.published.astimezone(timezone.utc).replace(tzinfo=None)
        except (OverflowError, ValueError):
            problems.append(f"date: {a.published!r}")
        if len(a.id) > 2048:
            problems.append(f"id: {len(a.id)} characters")
        if any(len(slugify(t)) > 200 for t in a.topics):
            problems.append("topic: slug over 200 characters")
        if a.url is not None and not a.url.startswith(("http://", "https://")):
            problems.append(f"url: {a.url[:40]!r}")
        if len((a.lede + a.body).encode("utf-8")) > MAX_ARTICLE_SIZE + 2048:
            problems.append(f"size: {len((a.lede + a.body).encode())} bytes")
    return problems
