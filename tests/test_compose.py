"""The compose stage: golden HTML/text/.eml of a fixed digest, and what every email must hold."""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter import compose
from newsletter.config import parse_config
from newsletter.errors import ComposeError
from newsletter.model import Article, Issue

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("NEWSLETTER_UPDATE_GOLDEN") == "1"
NEW_YORK = ZoneInfo("America/New_York")

NEWSLETTER = {
    "title": "Editors' Picks",
    "from": "Editors’ Picks <editors@example.org>",
    "reply_to": "letters@example.org",
    "site_url": "https://example.org",
    "topic_url": "https://example.org/topics/{slug}",
    "unsubscribe_url": "https://example.org/unsubscribe?token={token}",
    "unsubscribe_mailto": "unsubscribe@example.org",
    "address": "Example Media, 1 Main Street, Springfield, IL 62701",
    "timezone": "America/New_York",
}


def make_config(tmp_path: Path, digest: dict | None = None, **newsletter):
    values = {k: v for k, v in {**NEWSLETTER, **newsletter}.items() if v is not None}
    raw = {"newsletter": values, "digests": {"daily": {"subject": "{{ title }}: {{ top }}", **(digest or {})}}}
    return parse_config(raw, tmp_path / "newsletter.toml")


RUSSIA = Article(
    id="sha1:russia",
    title="The Long History of Cooperation between Iran and Russia",
    # 03:30 UTC on the 11th is still the 10th in New York, the digest's zone.
    published=datetime(2024, 10, 11, 3, 30, tzinfo=timezone.utc),
    source="Middle East Quarterly",
    topics=("Afghanistan", "Iran", "PLO", "Russia"),
    lede="<p>In the Syrian civil war, Iranian and Russian forces have fought side by side to keep Bashar "
         "al-Assad in power. But cooperation between Moscow and Tehran goes back much further, explains "
         "Oved Lobel:</p>",
    body="<blockquote><p>[T]he Islamist regime has maintained a deep warmth for Russia, especially after 1988. "
         "The Soviet leader Mikhail Gorbachev was the only foreign leader ever to receive a personal letter "
         "from Ayatollah Ruhollah Khomeini (in 1989) urging him to consider Islam an alternative. . . .</p>"
         "<p>The most extreme example of this is Afghanistan, where Khomeini and Moscow came to an "
         "arrangement whereby Tehran could replicate its Islamic theocracy in Hazarajat.</p></blockquote>"
         "<p>Since Vladimir Putin took the helm at the Kremlin, the relationship between the two has only "
         "grown stronger:</p>"
         "<blockquote><p>The clearest demonstration of the Russo-Iranian alliance was their joint "
         "intervention in Syria to preserve Bashar al-Assad’s regime, but their anti-U.S. alliance spans "
         "the globe.</p></blockquote>",
    author="Oved Lobel",
)
SPY = Article(
    id="https://www.nysun.com/article/iran-gives-in-to-spy-mania-as-rumors-swirl-about-quds-force-chief",
    title="Iran Gives in to Spy Mania",
    published=datetime(2024, 10, 11, 14, 0, tzinfo=timezone.utc),
    url="https://www.nysun.com/article/iran-gives-in-to-spy-mania-as-rumors-swirl-about-quds-force-chief",
    source="New York Sun",
    topics=("Gaza War 2023", "Iran", "Israeli Security"),
    lede="<p>This week, there have been numerous unconfirmed reports about the fate of Esmail Qaani, who is "
         "the head of the Quds Force, the expeditionary arm of Iran’s Revolutionary Guards. Benny Avni "
         "writes:</p>",
    body="<blockquote><p>On Thursday, Sky News Arabic reported that Mr. Qaani was rushed to a hospital after "
         "suffering a heart attack. He became [the Quds Force] commander in 2020.</p>"
         "<p>“I find it hard to believe that Qaani was compromised,” an Iran watcher at Tel Aviv "
         "University’s Institute for National Security Studies, Beni Sabti, tells the <em>Sun</em>.</p>"
         "</blockquote><p>If so, prominent Iranians seem to be exacerbating the internal turmoil.</p>",
    author="Benny Avni",
    image="https://example.org/images/qaani.jpg",
)
# What the readers' sanitizer (nh3) leaves of hostile input: text that looks like markup,
# an escaped ampersand in a URL, an image without alt, a list and a line break.
HOSTILE = Article(
    id="https://example.com/hostile",
    title='<script>alert("x")</script> & “Friends”',
    published=datetime(2024, 10, 11, 16, 0, tzinfo=timezone.utc),
    url="https://example.com/hostile?a=1&b=2",
    lede='<p>Tom &amp; Jerry say &lt;b&gt;hi&lt;/b&gt; <a href="https://example.com/x?a=1&amp;b=2" '
         'rel="noopener noreferrer">in a link</a> and <a href="https://example.com/same" '
         'rel="noopener noreferrer">https://example.com/same</a>.</p>',
    body='<p><img src="https://example.com/pic.png">Three things:</p><ul><li>one</li><li>two</li></ul>'
         "<p>A line<br>broken here.</p>",
)
PLAIN = Article(
    id="sha1:plain",
    title="A Note Without a Link",
    published=datetime(2024, 10, 11, 12, 0, tzinfo=timezone.utc),
    topics=("Israeli Security",),
    lede="<p>Sometimes the editors simply want to say something.</p>",
)
ARTICLES = (RUSSIA, SPY, HOSTILE, PLAIN)
TOKEN = "7.daily.AbC/+x"


