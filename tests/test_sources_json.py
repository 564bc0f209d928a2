"""The JSON readers: JSON Feed 1.1, our own article JSON, and JSON Lines."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter.errors import SourceError
from newsletter.sources import READERS, ReadContext, detect_format
from newsletter.sources.common import article_id
from newsletter.sources.jsonfeed import read_json, read_jsonfeed, read_jsonl

DATA = Path(__file__).parent / "data" / "json"
UTC = ZoneInfo("UTC")
UNDATED = datetime(2024, 10, 12, 7, 0, tzinfo=UTC)


def ctx_for(name: str, tz: ZoneInfo = UTC) -> ReadContext:
    return ReadContext(origin=name, tz=tz, undated=UNDATED, undated_label="the import time")


def read(reader, name: str, tz: ZoneInfo = UTC):
    return reader((DATA / name).read_bytes(), ctx_for(name, tz))


# --- JSON Feed --------------------------------------------------------------------------------------


def test_jsonfeed_items_field_by_field():
    result = read(read_jsonfeed, "jsonfeed_full.json")
    assert result.rejected == []
    html_item, text_item, guid_item = result.articles

    assert html_item.id == "https://desk.example.com/one"
    assert html_item.url == "https://desk.example.com/one?utm_campaign=x"
    assert html_item.title == "HTML Content"
    assert html_item.source == "Desk Feed"
    assert html_item.published == datetime(2024, 10, 11, 7, 0, tzinfo=timezone.utc)
    assert html_item.topics == ("Iran", "Russia")
    assert html_item.author == "Jane Roe"
    assert html_item.image == "https://desk.example.com/one.jpg"
    assert html_item.body == "<p>Hello <em>world</em></p>"
    # summary is plain text in JSON Feed: escaped, never markup.
    assert html_item.lede == "<p>A &lt;short&gt; summary &amp; more.</p>"

    assert text_item.url == "https://elsewhere.example.org/two"
    assert text_item.published == datetime(2024, 10, 10, 12, 0, tzinfo=timezone.utc)
    assert text_item.body == "<p>First &lt;line&gt;<br>second line</p>\n<p>Second paragraph.</p>"
    assert text_item.author == "Old Style Author"
    assert text_item.image == "https://desk.example.com/banner.png"
    assert text_item.lede == "" and text_item.topics == ()

    assert guid_item.id == "tag:desk.example.com,2024:3" and guid_item.url is None
    assert guid_item.published == UNDATED
    assert result.undated == {"tag:desk.example.com,2024:3"}
    assert result.notes == ["jsonfeed_full.json: item 3 'Guid Only, Undated' has no date; "
                            "dated 2024-10-12 (the import time)"]


def test_jsonfeed_date_only_is_noon_in_zone_then_utc():
    tz = ZoneInfo("Asia/Tokyo")
    text_item = read(read_jsonfeed, "jsonfeed_full.json", tz).articles[1]
    assert text_item.published == datetime(2024, 10, 10, 3, 0, tzinfo=timezone.utc)


def test_jsonfeed_bad_items_rejected_good_kept():
    result = read(read_jsonfeed, "jsonfeed_bad_items.json")
    untitled, kept = result.articles
    # A micro-post has no title by the spec: it is titled from its text, with a note.
    assert untitled.title == "A micro-post without a title." and untitled.id == "a"
    assert kept.title == "Bad Image Kept" and kept.image is None and kept.source == "Bad Items"
    assert [(r.item, r.reason) for r in result.rejected] == [
        ("item 2 'Script URL'", "url 'javascript:alert(1)' is not an absolute http(s) URL"),
        ("item 3 'Bad Date'", "date 'yesterday-ish' is not a date (use 2024-10-11 or 2024-10-11T07:00:00+00:00)"),
        ("item 4", "is a JSON string, not an item object"),
        ("item 6", "title must be text, not list"),
    ]
    assert result.notes == [
        "jsonfeed_bad_items.json: item 1: has no title; titled 'A micro-post without a title.' from its text",
        "jsonfeed_bad_items.json: item 1 'A micro-post without a title.' has no date; dated 2024-10-12 (the import time)",
        "jsonfeed_bad_items.json: item 5 'Bad Image Kept': dropped the image: "
        "image '/relative.png' is not an absolute http(s) URL"]


def test_jsonfeed_is_detected_and_registered():
    data = (DATA / "jsonfeed_full.json").read_bytes()
    assert detect_format("feed.json", data) == "jsonfeed"
    assert READERS["jsonfeed"](data, ctx_for("jsonfeed_full.json")).articles == \
        read(read_jsonfeed, "jsonfeed_full.json").articles


# --- our own JSON -----------------------------------------------------------------------------------


def test_own_json_list_field_by_field():
    result = read(read_json, "own_list.json")
    assert result.rejected == []
    full, given, undated = result.articles
    assert full.id == "https://own.example.com/a"
    assert full.title == "Own Article" and full.source == "Own Source"
    assert full.published == datetime(2024, 10, 11, 12, 0, tzinfo=UTC)
    assert full.topics == ("Iran", "Russia")
    assert full.lede == "<p>The <em>editor's</em> intro.</p>"
    assert full.body == "<blockquote>\n<p>A quotation.</p>\n</blockquote>\n<p>More text.</p>"
    assert full.author == "A. Writer" and full.image == "https://own.example.com/a.png"

    assert given.id == "own-2"
    assert given.published == datetime(2024, 10, 11, 7, 0, tzinfo=UTC)
    assert given.topics == ("Gaza War 2023",)

    assert undated.id == article_id(None, None, "Own Source", "Undated Own", "")
    assert undated.published == UNDATED and result.undated == {undated.id}
    assert result.notes == [
        "own_list.json: item 3: ignored unknown keys 'colour', 'tags' (did you mean 'topics'?)",
        "own_list.json: item 3 'Undated Own' has no date; dated 2024-10-12 (the import time)"]


def test_own_json_naive_time_takes_the_zone():
    tz = ZoneInfo("America/Chicago")
    given = read(read_json, "own_list.json", tz).articles[1]
    assert given.published == datetime(2024, 10, 11, 7, 0, tzinfo=tz)
    assert given.published.astimezone(timezone.utc) == datetime(2024, 10, 11, 12, 0, tzinfo=timezone.utc)


def test_own_json_single_object_and_wrapper():
    (single,) = read(read_json, "own_single_object.json").articles
    assert single.title == "Single Object" and single.published == datetime(2024, 10, 11, 12, 0, tzinfo=UTC)
    assert single.id == article_id(None, None, None, "Single Object", "October 11, 2024")
    (wrapped,) = read(read_json, "own_articles_wrapper.json").articles
    assert wrapped.title == "Wrapped"
    assert wrapped.published == datetime(2024, 10, 11, 7, 0, tzinfo=timezone(timedelta(0)))


def test_own_json_bad_items_rejected_good_kept():
    result = read(read_json, "own_bad_items.json")
    assert [a.title for a in result.articles] == ["Good One", "Hostile Lede"]
    assert result.articles[1].lede == '<p>Hi <img src="x"> <a rel="noopener noreferrer">y</a></p>'
    assert [(r.origin, r.item, r.reason) for r in result.rejected] == [
        ("own_bad_items.json", "item 2", 'has no title; add "title": "..."'),
        ("own_bad_items.json", "item 3 'Relative URL'", "url 'articles/1' is not an absolute http(s) URL"),
        ("own_bad_items.json", "item 4 'Source Is A Number'", "source must be text, not a JSON number"),
        ("own_bad_items.json", "item 5 'Bad Date'",
         "date 'the 11th' is not a date (use 2024-10-11 or 2024-10-11T07:00:00+00:00)"),
        ("own_bad_items.json", "item 6 'Topics Mapping'", "topics must be a list or a comma-separated string"),
        ("own_bad_items.json", "item 8", "is a JSON number, not an article object"),
    ]


# --- JSON Lines -------------------------------------------------------------------------------------


def test_jsonl_bad_lines_rejected_by_line_number():
    result = read(read_jsonl, "lines_mixed.jsonl")
    assert [a.title for a in result.articles] == ["Line One", "Line Three", "Line Seven Undated"]
    one, three, seven = result.articles
    assert one.id == "https://lines.example.com/1"
    assert three.published == datetime(2024, 10, 11, 8, 0, tzinfo=timezone.utc) and three.topics == ("A",)
    assert seven.published == UNDATED and result.undated == {seven.id}
    assert [(r.item, r.reason) for r in result.rejected] == [
        ("line 4", "is not valid JSON: Expecting value at column 39"),
        ("line 5", "is a JSON array, not an article object"),
        ("line 6", 'has no title; add "title": "..."'),
    ]
    assert result.notes == [
        "lines_mixed.jsonl: line 7: ignored unknown key 'extra'",
        "lines_mixed.jsonl: line 7 'Line Seven Undated' has no date; dated 2024-10-12 (the import time)"]


def test_jsonl_registered():
    data = (DATA / "lines_mixed.jsonl").read_bytes()
    assert READERS["jsonl"](data, ctx_for("lines_mixed.jsonl")).articles == \
        read(read_jsonl, "lines_mixed.jsonl").articles


# --- unusable inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("reader, name, message", [
    (read_json, "own_invalid.json", "is not valid JSON: Expecting ',' delimiter at line 2, column 29"),
    (read_json, "own_scalar.json", "holds a JSON string, not an article object or a list of them"),
    (read_json, "empty.json", "is empty"),
    (read_json, "binary.json", "is a binary file, not text"),
    (read_json, "latin1.json", "is not UTF-8 text (bad byte at offset 14)"),
    (read_jsonfeed, "jsonfeed_no_items.json", "is not a JSON Feed (no 'items' list at the top level)"),
    (read_jsonfeed, "own_invalid.json", "is not valid JSON: Expecting ',' delimiter at line 2, column 29"),
    (read_jsonfeed, "own_list.json", "is not a JSON Feed"),
    (read_jsonl, "lines_all_bad.jsonl", "is not JSON Lines: Expecting value at line 1, column 1"),
    (read_jsonl, "empty.json", "is empty"),
])
def test_unusable_input_raises_source_error(reader, name, message):
    with pytest.raises(SourceError) as caught:
        read(reader, name)
    assert message in caught.value.message
    assert caught.value.where == name and caught.value.hint


def test_own_json_typo_in_a_key_is_named_with_the_nearest_field():
    result = read_json(b'[{"title": "T", "date": "2024-10-11", "sourse": "Desk"}]', ctx_for("typo.json", UTC))
    assert result.notes == ["typo.json: item 1: ignored unknown key 'sourse' (did you mean 'source'?)"]
    assert result.articles[0].source is None
