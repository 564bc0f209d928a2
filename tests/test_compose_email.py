"""What the default theme does for every client: checks pass, direction and language per item, the
author, images, quotations Outlook can indent, the "In this issue" list, subject variables."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from lxml import html as lxml_html

from newsletter import compose
from newsletter.config import parse_config
from newsletter.model import Article, Issue
from newsletter.pipeline.checking import check_rendered
from newsletter.sources import ReadContext
from newsletter.sources.digest import read_digest

from tests.conftest import SAMPLE
from tests.test_compose import RUSSIA, SPY

NEWSLETTER = {"title": "Editors' Picks", "from": "Editors' Picks <editors@example.org>", "site_url": "https://example.org",
              "topic_url": "https://example.org/topics/{slug}", "address": "Example Media, 1 Main Street, Springfield",
              "unsubscribe_url": "https://example.org/unsubscribe?token={token}"}
ARABIC = Article(
    id="https://example.org/ar/1", title="إيران تستسلم لهوس التجسس", url="https://example.org/ar/1", source="الشرق",
    published=datetime(2024, 10, 11, 9, tzinfo=timezone.utc), topics=("إيران",),
    lede="<p>تتحدث تقارير كثيرة هذا الأسبوع عن مصير قائد فيلق القدس، ويكتب الكاتب:</p>",
    body="<blockquote><p>نقل إلى المستشفى بعد إصابته بنوبة قلبية، وفق ما أوردته قناة عربية.</p></blockquote>",
)


def config_for(tmp_path: Path, digest: dict | None = None, **newsletter):
    return parse_config({"newsletter": {**NEWSLETTER, **newsletter},
                         "digests": {"daily": {"subject": "{{ title }}: {{ top }}", **(digest or {})}}},
                        tmp_path / "newsletter.toml")


def render(config, articles):
    return compose.render(Issue("daily", "2024-10-11", date(2024, 10, 11), tuple(articles)), config.digests["daily"],
                          config)


def sample_articles() -> list[Article]:
    ctx = ReadContext("sample.txt", timezone.utc, datetime(2024, 10, 11, 12, tzinfo=timezone.utc), "--date 2024-10-11")
    return read_digest(SAMPLE.read_bytes(), ctx).articles


def thirty() -> list[Article]:
    """Thirty ordinary items: a lede, two quoted paragraphs, an image, an author, three topics."""
    return [Article(id=f"a{n}", title=f"{SPY.title} ({n})", published=SPY.published, url=f"{SPY.url}-{n}",
                    source=SPY.source, topics=SPY.topics, lede=SPY.lede, body=SPY.body, image=SPY.image,
                    author=SPY.author) for n in range(30)]


def checked(config, articles):
    rendered = render(config, articles)
    return rendered, check_rendered(config, config.digests["daily"], rendered, "2024-10-11")


@pytest.mark.parametrize("articles", [sample_articles, thirty], ids=["sample digest", "30 items"])
def test_the_default_theme_passes_every_check(tmp_path, articles):
    rendered, report = checked(config_for(tmp_path), articles())
    assert report.findings == [], [f"{f.severity} {f.where()}: {f.message}" for f in report.findings]


def test_an_arabic_item_runs_right_to_left_in_its_language_without_synthetic_italics(tmp_path):
    html = render(config_for(tmp_path), [SPY, ARABIC]).html
    doc = lxml_html.fromstring(html)
    item = doc.xpath("//div[@dir='rtl']")
    assert len(item) == 1 and item[0].get("lang") == "ar" and ARABIC.title in item[0].text_content()
    quote = item[0].xpath(".//blockquote")[0]
    assert "font-style:normal" in quote.get("style").replace(" ", "")  # Arabic has no italic to show
    cell = quote.getparent()
    assert "border-right:3px" in cell.get("style").replace(" ", "") and "border-left:0" in cell.get("style")
    # The English item stays as the newsletter is: no dir or lang of its own, italic quotations.
    english = doc.xpath("//h2[a[text()='Iran Gives in to Spy Mania']]")[0]
    assert not [a for a in english.iterancestors() if a.get("dir") == "rtl"]
    assert html.startswith('<!DOCTYPE html>\n<html lang="en" dir="ltr">')


def test_an_arabic_newsletter_is_right_to_left_and_its_english_items_are_marked(tmp_path):
    html = render(config_for(tmp_path, language="ar"), [ARABIC, SPY]).html
    assert '<html lang="ar" dir="rtl">' in html
    doc = lxml_html.fromstring(html)
    assert [(d.get("dir"), d.get("lang")) for d in doc.xpath("//div[@dir or @lang]")] == [("ltr", "und")]
    assert doc.xpath("//div[@dir='ltr']//a[text()='Iran Gives in to Spy Mania']")


def test_the_author_is_shown_and_images_are_linked_sized_and_described_once(tmp_path):
    html = render(config_for(tmp_path), [SPY]).html
    assert "Oct. 11 2024 · By Benny Avni" in html
    img = lxml_html.fromstring(html).xpath("//img")[0]
    assert img.get("alt") == "" and img.getparent().get("href") == SPY.url and int(img.get("width")) <= 600


def test_a_wide_inline_image_is_narrowed_with_its_height_and_keeps_its_alt(tmp_path):
    wide = Article(id="w", title="Wide", published=SPY.published, source="Desk",
                   body='<p><img src="https://example.org/w.png" alt="A chart" width="1200" height="600"></p>')
    img = lxml_html.fromstring(render(config_for(tmp_path), [wide]).html).xpath("//img")[0]
    assert (img.get("width"), img.get("height"), img.get("alt")) == ("536", "268", "A chart")


def test_a_plain_text_lede_is_a_paragraph_and_a_summary_repeated_by_the_content_is_dropped(tmp_path):
    start = "The committee met on Tuesday and agreed on the budget for next year"
    feed = Article(id="f", title="From a feed", published=SPY.published, source="Desk", lede=start + "…",
                   body=f"<p>{start}, after a long debate.</p><p>Second paragraph.</p>")
    html = render(config_for(tmp_path), [feed]).html
    assert f"<p>{start}…</p>" in re.sub(r"<p [^>]*>", "<p>", html)
    assert html.count(start) == 2  # the lede and the preheader; the body's repeat is gone
    assert "Second paragraph." in html


def test_quotations_sit_in_a_table_cell_that_outlook_indents(tmp_path):
    doc = lxml_html.fromstring(render(config_for(tmp_path), [RUSSIA]).html)
    quotes = doc.xpath("//blockquote")
    assert len(quotes) == 2
    for quote in quotes:
        cell = quote.getparent()
        assert cell.tag == "td" and cell.getparent().getparent().get("role") == "presentation"
        assert "padding:" in cell.get("style") and "border-left:3px" in cell.get("style").replace(" ", "")


@pytest.mark.parametrize("count,above,shown", [(6, 6, False), (7, 6, True), (2, 0, True), (2, 2, False)])
def test_the_in_this_issue_list_heads_issues_of_more_items_than_contents_above(tmp_path, count, above, shown):
    config = config_for(tmp_path, {"contents_above": above})
    html = render(config, thirty()[:count]).html
    assert ("In this issue" in html) is shown
    if shown:
        items = lxml_html.fromstring(html).xpath("//ol/li")
        assert [li.text for li in items] == [f"{SPY.title} ({n})" for n in range(count)]


def test_contents_above_must_be_a_whole_number(tmp_path):
    from newsletter.errors import ConfigError

    with pytest.raises(ConfigError, match="contents_above"):
        config_for(tmp_path, {"contents_above": -1})


def test_subject_and_preheader_templates_get_the_count_and_the_titles(tmp_path):
    config = config_for(tmp_path, {"subject": "{{ count }} picks: {{ titles|join(' / ') }}",
                                   "preheader": "First {{ top }}, then {{ titles[1:]|length }} more"})
    rendered = render(config, [SPY, RUSSIA])
    assert rendered.subject == f"2 picks: {SPY.title} / {RUSSIA.title}"
    assert rendered.preheader == f"First {SPY.title}, then 1 more"


def test_the_style_element_keeps_only_what_cannot_be_inlined(tmp_path):
    html = render(config_for(tmp_path), sample_articles()).html
    styles = [style.text for style in lxml_html.fromstring(html).xpath("//style")]  # comments are not elements
    assert len(styles) == 1 and styles[0].startswith("@media")
    assert "@media (prefers-color-scheme: dark)" in styles[0] and "@media (max-width: 620px)" in styles[0]
    # Outlook's own line-height rule: in a comment only Outlook reads, never in a style attribute.
    assert "<!--[if mso]><style>" in html and "mso-" not in "".join(re.findall(r'style="[^"]*"', html))
