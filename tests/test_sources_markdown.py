"""The Markdown reader: front matter fields, lede/body split, and bad inputs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter.errors import SourceError
from newsletter.sources import READERS, ReadContext
from newsletter.sources.common import article_id
from newsletter.sources.markdown import read_markdown

DATA = Path(__file__).parent / "data" / "markdown"
UTC = ZoneInfo("UTC")
UNDATED = datetime(2024, 10, 12, 7, 0, tzinfo=UTC)


def read(name: str, tz: ZoneInfo = UTC):
    ctx = ReadContext(origin=name, tz=tz, undated=UNDATED, undated_label="the import time")
    return read_markdown((DATA / name).read_bytes(), ctx)


def only_article(name: str, tz: ZoneInfo = UTC):
    result = read(name, tz)
    assert result.rejected == []
    (article,) = result.articles
    return article, result


def test_full_article_every_field():
    article, result = only_article("full_article.md")
    assert article.title == "Iran Gives in to Spy Mania"
    assert article.published == datetime(2024, 10, 11, 12, 0, tzinfo=UTC)
    assert article.url == "https://www.nysun.example/article/iran-spy-mania?utm_source=feed&page=2"
    assert article.id == "https://www.nysun.example/article/iran-spy-mania?page=2"
    assert article.source == "New York Sun"
    assert article.topics == ("Gaza War 2023", "Iran", "israeli security")
    assert article.author == "Benny Avni"
    assert article.image == "https://img.nysun.example/qaani.jpg"
    assert article.lede == ("<p>This week, there have been <em>numerous</em> reports about Esmail Qaani. "
                            "Benny Avni writes:</p>")
    assert article.body == ("<blockquote>\n<p>On Thursday, Sky News Arabic reported that Mr. Qaani was rushed "
                            "to a hospital.</p>\n</blockquote>\n<p>Iranians are desperately scrambling.</p>")
    assert result.notes == [] and result.undated == set()


def test_lede_id_and_comma_topics_from_front_matter():
    article, _ = only_article("lede_in_front_matter.md")
    assert article.id == "mideast-2024-10-11-lede"
    assert article.title == "Lede: Given Up Front"
    assert article.published == datetime(2024, 10, 11, 7, 30, tzinfo=timezone(timedelta(hours=2)))
    assert article.topics == ("Iran", "Russia", "PLO")
    assert article.lede == "<p>The editor's <strong>own</strong> intro.</p>"
    assert article.body == "<p>First paragraph of the body.</p>\n<p>Second paragraph.</p>"
    assert article.url is None and article.author is None


def test_date_only_is_noon_in_the_given_zone():
    paris = ZoneInfo("Europe/Paris")
    article, _ = only_article("full_article.md", paris)
    assert article.published == datetime(2024, 10, 11, 12, 0, tzinfo=paris)
    assert article.published.astimezone(timezone.utc) == datetime(2024, 10, 11, 10, 0, tzinfo=timezone.utc)


def test_undated_article_gets_the_default_date_and_a_note():
    article, result = only_article("no_date.md")
    assert article.published == UNDATED
    assert article.id == "file:no_date.md"  # no URL: the file (its path in the source folder) is its identity
    assert result.undated == {article.id}
    assert result.notes == ["no_date.md: 'Undated Thoughts' has no date; dated 2024-10-12 (the import time)"]
    # Re-importing gives the same id, so the store does not duplicate it.
    assert read("no_date.md").articles[0].id == article.id


def test_article_without_url_keeps_its_id_when_the_title_is_fixed():
    ctx = ReadContext(origin="articles/spy-mania.md", tz=UTC, undated=UNDATED, undated_label="the import time")
    before = read_markdown(b"---\ntitle: Iran Gives in to Spy Manai\ndate: 2024-10-11\n---\nText.\n", ctx)
    after = read_markdown(b"---\ntitle: Iran Gives in to Spy Mania\ndate: 2024-10-11\n---\nText.\n", ctx)
    assert before.articles[0].id == after.articles[0].id == "file:spy-mania.md"
    # The id release 1 gave it (the stem alone) is named, so an upgraded store can re-key its article.
    assert after.aliases == {"file:spy-mania.md": "file:spy-mania"}
    from_stdin = read_markdown(b"---\ntitle: T\ndate: 2024-10-11\n---\n", ReadContext("<stdin>", UTC, UNDATED, "x"))
    assert from_stdin.articles[0].id == article_id(None, None, None, "T", "2024-10-11")
    assert from_stdin.aliases == {}


def test_files_with_one_name_in_two_folders_have_two_ids():
    text = b"---\ntitle: Note\ndate: 2024-10-11\n---\nText.\n"
    ids = [read_markdown(text, ReadContext(f"/src/articles/{year}/note.md", UTC, UNDATED, "x", root="/src/articles"))
           .articles[0].id for year in (2024, 2025)]
    assert ids == ["file:2024/note.md", "file:2025/note.md"]


def test_title_with_crlf_is_kept_on_one_line():
    article, _ = only_article("title_with_newline.md")
    assert article.title == "Line one line two"


def test_numeric_title_stays_text():
    article, _ = only_article("numeric_title.md")
    assert article.title == "1984" and article.lede == "" and article.body == ""


def test_crlf_file_reads_like_lf():
    article, _ = only_article("crlf_line_endings.md")
    assert article.title == "Windows File"
    assert article.lede == "<p>Lede here.</p>" and article.body == "<p>Body here.</p>"


def test_hostile_html_is_sanitized_and_article_kept():
    article, _ = only_article("hostile_html.md")
    assert article.lede == "<p>Hello <b>world</b>.</p>"
    assert article.body == '<p><a rel="noopener noreferrer">click</a> and <img src="https://x.example/i.png"></p>'


def test_unknown_keys_are_noted_with_suggestions():
    article, result = only_article("unknown_keys.md")
    assert article.title == "Unknown Keys Are Noted"
    assert article.topics == ()
    assert result.notes == ["unknown_keys.md: ignored unknown front-matter keys 'tags' (did you mean 'topics'?), "
                            "'colour'"]


def test_bad_image_is_dropped_with_a_note():
    article, result = only_article("bad_image.md")
    assert article.image is None and article.url == "https://example.com/a"
    assert result.notes == ["bad_image.md: 'Bad Image Is Dropped': dropped the image: image "
                            "'data:image/png;base64,AAAA' is not an absolute http(s) URL"]


def test_registered_reader_gives_the_same_article():
    ctx = ReadContext(origin="full_article.md", tz=UTC, undated=UNDATED, undated_label="the import time")
    result = READERS["markdown"]((DATA / "full_article.md").read_bytes(), ctx)
    assert result.articles == read("full_article.md").articles


# --- bad inputs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, reason", [
    ("missing_title.md", "has no title; add a line 'title: ...' to the front matter"),
    ("no_front_matter.md", "has no title; add a line 'title: ...' to the front matter"),
    ("unparseable_date.md", "date 'next Tuesday-ish' is not a date (use 2024-10-11"),
    ("javascript_url.md", "url 'javascript:alert(document.cookie)' is not an absolute http(s) URL"),
    ("relative_url.md", "url '/articles/42' is not an absolute http(s) URL"),
    ("topics_as_mapping.md", "topics must be a list or a comma-separated string"),
])
def test_unusable_article_is_rejected(name, reason):
    result = read(name)
    assert result.articles == []
    (rejection,) = result.rejected
    assert rejection.origin == name
    assert rejection.item == "front matter"
    assert reason in rejection.reason


def test_typo_in_title_key_rejects_and_names_the_key():
    result = read("typo_tittle.md")
    assert result.articles == []
    assert result.rejected[0].reason.startswith("has no title")
    assert result.notes == ["typo_tittle.md: ignored unknown front-matter key 'tittle' (did you mean 'title'?)"]


@pytest.mark.parametrize("name, message", [
    ("empty.md", "is empty"),
    ("binary.md", "is a binary file, not text"),
    ("latin1.md", "is not UTF-8 text (bad byte at offset 14)"),
    ("broken_yaml.md", "has broken YAML front matter at line 5: expected ',' or ']', but got ':' "
                       "(while parsing a flow sequence started at line 4)"),
    ("front_matter_is_a_list.md", "front matter is a YAML list, not a mapping of keys"),
    ("unclosed_front_matter.md", "front matter opened with '---' on line 1 that is never closed"),
])
def test_unusable_file_raises_source_error(name, message):
    with pytest.raises(SourceError) as caught:
        read(name)
    assert message in caught.value.message
    assert caught.value.where == name
    assert caught.value.hint


def raw(text: str):
    ctx = ReadContext(origin="draft.md", tz=UTC, undated=UNDATED, undated_label="the import time")
    return read_markdown(text.encode("utf-8"), ctx)


@pytest.mark.parametrize("value, draft", [("true", True), ("yes", True), ("false", False), ("no", False)])
def test_draft_flag_is_read_without_a_note(value, draft):
    result = raw(f"---\ntitle: Not yet\ndate: 2024-10-11\ndraft: {value}\n---\nText.\n")
    assert result.notes == [] and [a.draft for a in result.articles] == [draft]


def test_a_draft_flag_that_is_not_a_yes_or_no_rejects_the_article():
    result = raw("---\ntitle: Not yet\ndraft: maybe\n---\nText.\n")
    assert result.articles == [] and "draft must be true or false" in result.rejected[0].reason
