"""The MIME message: structure, headers (DESIGN.md section 4), line lengths, personal fields."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import datetime
from email import policy

import pytest

from newsletter import compose
from newsletter.errors import ComposeError
from newsletter.model import Article
from tests.test_compose import NEW_YORK, SPY, TOKEN, make_config, message_bytes, render


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def test_multipart_alternative_text_first_html_last_both_quoted_printable(tmp_path):
    raw = message_bytes(make_config(tmp_path), render(make_config(tmp_path)))
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part["MIME-Version"] is None
    assert parts[0].get_content().replace("\r\n", "\n").startswith("Editors' Picks\nFriday, October 11, 2024\n")
    assert "<!DOCTYPE html>" in parts[1].get_content()
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF everywhere, no bare LF


def test_headers(tmp_path):
    config = make_config(tmp_path)
    msg = parse(message_bytes(config, render(config)))
    assert msg["From"] == "Editors’ Picks <editors@example.org>"
    assert msg["To"] == "Reader <reader@example.net>"
    assert msg["Reply-To"] == "letters@example.org"
    # Python folds a long ASCII subject onto the line after "Subject:"; readers strip the space.
    assert msg["Subject"].strip() == "Editors' Picks: The Long History of Cooperation between Iran and Russia"
    assert msg["Date"] == "Fri, 11 Oct 2024 07:00:00 -0400"
    assert msg["Message-ID"] == "<golden.1@example.org>"
    assert msg["List-Id"] == "Editors' Picks <daily.example.org>"


def test_defaults_message_id_on_the_sender_domain_and_date_now_in_the_digest_zone(tmp_path):
    config = make_config(tmp_path, reply_to=None)
    msg = compose.build_message(render(config), config, config.digest("daily"))
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg["To"] is None and msg["Reply-To"] is None
    sent = email.utils.parsedate_to_datetime(msg["Date"])
    assert sent.utcoffset() == datetime.now(NEW_YORK).utcoffset()
    assert abs((datetime.now(NEW_YORK) - sent).total_seconds()) < 60


def test_configured_list_id(tmp_path):
    config = make_config(tmp_path, list_id="picks.example.org")
    msg = compose.build_message(render(config), config, config.digest("daily"))
    assert msg["List-Id"] == "Editors' Picks <picks.example.org>"


@pytest.mark.parametrize("url, mailto, unsubscribe, post", [
    (None, None, None, None),
    (None, "unsubscribe@example.org", "<mailto:unsubscribe@example.org>", None),
    ("http://example.org/u?t={token}", None, "<http://example.org/u?t=7.daily.AbC%2F%2Bx>", None),
    ("https://example.org/u?t={token}", None, "<https://example.org/u?t=7.daily.AbC%2F%2Bx>",
     "List-Unsubscribe=One-Click"),
    ("https://example.org/u/{token}", "mailto:leave+{token}@example.org",
     "<https://example.org/u/7.daily.AbC%2F%2Bx>, <mailto:leave+7.daily.AbC%2F%2Bx@example.org>",
     "List-Unsubscribe=One-Click"),
])
def test_list_unsubscribe_only_when_configured_and_one_click_only_for_https(tmp_path, url, mailto, unsubscribe, post):
    config = make_config(tmp_path, unsubscribe_url=url, unsubscribe_mailto=mailto)
    msg = parse(message_bytes(config, render(config)))
    assert msg["List-Unsubscribe"] == unsubscribe
    assert msg["List-Unsubscribe-Post"] == post


def test_no_marker_survives_into_a_message(tmp_path):
    config = make_config(tmp_path)
    rendered = render(config)
    for token in (TOKEN, ""):
        msg = parse(message_bytes(config, rendered, token=token))
        body = "".join(part.get_content() for part in msg.iter_parts())
        assert compose.TOKEN_MARK not in body and compose.TOKEN_MARK not in str(msg)
    msg = parse(message_bytes(config, compose.personalize(rendered, TOKEN), token=TOKEN))
    assert "token=7.daily.AbC%2F%2Bx" in msg.get_body(("plain",)).get_content()


def test_no_line_over_998_octets_with_a_5000_character_paragraph(tmp_path):
    long_words = " ".join(["word"] * 1000)
    long_token = "x" * 5000
    article = replace(SPY, lede=f"<p>{long_words}</p>", body=f"<p>{long_token}</p><blockquote><p>{long_words}</p></blockquote>")
    config = make_config(tmp_path)
    rendered = render(config, [article])
    assert long_token in rendered.text and long_token in rendered.html  # the raw parts do hold long lines
    raw = message_bytes(config, rendered)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    decoded = parse(raw)
    assert long_token in decoded.get_body(("plain",)).get_content()
    assert long_token in decoded.get_body(("html",)).get_content()


def test_a_subject_or_address_with_a_line_break_never_makes_a_header(tmp_path):
    config = make_config(tmp_path)
    rendered = replace(render(config), subject="Hello\r\nBcc: victim@example.com\x00\x1b[31m")
    for message in (compose.build_message(rendered, config, config.digest("daily")),
                    compose.build_message(render(config), config, config.digest("daily"),
                                          to=("Ada\r\nBcc: b@example.org", "a@example.org"))):
        raw = message.as_bytes()
        assert b"\x00" not in raw and b"\x1b" not in raw
        parsed = parse(raw)
        assert "Bcc" not in parsed and len(parsed.get_all("Subject")) == 1
    assert parse(compose.build_message(rendered, config, config.digest("daily")).as_bytes())["Subject"] == \
        "Hello Bcc: victim@example.com [31m"


def test_a_digest_subject_built_around_config_validation_is_still_refused(tmp_path):
    config = make_config(tmp_path)
    digest = replace(config.digest("daily"), subject="{{ top }}\nBcc: victim@example.com")
    issue_article = Article(id="a", title="Title", published=SPY.published)
    from tests.test_compose import make_issue

    with pytest.raises(ComposeError, match="more than one line"):
        compose.render(make_issue([issue_article]), digest, config)
