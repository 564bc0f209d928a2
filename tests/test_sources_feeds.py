"""The RSS/Atom reader: feedparser's edge cases (BSD, see data/feeds/LICENSE.feedparser) and our own."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter.errors import SourceError
from newsletter.sources import READERS, ReadContext
from newsletter.sources.common import article_id
from newsletter.sources.feeds import read_feed

DATA = Path(__file__).parent / "data" / "feeds"
UTC = ZoneInfo("UTC")
UNDATED = datetime(2024, 10, 12, 7, 0, tzinfo=UTC)


def ctx_for(name: str, tz: ZoneInfo = UTC) -> ReadContext:
    return ReadContext(origin=name, tz=tz, undated=UNDATED, undated_label="the import time")


def read(name: str, data: bytes | None = None):
    return read_feed((DATA / name).read_bytes() if data is None else data, ctx_for(name))


def titled(name: str) -> bytes:
    """feedparser's unit cases have no entry titles (which we reject); give the first entry one."""
    data = (DATA / name).read_bytes()
    return re.sub(rb"<(item|entry)>", rb"<\1><title>Case</title>", data, count=1)


def only(name: str, data: bytes | None = None):
    result = read(name, data)
    assert result.rejected == []
    (article,) = result.articles
    return article, result


# --- feedparser's cases -----------------------------------------------------------------------------


def test_atom_category_label_is_the_topic():
    name = "wellformed__atom10__entry_category_label.xml"
    article, _ = only(name, titled(name))
    assert article.topics == ("Atom 1.0 tests",)


def test_atom_category_term_non_ascii_is_used_without_label():
    name = "wellformed__atom10__entry_category_term_non_ascii.xml"
    data = titled(name).replace(b' label="Atom 1.0 tests"', b"")
    article, _ = only(name, data)
    assert article.topics == ("Freiräume",)
    # With its label present, the label (the display form) wins over the term.
    assert only(name, titled(name))[0].topics == ("Atom 1.0 tests",)


def test_atom_content_and_distinct_summary_give_body_and_lede():
    article, _ = only("wellformed__atom10__entry_content_and_summary.xml",
                      titled("wellformed__atom10__entry_content_and_summary.xml"))
    # Atom's default text type is plain text: escaped into a paragraph.
    assert article.body == "<p>Example Atom</p>"
    assert article.lede == "<p>Summary</p>"


def test_atom_escaped_markup_in_summary_is_html():
    article, _ = only("wellformed__atom10__entry_summary_escaped_markup.xml",
                      titled("wellformed__atom10__entry_summary_escaped_markup.xml"))
    assert article.body == "Example <b>Atom</b>" and article.lede == ""


def test_rss_multiple_categories_and_dc_subjects():
    for name in ("wellformed__rss__item_category_multiple.xml", "wellformed__rss__item_dc_subject_multiple.xml"):
        article, _ = only(name, titled(name))
        assert article.topics == ("Example category 1", "Example category 2")


def test_content_encoded_is_the_body_without_a_duplicate_lede():
    name = "wellformed__rss__item_content_encoded.xml"
    article, _ = only(name, titled(name))
    assert article.body == "<p>Example content</p>" and article.lede == ""


def test_dc_date_and_atom_updated_are_utc():
    name = "wellformed__rss__item_dc_date_parsed.xml"
    article, result = only(name, titled(name))
    assert article.published == datetime(2003, 12, 31, 10, 14, 55, tzinfo=timezone.utc)
    assert article.id == article_id(None, None, None, "Case", "2003-12-31T10:14:55Z")
    assert result.undated == set() and result.notes == []
    name = "wellformed__atom__entry_updated_multiple_values.xml"
    assert only(name, titled(name))[0].published == datetime(2003, 12, 31, 10, 14, 55, tzinfo=timezone.utc)
    name = "wellformed__rss__item_pubDate_map_updated_parsed.xml"
    assert only(name, titled(name))[0].published == datetime(2004, 1, 1, 19, 48, 21, tzinfo=timezone.utc)


