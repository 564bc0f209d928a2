"""The clip guard: an issue too long for Gmail loses quotations, last items first, and says so."""

from __future__ import annotations

from dataclasses import replace

from lxml import html as lxml_html

from newsletter.compose.clip import CLIP_BUDGET
from newsletter.model import Article

from tests.test_compose import SPY
from tests.test_compose_email import config_for, render, thirty

MARK = "Quoted at length:"
LONG_QUOTE = f"<blockquote><p>{MARK} " + "a long passage from the article. " * 60 + "</p></blockquote>"


def long_items(count: int) -> list[Article]:
    return [replace(a, body=a.body + LONG_QUOTE) for a in thirty()[:count]]


def size(html: str) -> int:
    return len(html.encode("utf-8"))


def test_a_short_issue_is_left_whole(tmp_path):
    rendered = render(config_for(tmp_path), long_items(3))
    assert rendered.notes == () and rendered.html == rendered.web_html
    assert rendered.html.count(MARK) == 3


def test_a_long_issue_drops_quotations_from_its_last_items_and_keeps_every_headline_lede_and_link(tmp_path):
    items = long_items(30)
    rendered = render(config_for(tmp_path), items)
    assert size(rendered.web_html) > CLIP_BUDGET >= size(rendered.html)
    doc = lxml_html.fromstring(rendered.html)
    headlines = [h.text_content() for h in doc.xpath("//h2")]
    assert headlines == [a.title for a in items]
    hrefs = {a.get("href") for a in doc.xpath("//a")}
    assert {a.url for a in items} <= hrefs and "https://example.org/topics/israeli-security" in hrefs
    assert rendered.html.count("This week, there have been numerous unconfirmed reports") == 30  # every lede
    # Quotations go from the end: the first items keep theirs, the last ones say theirs are left out.
    kept = [(MARK in item.text_content()) for item in doc.xpath("//td[h2]")]
    assert kept[0] and not kept[-1] and kept == sorted(kept, reverse=True)
    assert rendered.html.count("The quoted passages are left out here") == kept.count(False)
    # The text part and the web version keep everything; a note says what happened.
    assert rendered.text.count(MARK) == 30 and rendered.web_html.count(MARK) == 30
    (note,) = rendered.notes
    assert f"the quotations of {kept.count(False)} items" in note and "text part keeps them" in note
    assert f"\u201c{items[-kept.count(False)].title}\u201d" in note


def test_an_issue_too_long_even_without_quotations_says_so(tmp_path):
    plain = [replace(a, lede=a.lede * 12, body=LONG_QUOTE) for a in thirty()]
    rendered = render(config_for(tmp_path), plain)
    assert size(rendered.html) > CLIP_BUDGET and MARK not in rendered.html
    assert "an issue of fewer items would fit" in rendered.notes[0]


def test_items_without_quotations_are_never_touched(tmp_path):
    bare = [replace(SPY, id=f"b{n}", body="") for n in range(3)]
    rendered = render(config_for(tmp_path), bare + long_items(30)[3:])
    assert "The quoted passages are left out" not in "".join(
        td.text_content() for td in lxml_html.fromstring(rendered.html).xpath("//td[h2]")[:3])
