"""The plain-text digest reader: the sample, separators, quotations, and bad inputs."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter.errors import SourceError
from newsletter.sources import READERS, ReadContext
from newsletter.sources.common import article_id
from newsletter.sources.digest import read_digest

DATA = Path(__file__).parent / "data" / "digest"
UTC = ZoneInfo("UTC")
UNDATED = datetime(2024, 10, 12, 7, 0, tzinfo=UTC)


def ctx_for(name: str, tz: ZoneInfo = UTC) -> ReadContext:
    return ReadContext(origin=name, tz=tz, undated=UNDATED, undated_label="--date 2024-10-12")


def read(name: str, tz: ZoneInfo = UTC):
    return read_digest((DATA / name).read_bytes(), ctx_for(name, tz))


LEDE_1 = ("<p>In the Syrian civil war, Iranian and Russian forces have fought side by side to keep Bashar "
          "al-Assad in power. But cooperation between Moscow and Tehran goes back much further, explains "
          "Oved Lobel:</p>")


def test_sample_imports_two_articles_field_by_field():
    result = read("sample_two_items.txt")
    assert result.rejected == []
    assert len(result.articles) == 2
    first, second = result.articles

    assert first.title == "The Long History of Cooperation between Iran and Russia"
    assert first.published == UNDATED
    assert first.source == "Middle East Quarterly"
    assert first.url is None
    assert first.author is None and first.image is None
    assert first.topics == ("Afghanistan", "Iran", "PLO", "Russia")
    assert first.id == article_id(None, None, "Middle East Quarterly", first.title, "")
    assert first.lede == LEDE_1
    body = first.body.split("\n")
    assert body[0] == "<blockquote>"
    assert body[1].startswith("<p>[T]he Islamist regime has maintained a deep warmth for Russia")
    assert "Communism. . . . While" in body[1]
    assert body[2].startswith("<p>The most extreme example of this is Afghanistan")
    assert body[3] == "</blockquote>"
    assert body[4] == ("<p>Since Vladimir Putin took the helm at the Kremlin, the relationship between the two "
                       "has only grown stronger:</p>")
    assert body[5] == "<blockquote>"
    assert body[6].startswith("<p>The clearest demonstration of the Russo-Iranian alliance")
    assert body[7] == "</blockquote>"
    assert len(body) == 8

    assert second.title == "Iran Gives in to Spy Mania"
    assert second.published == datetime(2024, 10, 11, 12, 0, tzinfo=UTC)
    assert second.source == "New York Sun"
    assert second.url is None
    assert second.topics == ("Gaza War 2023", "Iran", "Israeli Security")
    assert second.id == article_id(None, None, "New York Sun", second.title, "Oct. 11 2024")
    assert second.lede.startswith("<p>This week, there have been numerous unconfirmed reports")
    assert second.lede.endswith("Benny Avni writes:</p>")
    # Without a second ":" paragraph, everything after "writes:" is the quotation.
    assert second.body.startswith("<blockquote>\n<p>On Thursday, Sky News Arabic reported")
    assert second.body.count("<p>") == 4 and second.body.count("<blockquote>") == 1
    assert second.body.endswith("has been infiltrated.</p>\n</blockquote>")

    assert result.undated == {first.id}
    assert result.notes == ["sample_two_items.txt: item 1 'The Long History of Cooperation between Iran and "
                            "Russia' has no date; dated 2024-10-12 (--date 2024-10-12)"]


def test_sample_reads_the_same_rewrapped_at_72_columns():
    original = (DATA / "sample_two_items.txt").read_text("utf-8")
    # The composer's text part must wrap like this: no breaks at hyphens, no split words or URLs,
    # since a line break reads back as a space.
    wrapped = "\n\n".join(textwrap.fill(p, 72, break_on_hyphens=False, break_long_words=False)
                          for p in original.split("\n\n"))
    assert max(len(line) for line in wrapped.splitlines()) <= 72
    assert wrapped.count("\n") > original.count("\n") + 10
    again = read_digest(wrapped.replace("\n", "\r\n").encode("utf-8"), ctx_for("sample_two_items.txt"))
    assert again.articles == read("sample_two_items.txt").articles
    assert again.undated == read("sample_two_items.txt").undated


def test_date_is_noon_in_the_newsletters_zone():
    tz = ZoneInfo("America/New_York")
    second = read("sample_two_items.txt", tz).articles[1]
    assert second.published == datetime(2024, 10, 11, 12, 0, tzinfo=tz)
    assert second.published.astimezone(UTC) == datetime(2024, 10, 11, 16, 0, tzinfo=UTC)


def test_reader_is_registered_by_name():
    data = (DATA / "sample_two_items.txt").read_bytes()
    assert READERS["digest"](data, ctx_for("x.txt")).articles == read("sample_two_items.txt").articles


def test_separators_masthead_footer_urls_and_indented_quotes():
    result = read("separators_masthead_footer.txt")
    assert result.rejected == []
    assert [a.title for a in result.articles] == [
        "Iranian Drones over the Caucasus", "Hizballah's Tunnels, Mapped", "A Letter from Tehran",
        "An Item Without Topics"]
    drones, tunnels, letter, untagged = result.articles

    assert drones.published == datetime(2024, 10, 10, 12, 0, tzinfo=UTC)
    assert drones.source == "Caucasus Watch"
    assert drones.url == "https://caucasus.example.org/drones?utm_source=picks"
    assert drones.id == "https://caucasus.example.org/drones"
    assert drones.topics == ("Iran", "Azerbaijan")
    assert drones.lede == "<p>A short note on a long report.</p>" and drones.body == ""

    # URL on the next line of the Read more paragraph; indentation decides what is quoted.
    assert tunnels.source == "The Long War Journal"
    assert tunnels.url == "https://www.longwarjournal.example/tunnels"
    assert tunnels.published == datetime(2024, 10, 9, 12, 0, tzinfo=UTC)
    assert tunnels.lede == "<p>The editor's view, in plain words &lt;not markup&gt; &amp; more.</p>"
    assert tunnels.body == (
        "<blockquote>\n<p>The tunnels run for miles under the border, says the survey.</p>\n"
        "<p>A second quoted paragraph ending with a colon:</p>\n</blockquote>\n"
        "<p>This editor's line ends with a colon too:</p>\n"
        "<blockquote>\n<p>And one more quotation.</p>\n</blockquote>")

    # URL as the next paragraph; the segment end closes an item that has no topics line.
    assert letter.source == "Tehran Letters" and letter.url == "https://letters.example.net/tehran"
    assert letter.topics == ()
    assert letter.published == datetime(2024, 10, 11, 12, 0, tzinfo=UTC)
    assert letter.lede == "<p>Our correspondent writes from the capital:</p>"
    assert letter.body == "<blockquote>\n<p>The bazaar is quiet this week.</p>\n</blockquote>"

    assert untagged.source is None and untagged.url == "https://untagged.example.com/post"
    assert untagged.topics == () and untagged.published == datetime(2024, 10, 8, 12, 0, tzinfo=UTC)

    assert result.undated == set()
    # The 6-line masthead is reported; the 2-line footer is skipped quietly.
    assert result.notes == ["separators_masthead_footer.txt: skipped 6 lines from line 1 (no 'Read more' or "
                            "'More about:' line: taken as masthead or footer)"]


# --- bad inputs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, message", [
    ("empty.txt", "is empty"),
    ("binary_nul.txt", "is a binary file, not text"),
    ("latin1_not_utf8.txt", "is not UTF-8 text (bad byte at offset 3)"),
    ("no_items.txt", "holds no digest items (an item ends with a 'More about:' line)"),
])
def test_unusable_input_raises_source_error(name, message):
    with pytest.raises(SourceError) as caught:
        read(name)
    assert message in caught.value.message
    assert caught.value.where == name
    assert str(caught.value).startswith(f"{name}: ")


def test_whitespace_only_file_is_empty():
    with pytest.raises(SourceError, match="is empty"):
        read_digest(b" \n\t\n\r\n", ctx_for("blank.txt"))


def test_multiline_title_rejects_that_item_only():
    result = read("multiline_title.txt")
    assert [a.title for a in result.articles] == ["First Good Item", "Third Good Item"]
    assert [a.topics for a in result.articles] == [("Alpha",), ("Gamma",)]
    assert len(result.rejected) == 1
    rejection = result.rejected[0]
    assert rejection.origin == "multiline_title.txt"
    assert rejection.item == "item 2 'A Title That Was'"
    assert "title must be one line (lines 11-12)" in rejection.reason


def test_unparseable_date_line_is_text_and_item_is_undated():
    result = read("unparseable_date.txt")
    (article,) = result.articles
    assert article.published == UNDATED
    assert article.lede == "<p>Oct. 32 2024</p>\n<p>The real text.</p>"
    assert article.id == article_id(None, None, "Source", "An Item with a Bad Date", "")
    assert result.undated == {article.id}
    assert "item 1 'An Item with a Bad Date' has no date" in result.notes[0]


def test_trailing_item_without_topics_is_rejected_without_separators():
    result = read("trailing_item_without_topics.txt")
    assert [a.title for a in result.articles] == ["Kept Item"]
    (rejection,) = result.rejected
    assert rejection.item == "item 2 'Cut-off Item'"
    assert rejection.reason.startswith("has no 'More about:' line")


def test_text_after_read_more_rejects_the_merged_item():
    result = read("text_after_read_more.txt")
    assert [a.title for a in result.articles] == ["Good Item"]
    assert result.articles[0].source == "Source Three"
    (rejection,) = result.rejected
    assert rejection.item == "item 1 'Item Missing Its Topics'"
    assert "has text after its 'Read more' line (line 9)" in rejection.reason


def test_bad_urls_and_missing_title_are_rejected_good_item_kept():
    result = read("bad_urls.txt")
    (good,) = result.articles
    assert good.title == "Good Link" and good.source == "Good Source"
    assert good.url == "https://good.example.com/a"
    assert [(r.item, r.reason) for r in result.rejected] == [
        ("item 1 'Script Link'", "url 'javascript:alert(1)' is not an absolute http(s) URL"),
        ("item 2 'Relative Link'", "url '/articles/42' is not an absolute http(s) URL"),
        ("item 4 'More about: Orphan'", "has no title line before its 'More about:' line (line 25)"),
    ]


def test_read_more_at_with_trailing_colon_and_angle_bracket_url():
    text = b"Title\n\nText.\n\nRead more at The Source: <https://src.example/a>\n\nMore about: X\n"
    (article,) = read_digest(text, ctx_for("inline.txt")).articles
    assert article.source == "The Source"
    assert article.url == "https://src.example/a"