def make_issue(articles=ARTICLES) -> Issue:
    return Issue(digest="daily", key="2024-10-11", issue_date=date(2024, 10, 11), articles=tuple(articles))


def render(config, articles=ARTICLES):
    return compose.render(make_issue(articles), config.digest("daily"), config)


def message_bytes(config, rendered, **kwargs) -> bytes:
    kwargs.setdefault("to", "Reader <reader@example.net>")
    kwargs.setdefault("token", TOKEN)
    kwargs.setdefault("message_id", "<golden.1@example.org>")
    kwargs.setdefault("date", datetime(2024, 10, 11, 7, 0, tzinfo=NEW_YORK))
    return bytes(compose.build_message(rendered, config, config.digest("daily"), **kwargs))


def mask(eml: bytes) -> str:
    """The stable form of a message: CRLF as LF, Message-ID, Date and MIME boundary masked."""
    text = eml.decode("ascii").replace("\r\n", "\n")
    text = re.sub(r"(?m)^Message-ID: .*$", "Message-ID: <MASKED>", text)
    text = re.sub(r"(?m)^Date: .*$", "Date: MASKED", text)
    return re.sub(r"={15}\d+==", "===============BOUNDARY==", text)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    assert path.exists(), f"missing {path}: run with NEWSLETTER_UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs; rerun with NEWSLETTER_UPDATE_GOLDEN=1 " \
                                                       "if the change is intended, and review the diff"


def test_golden_digest(tmp_path):
    config = make_config(tmp_path)
    rendered = render(config)
    check_golden("digest.html", rendered.html)
    check_golden("digest.txt", rendered.text)
    check_golden("digest.eml", mask(message_bytes(config, rendered)))


def test_subject_preheader_and_dates_in_the_digest_zone(tmp_path):
    rendered = render(make_config(tmp_path))
    assert rendered.subject == "Editors' Picks: The Long History of Cooperation between Iran and Russia"
    # Several items: the preheader names them all, not only the first the subject already names.
    assert rendered.preheader.startswith("4 picks: The Long History of Cooperation between Iran and Russia · Iran")
    assert rendered.preheader.endswith("…") and len(rendered.preheader) <= 111
    assert "Oct. 10 2024" in rendered.html and "October 10, 2024" in rendered.text  # New York, not UTC
    assert "Friday, October 11, 2024" in rendered.html


def test_html_escapes_titles_and_keeps_sanitized_markup(tmp_path):
    html = render(make_config(tmp_path)).html
    assert "<script>" not in html
    assert "&lt;script&gt;alert" in html
    assert "&lt;b&gt;hi&lt;/b&gt;" in html  # escaped text in the article stays text
    assert "<em>Sun</em>" in html  # sanitized article markup is kept as markup


def test_every_img_has_alt_and_the_item_image_is_linked_and_fluid(tmp_path):
    from lxml import html as lxml_html

    doc = lxml_html.fromstring(render(make_config(tmp_path)).html)
    images = doc.xpath("//img")
    assert len(images) == 2
    assert all(img.get("alt") is not None for img in images)
    item_image = doc.xpath("//img[@src='https://example.org/images/qaani.jpg']")[0]
    # The headline beside it names the article: an empty alt keeps screen readers from reading it twice.
    assert item_image.get("alt") == ""
    assert item_image.getparent().tag == "a" and item_image.getparent().get("href") == SPY.url
    style = item_image.get("style").replace(" ", "")
    assert item_image.get("width") == "536" and "width:100%" in style and "max-width:536px" in style


@pytest.mark.parametrize("language", ["en", "fr"])
def test_html_has_lang_charset_viewport_and_table_layout(tmp_path, language):
    html = render(make_config(tmp_path, language=language)).html
    assert html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}"' in html
    assert '<meta charset="utf-8">' in html and 'name="viewport"' in html
    assert 'role="presentation"' in html and 'width="600"' in html
    assert "@media (max-width: 620px)" in html and "@media (prefers-color-scheme: dark)" in html
    for banned in ("display:flex", "display: flex", "display:grid", "position:", "@import", "<link"):
        assert banned not in html


def test_preheader_is_first_in_body_and_hidden(tmp_path):
    from lxml import html as lxml_html

    rendered = render(make_config(tmp_path))
    body = lxml_html.fromstring(rendered.html).body
    assert not (body.text or "").strip()
    first = body[0]
    style = first.get("style").replace(" ", "")
    for rule in ("display:none", "max-height:0", "overflow:hidden"):
        assert rule in style
    # Never hidden by color or a tiny font: SpamAssassin scores text made invisible that way.
    assert "color" not in style and "font-size" not in style and "opacity" not in style
    assert first.text_content().startswith(rendered.preheader)
    assert "\u034f" in first.text_content()  # padding keeps the body text out of the preview


