"""Public feeds must import with every distinct entry: feedparser's test feeds (BSD, see
data/feeds/LICENSE.feedparser) and our own feeds of the cases rss2email's test feeds show
(data/feeds/readers/README.md)."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter import sources
from newsletter.pipeline import open_store, sync

from tests.conftest import config_from, write_config

FEEDS = Path(__file__).parent / "data" / "feeds"
READERS = FEEDS / "readers"
UTC = ZoneInfo("UTC")
FEEDPARSER = sorted(p.name for p in FEEDS.glob("*__*.xml"))
OURS = sorted(p.name for p in READERS.iterdir() if p.suffix != ".md")


def read(path: Path):
    ctx = sources.ReadContext(origin=path.name, tz=UTC, undated=datetime(2024, 10, 12, tzinfo=UTC),
                              undated_label="the import time")
    return sources.read(path.read_bytes(), ctx)


def entries_in(path: Path) -> int:
    return len(re.findall(rb"<(?:item|entry)[\s>]", path.read_bytes()))


@pytest.mark.parametrize("name", FEEDPARSER + [f"readers/{n}" for n in OURS])
def test_every_entry_is_one_article(name):
    path = FEEDS / name
    result = read(path)
    assert result.rejected == []
    assert len({a.id for a in result.articles}) == len(result.articles) == entries_in(path) > 0


def test_the_feedparser_corpus_keeps_its_licence_and_source():
    assert len(FEEDPARSER) == 25  # every file of the corpus given to the project
    assert (FEEDS / "LICENSE.feedparser").is_file() and (FEEDS / "SOURCE.feedparser.txt").is_file()


def test_comments_that_differ_only_by_fragment_stay_apart():
    articles = read(READERS / "comments_differing_only_by_fragment.rss").articles
    assert [a.id.rsplit("#", 1)[1] for a in articles] == ["comment-881200101", "comment-881200099", "comment-881200042"]
    assert {a.title for a in articles} == {"Re: Should We Teach Plotting First?"}


def test_items_without_links_or_with_one_link_are_told_apart_by_guid():
    status = read(READERS / "status_items_without_links.rss").articles
    assert [a.id for a in status][:2] == ["7A1C0D7E-0001-11EF-9A01-0242AC120002", "7A1C0D7E-0002-11EF-9A01-0242AC120002"]
    notices = read(READERS / "items_linking_to_one_page.rss").articles
    assert [a.id for a in notices] == ["notice-2024-311", "notice-2024-310", "notice-2024-309"]
    assert {a.url for a in notices} == {"https://town.example.gov/notices"}


def test_micro_posts_without_titles_are_titled_from_their_first_sentence():
    result = read(READERS / "microblog_posts_without_titles.rss")
    titles = [a.title for a in result.articles]
    assert titles[:3] == ["Walked along the canal this morning.", "Short one: the new release is out.", "Untitled"]
    assert titles[3] == "A very long first sentence that goes on and on about the state of the local…"
    assert len(titles[3]) <= 80
    assert len(result.notes) == 4


def test_feedburner_proxy_links_give_way_to_the_original_and_pixels_go():
    first, second = read(READERS / "proxy_links_and_tracking_pixels.atom").articles
    assert first.url == first.id == "https://tools.example.org/digest/2024/10/feeds-in-editor/"
    assert "proxy.example.net/~r/digest/~4" not in first.body + second.body  # the 1x1 pixels
    assert 'href="https://tools.example.org/digest/2024/10/feeds-in-editor/howto/"' in first.body  # xml:base
    assert second.title == "Version 2.68 Released with & New Features"


def test_non_latin_categories_and_media_nested_in_links():
    first, second = read(READERS / "non_latin_categories_nested_media.atom").articles
    assert first.topics == ("国际新闻", "美国，北约，国防部") and first.image == "https://img.example.cn/106x60/nato.jpg"
    assert first.source == "新闻网 | 主页" and second.image is None


def test_protocol_relative_images_are_given_https():
    result = read(READERS / "blogger_entries_protocol_relative_images.atom")
    assert result.articles[0].image == "https://img.example.com/-S5wk/s72-c/day1.png" and result.notes == []


def test_zone_less_dates_of_an_rss1_archive_are_read_as_utc():
    articles = read(READERS / "mailing_list_rss1_replies.rdf").articles
    assert articles[0].published.isoformat() == "2024-10-08T14:36:22+00:00"
    assert [a.author for a in articles] == ["Ana Lima", "Ben Okafor", "Ana Lima", "Ana Lima"]


def test_an_entry_changed_between_two_fetches_is_updated_not_copied(tmp_path):
    feed = tmp_path / "project" / "feeds" / "security.xml"
    path = write_config(tmp_path / "project", '\n[[sources]]\npath = "feeds"\n')
    feed.parent.mkdir()
    config = config_from(path)
    with open_store(config) as store:
        for n in (1, 2):
            shutil.copyfile(READERS / f"entry_changed_between_fetches_{n}.xml", feed)
            report = sync(config, store)
            assert (report.new, report.updated) == ((1, 0) if n == 1 else (0, 1))
        (article,) = store.find_articles()
    assert "delayed to Thursday" in article.body
