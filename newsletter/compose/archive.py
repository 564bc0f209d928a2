"""The public archive's pages and Atom feed, from issues as sent (store.Archive gives them, newest first).

Every link between pages is relative, so the same pages work served under /archive/ and
written as static files under any prefix. An issue's own page is its stored HTML as is.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone

from newsletter.compose.context import date_with_weekday, sender_parts, view_url
from newsletter.compose.mime import sender_domain
from newsletter.compose.script import language_dir
from newsletter.compose.theme import load_theme, render_template
from newsletter.config import Config
from newsletter.model import ArchivedIssue

INDEX_TEMPLATE = "web/archive/index.html.j2"
DIGEST_TEMPLATE = "web/archive/digest.html.j2"
ATOM = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 cannot hold at all, escaped or not (C0 controls but tab, CR and LF; lone surrogates).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class IssueLink:
    key: str
    subject: str
    date_long: str
    date_iso: str
    href: str


@dataclass(frozen=True)
class DigestLink:
    name: str
    title: str
    count: int
    latest: str
    href: str
    feed: str


def digest_title(config: Config, name: str) -> str:
    """A digest's title; its name when it is no longer configured (its sent issues stay public)."""
    digest = config.digests.get(name)
    return digest.title if digest is not None else name


def _newsletter(config: Config) -> dict:
    return {"title": config.title, "language": config.language, "dir": language_dir(config.language),
            "site_url": config.site_url}


def _issue_links(entries: list[ArchivedIssue], prefix: str = "") -> list[IssueLink]:
    return [IssueLink(e.key, e.subject, date_with_weekday(e.issue_date), e.issue_date.isoformat(),
                      f"{prefix}{e.key}/") for e in entries]


def index_page(config: Config, entries: list[ArchivedIssue]) -> str:
    """The archive's front page: each digest that has sent issues, with its newest (entries: newest first)."""
    by_digest: dict[str, list[ArchivedIssue]] = {}
    for entry in entries:
        by_digest.setdefault(entry.digest, []).append(entry)
    digests = [DigestLink(name, digest_title(config, name), len(found), date_with_weekday(found[0].issue_date),
                          f"{name}/", f"{name}/feed.xml") for name, found in sorted(by_digest.items())]
    context = {"newsletter": _newsletter(config), "digests": digests}
    return render_template(load_theme(config), INDEX_TEMPLATE, context, config)


def digest_page(config: Config, digest: str, entries: list[ArchivedIssue]) -> str:
    """One digest's page: its issues in the order given (newest first), each linked to its page."""
    context = {"newsletter": _newsletter(config), "digest": {"name": digest, "title": digest_title(config, digest)},
               "issues": _issue_links(entries), "feed": "feed.xml", "index": "../"}
    return render_template(load_theme(config), DIGEST_TEMPLATE, context, config)


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _xml_text(text)
    return element


def feed(config: Config, digest: str, entries: list[ArchivedIssue], now: datetime) -> str:
    """Atom 1.0 for one digest: an entry per issue sent (entries: newest first), each linked to its page.

    Ids are the pages' public URLs with public_url; without it, tag: URIs (RFC 4151) under the
    sender's domain, dated by the issue (the feed's by its first issue), so they never change.
    Links are relative to the feed's own URL without public_url, which readers resolve.
    """
    domain = sender_domain(config)
    title = digest_title(config, digest)
    root = ET.Element("feed", {"xmlns": ATOM, "xml:lang": config.language})
    _add(root, "title", f"{config.title}: {title}" if title != config.title else title)
    if config.public_url:
        home = f"{config.public_url}/archive/{digest}/"
        _add(root, "id", home)
        _add(root, "link", rel="self", type="application/atom+xml", href=home + "feed.xml")
    else:
        first = entries[-1].issue_date.isoformat() if entries else now.date().isoformat()
        home = "./"
        _add(root, "id", f"tag:{domain},{first}:archive/{digest}")
    _add(root, "link", rel="alternate", type="text/html", href=home)
    _add(root, "updated", _rfc3339(max((e.sent for e in entries), default=now)))
    author = _add(root, "author")
    _add(author, "name", sender_parts(config)[0] or config.title)
    for entry in entries:
        page = view_url(config, entry.digest, entry.key) or f"{entry.key}/"
        item = _add(root, "entry")
        _add(item, "id", page if config.public_url else
             f"tag:{domain},{entry.issue_date.isoformat()}:archive/{entry.digest}/{entry.key}")
        _add(item, "title", entry.subject)
        _add(item, "link", rel="alternate", type="text/html", href=page)
        _add(item, "published", _rfc3339(entry.sent))
        _add(item, "updated", _rfc3339(entry.sent))
        if entry.preheader:
            _add(item, "summary", entry.preheader)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
