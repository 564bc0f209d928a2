"""The message checks: text part, "Read more" URLs in it, headers, line lengths. Each one tripped and not."""

from __future__ import annotations

import pytest

from newsletter.check import ERROR, WARNING, check_file, check_message
from newsletter.errors import CheckError

from tests.emails import URL, found, message, page


def test_a_message_without_a_text_part_or_with_an_empty_one():
    assert [f.severity for f in found(check_message(message(text=None)), "text-part")] == [ERROR]
    assert "empty" in found(check_message(message(text="  \n")), "text-part")[0].message
    assert found(check_message(message()), "text-part") == []


def test_the_text_part_must_carry_each_read_more_url():
    missing = found(check_message(message(text="An article worth reading.\n")), "read-more")
    assert [f.severity for f in missing] == [WARNING] and URL in missing[0].message
    # A link marked by the theme's class counts too, whatever its words.
    marked = page().replace("</td>", '<p class="read-more"><a href="https://example.org/two">Continue</a></p></td>')
    assert URL not in (two := found(check_message(message(marked)), "read-more")[0].message) and "/two" in two
    assert found(check_message(message()), "read-more") == []


@pytest.mark.parametrize("name", ["From", "Date", "Message-ID"])
def test_required_headers(name):
    missing = found(check_message(message(drop=(name,))), "headers")
    assert [(f.severity, f.element) for f in missing if name in f.message] == [(ERROR, name)]


def test_the_subject_empty_or_too_long():
    assert [f.severity for f in found(check_message(message(headers={"Subject": " "})), "headers")] == [ERROR]
    long = found(check_message(message(headers={"Subject": "A subject " * 8})), "headers")
    assert [f.severity for f in long] == [WARNING] and "79 characters" in long[0].message  # folded white space
    assert found(check_message(message(headers={"Subject": "x" * 78})), "headers") == []


def test_list_unsubscribe_and_one_click():
    none = found(check_message(message(drop=("List-Unsubscribe", "List-Unsubscribe-Post"))), "headers")
    assert [f.element for f in none] == ["List-Unsubscribe"]
    no_post = found(check_message(message(drop=("List-Unsubscribe-Post",))), "headers")
    assert [f.element for f in no_post] == ["List-Unsubscribe-Post"]
    mailto_only = {"List-Unsubscribe": "<mailto:unsubscribe@example.org>"}
    assert found(check_message(message(headers=mailto_only, drop=("List-Unsubscribe-Post",))), "headers") == []
    post_without_https = found(check_message(message(headers=mailto_only)), "headers")
    assert "without an https URL" in post_without_https[0].message


def test_a_message_id_from_another_domain():
    other = found(check_message(message(headers={"Message-ID": "<abc@mailer.example.net>"})), "headers")
    assert [f.element for f in other] == ["Message-ID"] and "mailer.example.net" in other[0].message


def test_lines_over_998_octets():
    raw = message().replace(b"\r\n\r\n", b"\r\nX-Long: " + b"a" * 1000 + b"\r\n\r\n", 1)
    long = found(check_message(raw), "line-length")
    line = raw.split(b"\n").index(b"X-Long: " + b"a" * 1000 + b"\r") + 1
    assert [(f.severity, f.line) for f in long] == [(ERROR, line)]
    assert found(check_message(message(page("<p>" + "word " * 3000 + "</p>"))), "line-length") == []


def test_an_html_file_alone_skips_the_message_checks(tmp_path):
    path = tmp_path / "issue.html"
    path.write_text(page(), encoding="utf-8")
    assert check_file(path).findings == []
    eml = tmp_path / "issue.eml"
    eml.write_bytes(message(drop=("Date",)))
    assert [f.element for f in check_file(eml).findings] == ["Date"]


def test_what_is_not_an_email_is_a_one_line_error(tmp_path):
    path = tmp_path / "notes.eml"
    path.write_bytes(b"just some words\nand more\n")
    with pytest.raises(CheckError, match="does not start with mail headers"):
        check_file(path)
    with pytest.raises(CheckError, match="cannot be read"):
        check_file(tmp_path / "missing.html")
    latin = tmp_path / "latin.html"
    latin.write_bytes(b"<html><body>caf\xe9</body></html>")
    with pytest.raises(CheckError, match="not UTF-8"):
        check_file(latin)
