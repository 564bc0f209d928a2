"""Client support from the caniemail data: what is reported, for which clients, and what is not."""

from __future__ import annotations

from newsletter.check import ERROR, WARNING, check_html

from tests.emails import CLEAN_BODY, found, page


def support(body: str = CLEAN_BODY, head: str = "") -> dict:
    """The support findings of a page, by the feature's title (the message up to its first colon)."""
    return {f.message.split(":", 1)[0] if not f.message.startswith("display:") else "display:" +
            f.message.split(":", 2)[1]: f for f in found(check_html(page(body, head)), "support")}


def cell(inner: str) -> str:
    return CLEAN_BODY.replace("</td>", inner + "</td>")


def test_a_flex_layout_is_an_error_naming_each_client_and_caniemails_note():
    findings = support(cell('<div style="display:flex"><div>one</div><div>two</div></div>'))
    flex = findings["display:flex"]
    assert flex.severity == ERROR and flex.element == "<div>" and flex.line == 8
    assert "not supported in Outlook (Windows)" in flex.message
    assert "partly supported in Gmail (Android), Gmail (iOS) (Not supported with non Google accounts.)" in flex.message
    assert flex.clients == ("Gmail (Android)", "Gmail (iOS)", "Outlook (Windows)")
    assert "tables" in flex.fix and "https://www.caniemail.com/features/css-display-flex/" in flex.fix
    assert support() == {}


def test_a_partial_support_note_counts_only_when_its_condition_holds():
    # Outlook pads table cells only; the td of the clean page is fine, a div is not.
    padded = support(cell('<div style="padding:8px">boxed</div>'))["padding"]
    assert padded.severity == WARNING and padded.clients == ("Outlook (Windows)",)
    assert "Only supported on table cells" in padded.message
    # margin: negative values and `auto` are what Outlook and Gmail do not take.
    assert "margin" not in support(cell('<p style="margin:0 0 8px 0">x</p>'))
    assert "Negative values" in support(cell('<p style="margin:-4px 0 0 0">x</p>'))["margin"].message
    assert "Outlook (Windows)" in support(cell('<table role="presentation" style="margin:0 auto"><tr><td>x</td>'
                                               '</tr></table>'))["margin"].clients


def test_line_height_needs_the_outlook_rule_beside_it_or_in_an_outlook_only_style():
    assert "line-height" in support(cell('<p style="line-height:20px">x</p>'))
    assert support(cell('<p style="line-height:20px;mso-line-height-rule:exactly">x</p>')) == {}
    outlook = "<!--[if mso]><style>p, td { mso-line-height-rule: exactly; }</style><![endif]-->\n"
    assert support(cell('<p style="line-height:20px">x</p>'), outlook) == {}
    # For the elements it selects only, and only inside a comment that Outlook alone reads.
    assert "line-height" in support(cell('<div style="line-height:20px">x</div>'), outlook)
    assert "line-height" in support(cell('<p style="line-height:20px">x</p>'), outlook.replace("[if mso]", "[if IE]"))


def test_many_places_make_one_finding_that_counts_them():
    span = support(cell("".join(f'<span style="margin:{n}px">x</span>' for n in range(1, 4))))["margin"]
    assert span.count == 3 and "[3 places]" in span.message and span.element == "<span>"


def test_rules_inside_media_queries_count_only_for_the_clients_that_apply_them():
    # Outlook (Windows) applies no @media: its rules cannot harm it. Gmail applies max-width queries.
    head = "<style>@media (max-width: 600px) { .box { position: absolute !important; } }</style>\n"
    found_ = support(cell('<div class="box">x</div>'), head)["position"]
    assert "Gmail (web)" in found_.clients and "Outlook (Windows)" not in found_.clients
    # Dark mode is applied by Apple Mail and Outlook.com only, both of which show background images.
    dark = "<style>@media (prefers-color-scheme: dark) { .box { background-image: url(https://e.org/a.png); } }</style>\n"
    assert support(cell('<div class="box">x</div>'), dark) == {}
    inline = support(cell('<div style="background-image:url(https://e.org/a.png)">x</div>'))
    assert inline["background-image"].clients == ("Outlook (Windows)",)


def test_what_a_hidden_element_holds_is_not_judged():
    hidden = '<div style="display:none;max-height:0;overflow:hidden;opacity:0">preview</div>'
    assert support(hidden + CLEAN_BODY.split("</div>", 1)[1]) == {}
    shown = support(cell('<div style="max-height:40px">x</div>'))
    assert shown["max-height property"].clients == ("Outlook (Windows)",)


def test_a_style_element_is_reported_only_when_the_email_relies_on_it():
    # Only @media in the <style>: clients without <style> lose enhancements, not the email.
    assert support(head="<style>@media (max-width: 600px) { td { padding: 8px !important; } }</style>\n") == {}
    relied = support(head="<style>p { color: #333333; }</style>\n")["<style> element"]
    assert "Not supported with non Google accounts" in relied.message
    assert relied.clients == ("Gmail (Android)", "Gmail (iOS)")


def test_an_html_size_attribute_covers_css_sizes_a_client_ignores():
    fluid = '<img src="https://example.org/a.jpg" alt="" width="536" style="width:100%;max-width:536px">'
    assert support(cell(fluid)) == {}
    bare = support(cell('<img src="https://example.org/a.jpg" alt="" style="width:100%;max-width:536px">'))
    assert bare["width property"].clients == ("Outlook (Windows)",) and "max-width" in bare


def test_elements_attributes_and_image_formats():
    findings = support(cell('<video src="https://example.org/v.mp4"></video><img src="https://example.org/a.webp" '
                            'alt="" width="10"><table role="presentation"><tr><td lang="fr">x</td></tr></table>'))
    assert "Gmail (web)" in findings["<video> element"].clients
    assert "Outlook (Windows)" in findings["webP image format"].clients
    assert findings["lang attribute"].clients == ("Yahoo Mail (web)",)  # on a <td>; on <html> or a <div> it is fine
    assert support(cell('<img src="https://example.org/a.JPG?v=2" alt="" width="10"><div lang="fr">x</div>')) == {}


def test_at_rules():
    head = "<style>@import url(https://example.org/a.css);\n@font-face { font-family: X; src: url(x.woff); }</style>\n"
    findings = support(head=head)
    assert findings["@import"].severity == ERROR and "Gmail (web)" in findings["@import"].clients
    assert findings["@font-face"].severity == WARNING


def test_hints_are_not_reported():
    head = '<meta name="color-scheme" content="light dark">\n'
    assert support(head=head) == {}  # the doctype and the color-scheme meta: nothing breaks without them


def test_css_parsing_keeps_separators_inside_quotes_and_parentheses():
    from newsletter.check.css import declarations, media_features, sheet

    decls = declarations('font-family: "A;B", serif; background: url(a;b.png) !IMPORTANT; color:red;;')
    assert [(d.property, d.value, d.important) for d in decls] == [
        ("font-family", '"A;B", serif', False), ("background", "url(a;b.png)", True), ("color", "red", False)]
    assert decls[1].raw == "background: url(a;b.png) !IMPORTANT"  # as written: Gmail wants it lower case
    rules = sheet('/* a } comment */ p { color: red } @media (max-width: 600px) and (prefers-color-scheme: dark) '
                  '{ .a { content: "}" } } @import url(x.css); @font-face { font-family: X }')
    assert [(r.selector, r.at_name) for r in rules] == [("p", ""), (None, "media"), (None, "import"), (None, "font-face")]
    assert rules[1].rules[0].declarations[0].value == '"}"'
    assert media_features(rules[1].at) == ["max-width", "prefers-color-scheme"]