def test_link_wins_over_permalink_guid():
    name = "wellformed__rss__item_guid_isPermaLink_conflict_link.xml"
    article, _ = only(name, titled(name))
    assert article.url == "http://link.example.com/" and article.id == "http://link.example.com/"


def test_euc_kr_and_windows_1252_are_decoded():
    assert only("encoding__euc-kr-item.xml", titled("encoding__euc-kr-item.xml"))[0].body == "\ub144"
    assert only("encoding__demoronize-1.xml", titled("encoding__demoronize-1.xml"))[0].body == "don\u2019t"


def test_image_enclosure_is_the_image():
    name = "wellformed__rss__item_enclosure_multiple.xml"
    article, _ = only(name, titled(name))
    assert article.image == "http://example.com/1" and article.url == "http://example.com/"


def test_titled_rss1_and_atom_entries_unchanged():
    article, _ = only("wellformed__namespace__rss1.0withModules.xml")
    assert article.title == "Test Item - RSS 1.0"
    assert article.source == "RSS Tests - RSS 1.0"
    assert article.url == "http://www.pocketsoap.com/weblog/rssTests/rss1.0withModules.xml#1"
    assert article.published == datetime(2002, 9, 28, 20, 1, 19, tzinfo=timezone.utc)
    article, _ = only("wellformed__namespace__atomthreadingwithentry.xml")
    assert article.author == "John"
    assert article.source == "Comments on salmon-test: Test post"
    assert article.body == ('bloffo bliff by <a href="http://example.org/profile/te..." '
                            'rel="noopener noreferrer">te...</a>')
    article, _ = only("wellformed__psc__atomsimplechapter.xml")
    assert (article.title, article.source, article.body) == ("Fiat Lux", "Podlove Podcast", "<p>First episode</p>")
    assert article.image is None  # the enclosure is audio


# --- our own cases ----------------------------------------------------------------------------------


def test_entry_without_date_is_dated_and_noted():
    result = read("entry_without_date.xml")
    dated, undated = result.articles
    assert dated.published == datetime(2024, 10, 11, 5, 0, tzinfo=timezone.utc)
    assert dated.source == "The Desk"
    assert undated.published == UNDATED
    assert undated.body == "No date on this one."
    assert result.undated == {"https://desk.example.com/undated"}
    assert result.notes == ["entry_without_date.xml: item 2 'Undated Entry' has no date; "
                            "dated 2024-10-12 (the import time)"]


def test_entries_without_title_are_kept_and_titled_from_their_text():
    result = read("entry_without_title.xml")
    # Mastodon and micro.blog items have no title: the text gives one, or "Untitled" when there is none.
    assert [a.title for a in result.articles] == ["First Entry", "Untitled", "No title element at all.", "Last Entry"]
    assert [a.source for a in result.articles] == ["Atom Desk"] * 4
    assert result.rejected == []
    assert result.notes == ["entry_without_title.xml: item 2: has no title or text; titled 'Untitled'",
                            "entry_without_title.xml: item 3: has no title; titled 'No title element at all.' "
                            "from its text"]


def test_script_and_handlers_are_removed_article_kept():
    article, _ = only("script_in_content.xml")
    assert article.title == "Scripted Entry"
    assert article.lede == "<p>The summary</p>"
    assert article.body == ('<p>Hello <b>world</b></p><a rel="noopener noreferrer">click</a>'
                            '<img src="https://hostile.example.com/i.png">')


def test_javascript_and_relative_links_are_rejected():
    result = read("javascript_link.xml")
    (good,) = result.articles
    assert good.title == "Good Link" and good.id == "https://links.example.com/good"
    assert [(r.origin, r.item, r.reason) for r in result.rejected] == [
        ("javascript_link.xml", "item 1 'Script Link'",
         "link 'javascript:alert(document.cookie)' is not an absolute http(s) URL"),
        ("javascript_link.xml", "item 2 'Relative Link'", "link '/articles/42' is not an absolute http(s) URL")]


