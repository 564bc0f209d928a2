"""No input can break the sources: the inputs that crashed every syncing command (tests/data/crash/),
bounded work on hostile HTML and huge items, and items that can be cleaned instead of lost."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter import sources
from newsletter.pipeline import open_store, sync
from newsletter.sources.html import MAX_DEPTH, cut_html, prune, sanitize_html

from tests.conftest import config_from, write_markdown

CRASH = Path(__file__).parent / "data" / "crash"
UTC = ZoneInfo("UTC")
UNDATED = datetime(2024, 10, 12, 7, 0, tzinfo=UTC)
FEED_FIX = "check it with https://validator.w3.org/feed/ or ask its publisher"

# Each input that crashed a command before, and what becomes of it now: the articles kept, and
# the one rejection (of the whole file, or of one item) that says what to fix.
CASES = {
    "json_nested_deeply.json": ([], ("", "is nested too deeply to read; flatten it")),
    "json_integer_over_4300_digits.json": (["A huge id"], None),
    "jsonfeed_date_out_of_range.json": ([], ("item 1 'Dated at the end of time'",
                                             "date 9999-12-31T23:00:00-05:00 is out of range (years 1 to 9999 in UTC)")),
    "markdown_date_out_of_range.md": ([], ("front matter",
                                           "date 0001-01-01T00:00:00+05:00 is out of range (years 1 to 9999 in UTC)")),
    "json_lone_surrogate_in_title.json": (["Half a pair \ufffd here"], None),
    "jsonfeed_lone_surrogate_in_content.json": (["Broken pair in the body"], None),
    "feed_encoding_declaration_with_nul.xml": ([], ("", "cannot be read: the parser failed on malformed content "
                                                        f"(ValueError: embedded null character); {FEED_FIX}")),
    "feed_encoding_declaration_with_bad_byte.xml": ([], ("", "(UnicodeDecodeError:")),
    "feed_podcast_chapter_without_start.xml": ([], ("", "(TypeError: expected string or bytes-like object")),
    "feed_namespace_uri_with_nel.xml": ([], ("", "(ValueError: too many values to unpack")),
    "feed_malformed_tags.xml": ([], ("", "(KeyError: 'tags')")),
}


def ctx(origin: str, **kwargs) -> sources.ReadContext:
    return sources.ReadContext(origin=origin, tz=UTC, undated=UNDATED, undated_label="the import time", **kwargs)


def test_every_crash_input_is_kept_as_a_file():
    assert sorted(p.name for p in CRASH.iterdir()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_crash_input_read_alone_is_one_rejection_or_a_cleaned_article(name):
    titles, rejection = CASES[name]
    result = sources.read((CRASH / name).read_bytes(), ctx(name))
    assert [a.title for a in result.articles] == titles
    if rejection is None:
        assert result.rejected == []
    else:
        (found,) = result.rejected
        assert found.origin == name and found.item == rejection[0] and rejection[1] in found.reason


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_crash_input_beside_a_good_article_leaves_the_good_one_stored(project: Path, name):
    folder = project.parent / "articles"
    write_markdown(folder, "good.md", "A Good Article")
    shutil.copyfile(CRASH / name, folder / name)
    config = config_from(project)
    with open_store(config) as store:
        report = sync(config, store)
        stored = {a.title for a in store.find_articles()}
    titles, rejection = CASES[name]
    assert stored == {"A Good Article", *titles}
    assert len(report.rejected) == (rejection is not None)
    # Cleaned surrogates: stored as U+FFFD, and said in a note.
    if "surrogate" in name:
        assert any("replaced invalid characters (lone surrogates)" in n for n in report.notes)


def test_a_lone_surrogate_is_replaced_and_the_item_kept_in_every_field():
    data = ('{"title": "T \\udc80", "published": "2024-10-11", "source": "S\\ud800", "author": "A\\udfff", '
            '"topics": ["x\\ud801"], "lede": "L \\ud802", "body": "B \\ud803"}').encode()
    (article,) = sources.read(data, ctx("one.json")).articles
    for text in (article.title, article.source, article.author, article.topics[0], article.lede, article.body):
        assert "\ufffd" in text
        text.encode("utf-8")  # storable


def test_control_characters_and_nul_become_spaces_never_stored():
    data = b'[{"title": "Bell\\u0007 and NUL\\u0000", "published": "2024-10-11", "body": "a\\u0000b\\u001bc\\u0085d"}]'
    (article,) = sources.read(data, ctx("ctl.json")).articles
    assert article.title == "Bell and NUL" and article.body == "<p>a b c d</p>"


def test_a_guard_turns_any_reader_failure_into_one_rejection(monkeypatch):
    def broken(data, context):
        raise MemoryError()

    monkeypatch.setitem(sources.READERS, "json", broken)
    (rejection,) = sources.read(b"[]", ctx("x.json")).rejected
    assert rejection.reason == "is too large to read; split it into smaller files"


def test_an_input_over_max_file_size_is_rejected_before_it_is_parsed():
    (rejection,) = sources.read(b"[" + b" " * 4096 + b"]", ctx("big.json", max_file_size=1024)).rejected
    assert rejection.reason == "is larger than 1 KB (raise max_file_size in [newsletter] if it is meant to be read)"


def test_an_article_over_max_article_size_is_cut_with_a_note():
    body = "\n\n".join(f"Paragraph {n} " + "word " * 200 for n in range(200))
    data = ('---\ntitle: Long\ndate: 2024-10-11\n---\nLede.\n\n' + body).encode()
    result = sources.read(data, ctx("long.md", max_article_size=20 * 1024))
    (article,) = result.articles
    size = len((article.lede + article.body).encode())
    assert 15 * 1024 < size <= 21 * 1024
    assert article.body.endswith("</p>\n<p>[…]</p>") and article.lede == "<p>Lede.</p>"
    assert result.notes == ["long.md: 'Long': cut to 20 KB (max_article_size)"]


def test_cut_html_ends_at_a_block_and_closes_what_it_opened():
    html = "<blockquote><p>" + "one two three " * 50 + "</p><p>" + "four five " * 50 + "</p></blockquote>"
    cut = cut_html(html, 800)
    assert cut.startswith("<blockquote><p>one two") and cut.endswith("</p></blockquote>\n<p>[…]</p>")
    assert "four" not in cut
    assert cut_html(html, 10_000) == html


def test_nesting_deeper_than_the_cap_is_dropped_and_its_text_kept():
    deep = "<blockquote>x" * 5000 + "</blockquote>" * 5000
    clean = sanitize_html(deep)
    assert clean.count("<blockquote>") == MAX_DEPTH and clean.count("x") == 5000
    # Siblings that HTML closes by themselves are not nesting: a thousand unclosed <p> and <li> all stay.
    flat = "<ul>" + "<li>item" * 1000 + "</ul>" + "<p>para" * 1000
    assert sanitize_html(flat).count("<li>") == 1000 and sanitize_html(flat).count("<p>") == 1000


def test_prune_keeps_ordinary_html_as_it_was():
    html = ('<p>Hello <a href="https://x.example/">x</a><br>and <img src="https://x.example/i.png" alt="a" '
            'width="600" height="400"></p><!-- a comment -->')
    assert prune(html) == html.replace("<!-- a comment -->", "")


@pytest.mark.parametrize("img", [
    '<img src="https://t.example/p.gif" width="1" height="1">',
    "<img src='https://t.example/p.gif' height=1 width=1 />",
    '<img src="https://t.example/p.gif" width="0" height="0px">',
    '<img src="https://t.example/p.gif" style="display: none">',
    '<img src="https://t.example/p.gif" style="visibility:hidden;width:10px">',
    '<img src="https://t.example/p.gif" hidden>',
])
def test_tracking_pixels_are_dropped(img):
    assert sanitize_html(f"<p>Text{img}</p>") == "<p>Text</p>"


def test_images_that_are_seen_stay():
    for img in ('<img src="https://x.example/i.png">', '<img src="https://x.example/i.png" width="1" height="40">'):
        assert "<img" in sanitize_html(f"<p>{img}</p>")


def test_feedparser_char_refs_to_surrogates_do_not_lose_the_feed():
    data = (b'<rss version="2.0"><channel><title>Refs</title><item><title>Half &#xD800; pair</title>'
            b'<link>https://r.example/1</link></item><item><title>Beyond &#1114112; and &#99999999999;</title>'
            b'<link>https://r.example/2</link></item></channel></rss>')
    result = sources.read(data, ctx("refs.xml"))
    assert [a.title for a in result.articles] == ["Half \ufffd pair", "Beyond \ufffd and \ufffd"]


def test_a_url_too_long_to_be_a_key_gives_a_hashed_id():
    url = "https://long.example/" + "a" * 3000
    data = f'[{{"title": "Long URL", "published": "2024-10-11", "url": "{url}"}}]'.encode()
    (article,) = sources.read(data, ctx("long.json")).articles
    assert article.url == url and article.id.startswith("sha1:") and len(article.id) == 45


def test_topics_and_names_are_bounded():
    topics = ", ".join(f'"t{n}"' for n in range(80))
    data = (f'[{{"title": "Many", "published": "2024-10-11", "topics": [{topics}, "{"x" * 500}"], '
            f'"author": "{"a" * 1000}"}}]').encode()
    (article,) = sources.read(data, ctx("many.json")).articles
    assert len(article.topics) == 50 and len(article.author) == 300
