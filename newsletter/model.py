"""The data every stage shares: frozen dataclasses that import nothing of ours."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property


def slugify(text: str) -> str:
    """The matching form of a topic: 'Gaza War 2023' -> 'gaza-war-2023'."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if slug:
        return slug
    # A topic written only in non-Latin script still needs a stable, distinct slug.
    return "t-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True)
class Article:
    """One picked article: headline, date, editor's lede, quoted body, source and topics.

    `lede` and `body` hold sanitized HTML (readers convert Markdown and clean feed HTML).
    """

    id: str
    title: str
    published: datetime
    url: str | None = None
    source: str | None = None
    topics: tuple[str, ...] = ()
    lede: str = ""
    body: str = ""
    author: str | None = None
    image: str | None = None
    draft: bool = False  # Markdown `draft: true`: never picked for an issue

    def __post_init__(self) -> None:
        if not self.title or "\n" in self.title or "\r" in self.title:
            raise ValueError("an article title is one non-empty line")
        if self.published.tzinfo is None:
            raise ValueError("an article's published date must be time-zone aware")

    @cached_property
    def topic_slugs(self) -> tuple[str, ...]:
        """The topics in matching form, in order (cached: sending asks for it per recipient)."""
        return tuple(slugify(t) for t in self.topics)


@dataclass(frozen=True)
class Issue:
    """One issue of a digest: its key (date or scheduled time) and its articles in order."""

    digest: str
    key: str
    issue_date: date
    articles: tuple[Article, ...]
    subject: str = ""
    message_id: str | None = None
    created: datetime | None = None
    id: int | None = None
    error: str | None = None  # why the last scheduled run of this issue failed
    cutoff: datetime | None = None  # it carries what was published at or before this
    # From the editor's draft file: an intro (sanitized HTML) above the items, and their own
    # subject and preheader (plain text) in place of the digest's templates.
    intro: str = ""
    editor_subject: str | None = None
    editor_preheader: str | None = None


@dataclass(frozen=True)
class Rendered:
    """A composed issue: the inlined HTML, the text part and the subject/preheader.

    `web_html` is the whole issue for a web page; `html` may have lost quotations to stay under
    Gmail's clipping point, and `notes` then says so.
    """

    subject: str
    preheader: str
    html: str
    text: str
    web_html: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArchivedIssue:
    """An issue as it went out to subscribers, for the public archive; without any reader's token or address.

    `stored` is False for an issue sent before the archive existed: it has no copy of its own
    and its `html`/`text` are empty until rendered again from its stored articles.
    """

    digest: str
    key: str
    issue_date: date
    subject: str
    sent: datetime  # aware: when its send to subscribers started
    preheader: str = ""
    html: str = ""
    text: str = ""
    stored: bool = True


@dataclass(frozen=True)
class Rejection:
    """An input item that was not imported, and why."""

    origin: str
    item: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.item}: {self.reason}" if self.item else f"{self.origin}: {self.reason}"


@dataclass
class ReadResult:
    """What a reader found in one input: good articles, rejected items, and notes to report."""

    articles: list[Article] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # ids of articles that had no date and were given the default one
    undated: set[str] = field(default_factory=set)
    # article id -> the id an earlier release gave the same article, so the store can re-key it
    aliases: dict[str, str] = field(default_factory=dict)

    def extend(self, other: "ReadResult") -> None:
        self.articles.extend(other.articles)
        self.rejected.extend(other.rejected)
        self.notes.extend(other.notes)
        self.undated |= other.undated
        self.aliases.update(other.aliases)


@dataclass(frozen=True)
class SourceState:
    """What the syncs of one configured source (a feed URL, a folder or a file) found last."""

    key: str                             # the URL, or the absolute path
    last_checked: datetime | None = None  # the last sync that looked at it (aware, UTC)
    last_read: datetime | None = None    # the last time it was read, or found unchanged, without failing
    articles: int = 0                    # how many articles its last read gave
    error: str | None = None             # why the last look failed, as it was reported then
    status: int | None = None            # the HTTP status of the last fetch
    etag: str | None = None
    last_modified: str | None = None
    fingerprint: str | None = None       # sha256 of the last body fetched
    moved_to: str | None = None          # where a permanent redirect led
    gone: bool = False                   # answered 410 Gone: not fetched again while configured


@dataclass(frozen=True)
class FileState:
    """What the last sync found in one file below a folder source."""

    key: str                      # the absolute path
    mtime_ns: int | None = None   # with size: when both are unchanged the file is not read again
    size: int | None = None
    fingerprint: str | None = None
    error: str | None = None      # what was reported about it (None: it read cleanly)
    articles: int = 0


@dataclass(frozen=True)
class Subscriber:
    """One address: who gets which digests, optionally only some topics (none: all of them)."""

    id: int
    email: str
    name: str | None
    status: str  # "active" | "unsubscribed" (from everything)
    digests: tuple[str, ...] = ()  # the digests they get
    topics: tuple[str, ...] = ()
    left: tuple[str, ...] = ()  # the digests they unsubscribed from