def test_preheader_from_config_then_lede_then_headlines(tmp_path):
    config = make_config(tmp_path, {"preheader": "{{ count }} picks, led by {{ top }}; also {{ titles[1:]|join(', ') }}"})
    assert render(config, [RUSSIA, SPY, PLAIN]).preheader == \
        "3 picks, led by The Long History of Cooperation between Iran and Russia; also Iran Gives in to Spy Mania, " \
        "A Note Without a Link"
    short = Article(id="x", title="Short", published=SPY.published, lede="<p>Just  a\n<b>short</b> lede.</p>")
    assert render(make_config(tmp_path), [short]).preheader == "Just a short lede."
    assert render(make_config(tmp_path), [short, SPY]).preheader == "2 picks: Short · Iran Gives in to Spy Mania"
    no_lede = [Article(id="1", title="Headline 1", published=SPY.published)]
    assert render(make_config(tmp_path), no_lede).preheader == "Headline 1"


def test_topic_links_use_topic_url_and_are_plain_without_it(tmp_path):
    html = render(make_config(tmp_path)).html
    assert 'href="https://example.org/topics/gaza-war-2023"' in html
    assert 'href="https://example.org/topics/israeli-security"' in html
    bare = render(make_config(tmp_path, topic_url=None)).html
    assert "/topics/" not in bare
    assert re.search(r"More about:</span>\s*Afghanistan, Iran, PLO, Russia</p>", bare.replace("\xa0", " "))


def test_read_more_is_a_link_with_a_url_and_plain_text_without(tmp_path):
    html = render(make_config(tmp_path)).html
    # Without a URL it is the source's name in plain text, not something styled like a link.
    assert re.search(r'<p class="source"[^>]*>Read more at Middle East Quarterly</p>', html)
    assert re.search(r'<a href="https://www.nysun.com/article/[^"]+"[^>]*>Read more at New York Sun', html)
    assert re.search(r'<a href="https://example.com/hostile\?a=1&amp;b=2"[^>]*>Read more\xa0', html)
    assert html.count('class="read-more"') == 2 and html.count('class="source"') == 1  # PLAIN: neither


def test_footer_says_why_where_and_how_to_leave(tmp_path):
    rendered = render(make_config(tmp_path))
    assert "You receive Editors' Picks because you subscribed at" in rendered.html
    assert "Example Media, 1 Main Street" in rendered.html
    assert f'href="https://example.org/unsubscribe?token={compose.TOKEN_MARK}"' in rendered.html
    bare = render(make_config(tmp_path, unsubscribe_url=None, unsubscribe_mailto=None, address=None)).html
    assert "Unsubscribe" not in bare and "Example Media" not in bare


def test_personalize_fills_every_marker(tmp_path):
    rendered = render(make_config(tmp_path))
    assert compose.TOKEN_MARK in rendered.html and compose.TOKEN_MARK in rendered.text
    filled = compose.personalize(rendered, TOKEN)
    assert compose.TOKEN_MARK not in filled.html + filled.text
    assert "token=7.daily.AbC%2F%2Bx" in filled.html and "token=7.daily.AbC%2F%2Bx" in filled.text
    assert filled.subject == rendered.subject and filled.preheader == rendered.preheader


def test_thirty_items_stay_under_gmail_clipping(tmp_path):
    articles = [Article(id=f"a{n}", title=f"{SPY.title} ({n})", published=SPY.published, url=f"{SPY.url}-{n}",
                        source=SPY.source, topics=SPY.topics, lede=SPY.lede, body=SPY.body, image=SPY.image)
                for n in range(30)]
    html = render(make_config(tmp_path), articles).html
    assert html.count('class="headline"') == 30
    assert len(html.encode("utf-8")) < 100_000


def test_an_empty_issue_still_renders(tmp_path):
    rendered = render(make_config(tmp_path), [])
    assert "Nothing was picked" in rendered.html and "Nothing was picked" in rendered.text
    assert rendered.subject == "Editors' Picks:"


def test_subject_with_a_line_break_is_refused(tmp_path):
    config = make_config(tmp_path, {"subject": '{{ title }}{{ "\\r\\n" }}Bcc: victim@example.com'})
    with pytest.raises(ComposeError) as info:
        render(config)
    assert "more than one line" in str(info.value) and "digests.daily.subject" in str(info.value)


def test_broken_subject_template_names_the_config_key(tmp_path):
    with pytest.raises(ComposeError, match=r"digests\.daily\.subject"):
        render(make_config(tmp_path, {"subject": "{{ nope }}"}))
    with pytest.raises(ComposeError, match="renders empty"):
        render(make_config(tmp_path, {"subject": "{{ '' }}"}))


def test_load_theme_autoescapes_and_is_cached(tmp_path):
    config = make_config(tmp_path)
    env = compose.load_theme(config)
    assert env is compose.load_theme(config)
    assert env.autoescape is True
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
