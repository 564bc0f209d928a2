"""The text part is the digest text format: importing it gives back the articles it carries."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter import compose
from newsletter.config import parse_config
from newsletter.model import Article, Issue
from newsletter.sources import ReadContext
from newsletter.sources.digest import read_digest

from tests.conftest import SAMPLE

UNDATED = datetime(2030, 1, 1, 12, tzinfo=timezone.utc)


def paragraphs(fragment: str) -> list[tuple[bool, str]]:
    """(quoted?, text) for each paragraph of article HTML, white space folded."""
    out = []
    for m in re.finditer(r"<blockquote>(.*?)</blockquote>|<p>(.*?)</p>", fragment, re.S):
        if m.group(1) is not None:
            out += [(True, t) for q, t in paragraphs(m.group(1))]
        else:
            out.append((False, " ".join(html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).split())))
    return out


def config_for(tmp: Path, tz: str = "UTC"):
    return parse_config({"newsletter": {"timezone": tz, "unsubscribe_url": "https://example.org/u/{token}",
                                        "address": "1 Main Street"}, "digests": {"daily": {}}},
                        tmp / "newsletter.toml")


def round_trip(articles: list[Article], config) -> list[Article]:
    digest = config.digests["daily"]
    issue = Issue(digest="daily", key="2024-10-11", issue_date=date(2024, 10, 11), articles=tuple(articles))
    text = compose.personalize(compose.render(issue, digest, config), "tok").text
    result = read_digest(text.encode("utf-8"), ReadContext("message.txt", digest.timezone, UNDATED, "test"))
    assert result.rejected == [], (result.rejected, text)
    return result.articles


def assert_same(original: Article, back: Article, tz: ZoneInfo) -> None:
    assert back.title == original.title
    assert back.published.astimezone(tz).date() == original.published.astimezone(tz).date()
    assert back.source == original.source
    assert back.url == original.url
    assert back.topics == original.topics
    assert paragraphs(back.lede + back.body) == paragraphs(original.lede + original.body)


def test_sample_round_trip(tmp_path: Path):
    config = config_for(tmp_path)
    ctx = ReadContext("sample.txt", ZoneInfo("UTC"), datetime(2024, 10, 11, 12, tzinfo=timezone.utc), "--date 2024-10-11")
    originals = read_digest(SAMPLE.read_bytes(), ctx).articles
    assert len(originals) == 2
    back = round_trip(originals, config)
    assert len(back) == 2
    for original, again in zip(originals, back):
        assert_same(original, again, ZoneInfo("UTC"))
    # The quotations come back as quotations, the editor's text as editor's text.
    assert [q for q, _ in paragraphs(back[0].lede + back[0].body)] == [False, True, True, False, True]


words = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N"), exclude_characters="\u00a0"),
                min_size=1, max_size=12)
punct = st.sampled_from([",", ".", ";", "!", "?", " —", " . . .", "’s", ")", " ["])
sentence = st.lists(st.tuples(words, st.one_of(st.just(""), punct)), min_size=1, max_size=30).map(
    lambda parts: " ".join(w + p for w, p in parts).strip())
safe_sentence = sentence.filter(lambda s: not re.match(r"(?i)(read more|more about)", s) and re.search(r"\w", s))
title = st.lists(words, min_size=1, max_size=10).map(" ".join).filter(
    lambda s: not re.match(r"(?i)(read more|more about)", s))
topic = st.lists(words, min_size=1, max_size=3).map(" ".join)
url = st.builds(lambda slug, n: f"https://example.org/{slug}/{n}",
                st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=40), st.integers(0, 10**6))
# A lede introduces a quotation with ':'; the text after a quotation does not end with one.
lede = st.lists(safe_sentence, min_size=1, max_size=2).map(lambda ps: "".join(f"<p>{html.escape(p)}</p>" for p in ps))
quote = st.lists(safe_sentence, min_size=1, max_size=3).map(
    lambda ps: "<blockquote>" + "".join(f"<p>{html.escape(p)}</p>" for p in ps) + "</blockquote>")


@st.composite
def articles(draw, n: int):
    out = []
    for i in range(n):
        body = draw(quote) + draw(st.one_of(st.just(""), safe_sentence.map(lambda p: f"<p>{html.escape(p)}</p>")))
        out.append(Article(
            id=f"id-{i}", title=draw(title), lede=draw(lede), body=body,
            url=draw(st.one_of(st.none(), url)), source=draw(st.one_of(st.none(), topic)),
            topics=tuple({t.lower(): t for t in draw(st.lists(topic, max_size=4))}.values()),
            published=datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=draw(st.integers(0, 500_000)))))
    # An item with neither a source, a URL nor topics has no closing line in the format.
    return [a if a.source or a.url or a.topics else replace(a, source="Desk") for a in out]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(items=st.integers(1, 4).flatmap(articles), tz=st.sampled_from(["UTC", "America/New_York", "Asia/Tokyo"]))
def test_generated_digests_round_trip(tmp_path: Path, items, tz):
    config = config_for(tmp_path, tz)
    back = round_trip(items, config)
    assert len(back) == len(items)
    for original, again in zip(items, back):
        assert_same(original, again, ZoneInfo(tz))


def test_an_item_without_quotes_keeps_none_when_others_are_indented(tmp_path: Path):
    config = config_for(tmp_path)
    quoted = Article(id="a", title="With a quotation", source="Desk", lede="<p>He writes:</p>",
                     body="<blockquote><p>Quoted words.</p></blockquote>",
                     published=datetime(2024, 10, 11, 9, tzinfo=timezone.utc))
    plain = Article(id="b", title="Without one", source="Desk", lede="<p>Three things to note:</p>",
                    body="<p>First, the editor's own words.</p>", published=datetime(2024, 10, 11, 8, tzinfo=timezone.utc))
    back = round_trip([quoted, plain], config)
    assert "<blockquote>" in back[0].body
    assert back[1].body == "" and "First, the editor" in back[1].lede  # all editor's text
