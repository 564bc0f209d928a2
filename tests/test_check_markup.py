"""The HTML checks: size, images, lang, preheader, layout tables, contrast, links. Each one tripped and not."""

from __future__ import annotations

import pytest

from newsletter.check import CLIP_ERROR, CLIP_WARNING, ERROR, STYLE_LIMIT, WARNING, check_html, check_message
from newsletter.check.contrast import contrast, parse_color

from tests.emails import CLEAN_BODY, found, message, page


def test_a_clean_email_has_no_findings():
    report = check_message(message())
    assert report.findings == [], [f.message for f in report.findings]
    assert report.summary() == "no findings"


def _padded(size: int) -> str:
    """The clean page grown to `size` bytes with ordinary paragraphs."""
    base = page()
    filler = '<p style="margin:0">' + "Words of an article. " * 40 + "</p>\n"
    count = max(0, (size - len(base.encode())) // len(filler.encode()) + 1)
    return page(CLEAN_BODY + filler * count)


def test_size_warns_near_gmails_clipping_point_and_errs_past_it():
    assert found(check_html(_padded(CLIP_WARNING - 2048)), "size") == []
    near = found(check_html(_padded(CLIP_WARNING + 1024)), "size")
    assert [f.severity for f in near] == [WARNING] and "close to Gmail's clipping point" in near[0].message
    past = found(check_html(_padded(CLIP_ERROR + 1024)), "size")
    assert [f.severity for f in past] == [ERROR]
    assert "Gmail clips" in past[0].message and "Gmail (iOS)" in past[0].clients


def test_a_style_element_over_16_kb_is_reported():
    rules = "".join(f".c{n} {{ color: #123456; }}\n" for n in range(STYLE_LIMIT // 20))
    report = check_html(page(head=f"<style>@media (max-width: 600px) {{ {rules} }}</style>\n"))
    style = [f for f in found(report, "size") if "<style>" in f.message]
    assert len(style) == 1 and style[0].clients == ("Gmail (web)",) and style[0].line == 6
    small = check_html(page(head="<style>@media (max-width: 600px) { .c { color: #123456; } }</style>\n"))
    assert found(small, "size") == []


def test_an_image_without_alt_is_an_error_and_an_empty_alt_is_fine():
    body = CLEAN_BODY.replace("</td>", '<img src="https://example.org/a.png" width="100"></td>')
    images = found(check_html(page(body)), "images")
    assert [f.severity for f in images] == [ERROR] and images[0].element == '<img src="https://example.org/a.png">'
    assert found(check_html(page(body.replace('width="100"', 'width="100" alt=""'))), "images") == []


def test_html_without_lang():
    assert [f.element for f in found(check_html(page(html_attrs="")), "lang")] == ["<html>"]
    assert found(check_html(page(html_attrs=' lang="ar" dir="rtl"')), "lang") == []


def test_a_missing_preheader_names_the_text_inboxes_would_show():
    body = CLEAN_BODY.split("</div>", 1)[1]  # without the hidden preview div
    missing = found(check_html(page(body)), "preheader")
    assert len(missing) == 1 and "\u201cThe Issue\u201d" in missing[0].message
    assert found(check_html(page()), "preheader") == []


def test_layout_tables_need_role_presentation_but_data_tables_do_not():
    bare = found(check_html(page(CLEAN_BODY.replace(' role="presentation"', ""))), "tables")
    assert [f.severity for f in bare] == [WARNING]
    data = CLEAN_BODY + "<table><tr><th>Year</th></tr><tr><td>2024</td></tr></table>"
    assert found(check_html(page(data)), "tables") == []


@pytest.mark.parametrize("color,background,ratio", [
    ("#000000", "#ffffff", 21.0), ("#ffffff", "#ffffff", 1.0), ("#8a8377", "#fffdf8", 3.69), ("#777", "#fff", 4.48),
])
def test_wcag_contrast_ratio(color, background, ratio):
    assert contrast(parse_color(color), parse_color(background)) == pytest.approx(ratio, abs=0.01)


def test_colors_parse_in_every_css_form():
    assert parse_color("#abc") == (170, 187, 204)
    assert parse_color("rgb(10, 20, 30)") == (10, 20, 30)
    assert parse_color("rgba(10, 20, 30, 0.5)") == (10, 20, 30, 0.5)
    assert parse_color("navy") == (0, 0, 128)
    assert parse_color("inherit") is None and parse_color("#12") is None


def test_low_contrast_text_is_found_against_the_background_it_sits_on():
    body = ('<div style="display:none">Preview</div><table role="presentation"><tr>'
            '<td style="background-color:#fffdf8"><p style="font-size:11px;color:#8a8377">Oct. 11 2024</p>'
            '<p style="font-size:11px;color:#5f5a50">Fine</p>'
            '<h1 style="font-size:30px;color:#8a8377">Large text needs only 3:1</h1></td></tr></table>')
    low = found(check_html(page(body)), "contrast")
    assert len(low) == 1 and low[0].element == "<p>" and "3.69:1" in low[0].message and "4.5:1" in low[0].message


def test_contrast_follows_inherited_colors_links_and_hidden_text():
    body = ('<div style="display:none;color:#fefefe">hidden preview, never seen</div>'
            '<table role="presentation" style="background-color:#222222"><tr><td style="color:#eeeeee">'
            'Light on dark <span>inherits</span> <a href="https://example.org">a link keeps the browser blue</a>'
            "</td></tr></table>")
    low = found(check_html(page(body)), "contrast")
    assert len(low) == 1 and "#0000ee on #222222" in low[0].message


@pytest.mark.parametrize("href,severity,words", [
    ("", ERROR, "an empty link"), ("#", ERROR, "an empty link"), ("javascript:alert(1)", ERROR, "javascript:"),
    ("java\tscript:alert(1)", ERROR, "javascript:"), ("/articles/one", ERROR, "relative link"),
    ("https:///nohost", ERROR, "relative link"), ("#top", WARNING, "in-page"), ("ftp://example.org/f", WARNING, "not http"),
])
def test_bad_links(href, severity, words):
    body = CLEAN_BODY.replace('href="https://example.org/articles/one"', f'href="{href}"')
    links = [f for f in found(check_html(page(body)), "links") if words in f.message]
    assert [f.severity for f in links] == [severity]


def test_good_links_and_an_image_link_beside_its_text_link():
    body = CLEAN_BODY.replace("</td>", '<a href="https://example.org/articles/one"><img src="https://example.org/a.jpg" '
                                       'alt="" width="100"></a></td>')
    assert found(check_html(page(body)), "links") == []
    alone = CLEAN_BODY.replace("</td>", '<a href="https://example.org/elsewhere"><img src="https://example.org/a.jpg" '
                                        'alt="" width="100"></a></td>')
    nameless = found(check_html(page(alone)), "links")
    assert len(nameless) == 1 and "no text or alt text" in nameless[0].message