def test_relative_link_resolved_against_xml_base_and_html_feed_title():
    article, _ = only("relative_link_with_base.xml")
    assert article.url == "https://based.example.org/blog/posts/7"
    assert article.source == "Based & Co"
    # published wins over updated, normalised to UTC.
    assert article.published == datetime(2024, 10, 10, 2, 30, tzinfo=timezone.utc)


def test_relative_link_resolved_against_the_feed_url():
    data = (DATA / "javascript_link.xml").read_bytes()
    result = read_feed(data, ctx_for("https://links.example.com/feed.xml"))
    assert [a.url for a in result.articles] == ["https://links.example.com/articles/42",
                                                "https://links.example.com/good?utm_medium=rss"]
    assert [r.item for r in result.rejected] == ["item 1 'Script Link'"]


def test_unparseable_date_is_rejected_others_kept():
    result = read("unparseable_date.xml")
    (good,) = result.articles
    assert good.published == datetime(2024, 10, 11, 0, 30, tzinfo=timezone.utc)
    (rejection,) = result.rejected
    assert rejection.item == "item 1 'Unreadable Date'"
    assert rejection.reason.startswith("date 'sometime last week' cannot be read; use RFC 822")


def test_media_thumbnail_source_author_guid_and_bad_image():
    result = read("media_source_author.xml")
    first, guid_only, bad_image = result.articles
    assert first.source == "Origin Weekly" and first.author == "Jane Roe"
    assert first.image == "https://agg.example.com/thumb.jpg"
    assert first.topics == ("Iran", "Russia")
    assert guid_only.id == "agg-item-2" and guid_only.url is None
    assert guid_only.image == "https://agg.example.com/still.png"
    assert guid_only.source == "Aggregator"
    assert bad_image.image is None and bad_image.url == "https://agg.example.com/3"
    assert result.notes == ["media_source_author.xml: item 3 'Bad Image': dropped the image: image "
                            "'ftp://agg.example.com/pic.jpg' is not an absolute http(s) URL"]


def test_encoding_mismatch_is_read_with_a_note():
    article, result = only("encoding_mismatch.xml")
    assert article.title == "Café Society"
    assert result.notes == ["encoding_mismatch.xml: read despite a problem in the feed: "
                            "document declared as utf-8, but parsed as iso8859-15"]


def test_feed_without_entries_reads_empty_with_a_note():
    result = read("empty_channel.xml")
    assert result.articles == [] and result.rejected == []
    assert result.notes == ["empty_channel.xml: the feed has no entries"]


def test_registered_under_feed_rss_and_atom():
    data = (DATA / "entry_without_date.xml").read_bytes()
    for name in ("feed", "rss", "atom"):
        assert READERS[name](data, ctx_for("entry_without_date.xml")).articles == read("entry_without_date.xml").articles


@pytest.mark.parametrize("name, message", [
    ("not_a_feed_html_page.html", "is not an RSS or Atom feed (it looks like HTML)"),
    ("not_a_feed_xml.xml", "is not an RSS or Atom feed (no <rss>, <feed> or <rdf:RDF> root element)"),
    ("empty.xml", "is empty"),
    ("binary.xml", "is not an RSS or Atom feed (XML error:"),
    ("truncated_feed.xml", "is a broken feed with no readable entries"),
])
def test_unusable_input_raises_source_error(name, message):
    with pytest.raises(SourceError) as caught:
        read(name)
    assert message in caught.value.message
    assert caught.value.where == name and caught.value.hint


def test_a_file_name_as_content_is_not_opened(tmp_path):
    # feedparser opens a str/bytes argument as a path; our reader must only ever parse the bytes.
    target = tmp_path / "feed.xml"
    target.write_bytes((DATA / "entry_without_date.xml").read_bytes())
    with pytest.raises(SourceError, match="is not an RSS or Atom feed"):
        read_feed(str(target).encode(), ctx_for("name.xml"))
