"""What the templates see: an Issue, its Digest and the Config turned into a stable context.

The context (README lists it; keep the names stable, themes depend on them):

- ``newsletter``: ``title``, ``site_url``, ``address``, ``language``, ``dir`` ("ltr" or "rtl", from the
  language), ``sender_name``, ``sender_address`` (None/"" when not configured)
- ``digest``: ``name``, ``title``, ``contents_above`` (an "In this issue" list heads issues of more items)
- ``issue``: ``key``, ``date`` (a ``datetime.date``), ``date_long`` ("Friday, October 11, 2024"),
  ``count`` (number of items)
- ``items``: a list of Item, each with ``id``, ``title``, ``url``, ``source``,
  ``date`` ("Oct. 11 2024"), ``date_long`` ("October 11, 2024"), ``date_iso`` ("2024-10-11"),
  all in the digest's time zone; ``lede`` and ``body`` (sanitized HTML as Markup),
  ``author``, ``image``, ``topics`` (a list of Topic: ``name``, ``slug``, ``url`` or None),
  ``read_more`` ("Read more at <Source>", or "Read more" when there is no source), ``dir`` ("ltr"
  or "rtl", from the item's text), ``lang`` (set when the item is in another script than the
  newsletter's ``language``, else None), ``italic`` (False for scripts without italics) and
  ``trimmed`` (True when the clip guard left its quotations out of the HTML)
- ``intro``: the editor's note for the top of the issue (sanitized HTML as Markup; "" for none)
- ``subject``, ``preheader``: plain text (the editor's own from a draft file, else the digest's templates)
- ``unsubscribe_url``: the configured URL with ``{token}`` as TOKEN_MARK, or None
- ``unsubscribe_mailto``: a ``mailto:`` URL (token as TOKEN_MARK), or None
- ``view_url``: the issue's page in the archive ("View in browser") when ``public_url`` is set, else None
- ``archived``: True when rendering the archive's copy (no unsubscribe link, no view_url), else False
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from email.utils import parseaddr

from markupsafe import Markup

from newsletter.compose import text as textmod
from newsletter.compose.script import item_language, language_dir, language_script, writing_of
from newsletter.compose.theme import render_string
from newsletter.config import Config, Digest
from newsletter.errors import ComposeError
from newsletter.model import Article, Issue

log = logging.getLogger(__name__)

# The personal unsubscribe token, filled per recipient by personalize(). Letters and
# digits only, so HTML escaping, URL contexts and premailer all leave it untouched.
TOKEN_MARK = "NLTOKEN7f3a9c"

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
# AP style, as in the sample digest ("Oct. 11 2024"); the digest reader parses all of these.
MONTHS_SHORT = ["Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.",
                "Oct.", "Nov.", "Dec."]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
PREHEADER_LENGTH = 110


@dataclass(frozen=True)
class Topic:
    name: str
    slug: str
    url: str | None


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    url: str | None
    source: str | None
    date: str
    date_long: str
    date_iso: str
    lede: Markup
    body: Markup
    author: str | None
    image: str | None
    topics: tuple[Topic, ...]
    read_more: str
    dir: str = "ltr"
    lang: str | None = None
    italic: bool = True
    trimmed: bool = False


def date_short(day: date) -> str:
    """'Oct. 11 2024'."""
    return f"{MONTHS_SHORT[day.month - 1]} {day.day} {day.year}"


def date_long(day: date) -> str:
    """'October 11, 2024'."""
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def date_with_weekday(day: date) -> str:
    """'Friday, October 11, 2024'."""
    return f"{WEEKDAYS[day.weekday()]}, {date_long(day)}"


_QUOTE_TAG = re.compile(r"<(/?)blockquote\b[^>]*>", re.I)
WRITING_SAMPLE = 3000  # characters of body HTML enough to tell its script


def without_quotations(html: str) -> str:
    """Sanitized HTML without its block quotes (nested ones go with the outer)."""
    out, depth, start = [], 0, 0
    for tag in _QUOTE_TAG.finditer(html):
        if not tag.group(1):
            if depth == 0:
                out.append(html[start:tag.start()])
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                start = tag.end()
    if depth == 0:
        out.append(html[start:])
    return "".join(out).strip()


_BLOCK = re.compile(r"<(p|blockquote|ul|ol|h[1-6]|pre|figure|hr|div|table)\b", re.I)
_FIRST_BLOCK = re.compile(r"^\s*<p\b[^>]*>(.*?)</p>", re.I | re.S)
_ELLIPSIS = ("…", "...", "[…]", "[...]")


def as_paragraphs(html: str) -> str:
    """Sanitized HTML with its loose text (a plain-text lede) wrapped in a <p>."""
    html = (html or "").strip()
    if html and not _BLOCK.search(html):
        return f"<p>{html}</p>"
    return html


def without_repeated_lede(lede: str, body: str) -> str:
    """The body without its first paragraph when that is the lede again (a feed's summary is often
    the start of its content, sometimes cut short with an ellipsis)."""
    found = _FIRST_BLOCK.match(body)
    if not found or not lede:
        return body
    first = textmod.html_to_text(found.group(1))
    said = textmod.html_to_text(lede)
    stem = said
    for mark in _ELLIPSIS:
        stem = stem.removesuffix(mark).rstrip()
    if first and (first == said or (stem != said and len(stem) > 20 and first.startswith(stem))):
        return body[found.end():].lstrip()
    return body


def make_item(article: Article, digest: Digest, config: Config, trimmed: bool = False) -> Item:
    """One article as the templates see it (`trimmed`: its quotations left out by the clip guard)."""
    day = article.published.astimezone(digest.timezone).date()
    topics = tuple(
        Topic(name, slug, config.topic_url.replace("{slug}", slug) if config.topic_url else None)
        for name, slug in zip(article.topics, article.topic_slugs, strict=True)
    )
    lede = as_paragraphs(article.lede)
    body = without_repeated_lede(lede, as_paragraphs(article.body))
    if trimmed:
        body = without_quotations(body)
    writing = writing_of(" ".join([article.title, textmod.html_to_text(lede + body[:WRITING_SAMPLE])]),
                         default=language_script(config.language))
    return Item(
        id=article.id,
        title=article.title,
        url=article.url or None,
        source=article.source or None,
        date=date_short(day),
        date_long=date_long(day),
        date_iso=day.isoformat(),
        # Stored article HTML was sanitized on the way in (DESIGN.md section 2): it is the
        # only content we trust as markup. Everything else is escaped by the templates.
        lede=Markup(lede),
        body=Markup(body),
        author=article.author or None,
        image=article.image or None,
        topics=topics,
        read_more=f"Read more at {article.source}" if article.source else "Read more",
        dir=writing.dir,
        lang=item_language(writing, config.language),
        italic=writing.italic,
        trimmed=trimmed,
    )


def unsubscribe_url(config: Config) -> str | None:
    """The unsubscribe URL with the token as TOKEN_MARK, or None."""
    if not config.unsubscribe_url:
        return None
    return config.unsubscribe_url.replace("{token}", TOKEN_MARK)


def unsubscribe_mailto(config: Config) -> str | None:
    """The unsubscribe address as a mailto: URL with the token as TOKEN_MARK, or None."""
    value = (config.unsubscribe_mailto or "").strip()
    if not value:
        return None
    if not value.lower().startswith("mailto:"):
        value = "mailto:" + value
    return value.replace("{token}", TOKEN_MARK)


def sender_parts(config: Config) -> tuple[str, str]:
    """(display name, address) of the configured sender."""
    name, address = parseaddr(config.sender)
    return name, address


def subject_variables(issue: Issue, digest: Digest, items: list[Item]) -> dict:
    """The variables of the subject and preheader templates."""
    return {
        "title": digest.title,
        "date": date_with_weekday(issue.issue_date),
        "digest": digest.name,
        "count": len(items),
        "top": items[0].title if items else "",
        "titles": [item.title for item in items],
    }


def render_subject(env, issue: Issue, digest: Digest, items: list[Item], config: Config) -> str:
    """The Subject header: the editor's, else digest.subject rendered as plain text; one non-empty line or ComposeError."""
    where = f"digests.{digest.name}.subject"
    if issue.editor_subject:
        subject = issue.editor_subject  # the editor's words as written, not a template
    else:
        subject = render_string(env, digest.subject, subject_variables(issue, digest, items), config, where)
    if "\r" in subject or "\n" in subject:
        # A header may not hold a line break: it would end the header (header injection).
        raise ComposeError("the subject renders to more than one line", where=f"{config.path}: {where}",
                           hint="remove line breaks from the subject template")
    subject = " ".join(subject.split())
    if not subject:
        raise ComposeError("the subject renders empty", where=f"{config.path}: {where}",
                           hint='e.g. subject = "{{ title }}: {{ top }}"')
    return subject


