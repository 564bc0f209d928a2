"""The per-recipient fast path must produce the same message as build_message, only faster."""

from __future__ import annotations

import email
from datetime import date, datetime, timezone
from email import policy
from pathlib import Path

from newsletter import compose
from newsletter.compose.fast import MessageTemplate
from newsletter.config import parse_config
from newsletter.model import Issue

from tests.conftest import make_article

WHEN = datetime(2024, 10, 11, 7, tzinfo=timezone.utc)
TOKEN = "42.daily.AbCdEfGhIjKlMnOpQrStUv"
HEADERS = ("From", "Reply-To", "Subject", "Date", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post")


def setup(tmp_path: Path):
    config = parse_config({"newsletter": {"from": "Éditions Ünïcode <ed@example.org>", "reply_to": "letters@example.org",
                                          "unsubscribe_url": "https://example.org/u?token={token}",
                                          "unsubscribe_mailto": "unsub+{token}@example.org"},
                           "digests": {"daily": {"subject": "{{ title }}: {{ top }}"}}}, tmp_path / "newsletter.toml")
    digest = config.digests["daily"]
    articles = tuple(make_article(i, title=f"Headline {i} — «quoted» ünïcode",
                                  body="<blockquote><p>" + "A long quoted passage. " * 300 + "</p></blockquote>")
                     for i in range(3))
    rendered = compose.render(Issue("daily", "2024-10-11", date(2024, 10, 11), articles), digest, config)
    return config, digest, rendered


def test_fast_message_matches_build_message(tmp_path: Path):
    config, digest, rendered = setup(tmp_path)
    to = "Zoë Reader <zoe@example.org>"
    reference = compose.build_message(rendered, config, digest, to=to, token=TOKEN, message_id="<m@example.org>",
                                      date=WHEN)
    template = MessageTemplate(rendered, config, digest, date=WHEN)
    raw = template.personal(to, TOKEN, "<m@example.org>")
    fast = email.message_from_bytes(raw, policy=policy.default)
    ref = email.message_from_bytes(reference.as_bytes(), policy=policy.default)
    for name in HEADERS + ("To", "Message-ID"):
        # Python's own generator moves a long value to the next line, which re-parses with a leading space.
        assert str(fast[name]).strip() == str(ref[name]).strip(), name
    for kind in ("plain", "html"):
        mine = fast.get_body((kind,)).get_content().replace("\r\n", "\n")
        theirs = ref.get_body((kind,)).get_content().replace("\r\n", "\n")
        assert mine == theirs, kind
        assert TOKEN in mine and compose.TOKEN_MARK not in mine
    assert [p.get_content_type() for p in fast.iter_parts()] == ["text/plain", "text/html"]
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 78 and b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.count(compose.TOKEN_MARK.encode()) == 0


def test_each_recipient_gets_only_their_own_fields(tmp_path: Path):
    config, digest, rendered = setup(tmp_path)
    template = MessageTemplate(rendered, config, digest, date=WHEN, subject_prefix="[TEST] ")
    first = email.message_from_bytes(template.personal("a@example.org", "1.daily.AAAAAAAAAAAAAAAAAAAAAA",
                                                       template.new_message_id()), policy=policy.default)
    second = email.message_from_bytes(template.personal("b@example.org", "2.daily.BBBBBBBBBBBBBBBBBBBBBB",
                                                        template.new_message_id()), policy=policy.default)
    assert first["To"] == "a@example.org" and second["To"] == "b@example.org"
    assert first["Message-ID"] != second["Message-ID"] and first["Message-ID"].endswith("@example.org>")
    assert first["Subject"].startswith("[TEST] ")
    assert "1.daily.AAAA" in first.get_body(("html",)).get_content()
    assert "2.daily" not in first.as_string() and "1.daily" not in second.as_string()