def render_preheader(env, issue: Issue, digest: Digest, items: list[Item], config: Config) -> str:
    """The inbox preview line: the editor's, digest.preheader, the headlines of a longer issue, or the lede."""
    if issue.editor_preheader:
        return " ".join(issue.editor_preheader.split())
    if digest.preheader.strip():
        where = f"digests.{digest.name}.preheader"
        text = render_string(env, digest.preheader, subject_variables(issue, digest, items), config, where)
        return " ".join(text.split())
    if len(items) == 1:
        lede = textmod.html_to_text(str(items[0].lede))
        if lede:
            return cut(lede, PREHEADER_LENGTH)
    # Several items: say what they all are, not only the first (the subject often names that one).
    headlines = " · ".join(item.title for item in items)
    return cut(f"{len(items)} picks: {headlines}" if len(items) > 1 else headlines, PREHEADER_LENGTH)


def cut(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most about `limit` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[:limit + 1]
    head = head.rsplit(" ", 1)[0] if " " in head else text[:limit]
    return head.rstrip(" ,;:.-–—·") + "…"


def view_url(config: Config, digest: str, key: str) -> str | None:
    """The issue's page in the archive served at public_url, or None without one."""
    # Digest names are letters, digits, - and _; keys are dates or date-times: nothing to quote.
    return f"{config.public_url}/archive/{digest}/{key}/" if config.public_url else None


def build_context(issue: Issue, digest: Digest, config: Config, plain_env, trimmed: frozenset[int] = frozenset(),
                  archived: bool = False) -> dict:
    """The whole template context of one issue (see the module docstring); `trimmed`: items (by index)
    whose quotations the clip guard leaves out; `archived`: for the archive, as for a reader with no token."""
    items = [make_item(article, digest, config, i in trimmed) for i, article in enumerate(issue.articles)]
    sender_name, sender_address = sender_parts(config)
    return {
        "newsletter": {
            "title": config.title,
            "site_url": config.site_url,
            "address": config.address,
            "language": config.language,
            "dir": language_dir(config.language),
            "sender_name": sender_name,
            "sender_address": sender_address,
        },
        "digest": {"name": digest.name, "title": digest.title, "contents_above": digest.contents_above},
        "issue": {
            "key": issue.key,
            "date": issue.issue_date,
            "date_long": date_with_weekday(issue.issue_date),
            "count": len(items),
        },
        "items": items,
        # Sanitized when the draft was read (Markdown to allowlisted HTML), like an article's lede.
        "intro": Markup(issue.intro or ""),
        "subject": render_subject(plain_env, issue, digest, items, config),
        "preheader": render_preheader(plain_env, issue, digest, items, config),
        "unsubscribe_url": None if archived else unsubscribe_url(config),
        "unsubscribe_mailto": None if archived else unsubscribe_mailto(config),
        "view_url": None if archived else view_url(config, digest.name, issue.key),
        "archived": archived,
    }
