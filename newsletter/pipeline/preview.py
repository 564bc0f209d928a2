"""Rendering an issue for the preview server: the path `newsletter build` takes, with nothing recorded."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from newsletter import compose
from newsletter.check import CLIP_ERROR
from newsletter.config import Config, load_config
from newsletter.model import Issue, Subscriber
from newsletter.pipeline.build import plan_issue, render_outbox_copy
from newsletter.pipeline.common import open_store
from newsletter.pipeline.ingest import ImportReport, sync
from newsletter.pipeline.send import ALL_TOPICS, variant_of
from newsletter.resources import data_path
from newsletter.select import slot_for_key
from newsletter.store import Store

log = logging.getLogger(__name__)

GMAIL_CLIP_BYTES = CLIP_ERROR  # Gmail cuts the HTML part off past about 102 KB
SHOWN_HEADERS = ("From", "Reply-To", "Subject", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post")
RECENT_ISSUES = 12


class NotFound(LookupError):
    """No such digest, issue key or topic variant: the page asked for does not exist."""


@dataclass(frozen=True)
class Variant:
    """One topic variant of a digest's audience: send's variant key, a label, how many get it, its items."""

    key: str
    label: str
    subscribers: int
    items: int


@dataclass(frozen=True)
class PreviewIssue:
    """One issue rendered as `newsletter build` would write it, plus what the preview shows around it."""

    digest: str
    key: str
    issue_date: date
    subject: str
    preheader: str
    html: bytes
    text: bytes
    headers: tuple[tuple[str, str], ...]
    titles: tuple[str, ...]
    recorded: bool
    skipped: str | None  # why `newsletter build` would write nothing, or None
    variant: str
    variants: tuple[Variant, ...]
    notes: tuple[str, ...] = ()  # what build would say about it: held-over articles, the draft used


@dataclass(frozen=True)
class DigestIssues:
    """A digest for the index page: its name, title, today's date and its recent recorded issues."""

    name: str
    title: str
    today: date
    issues: tuple[Issue, ...]


def watched_paths(config: Config) -> list[Path]:
    """What a preview re-renders on: the config file, the local sources, the drafts and both theme folders."""
    paths = [config.path]
    paths += [source.path for source in config.sources if source.path is not None]
    paths.append(config.drafts)
    if config.templates is not None:
        paths.append(config.templates)
    paths.append(data_path("templates"))
    return paths


def _variants(people: list[Subscriber], articles: tuple) -> tuple[list[Variant], dict[str, Subscriber]]:
    """The distinct topic variants of these subscribers ("everyone" first) and one subscriber of each."""
    counts: dict[str, int] = {ALL_TOPICS: 0}
    example: dict[str, Subscriber] = {}
    for person in people:
        key = variant_of(person, articles)[0]
        counts[key] = counts.get(key, 0) + 1
        example.setdefault(key, person)
    found = [Variant(ALL_TOPICS, "everyone (all topics)", counts[ALL_TOPICS], len(articles))]
    found += sorted((Variant(k, ", ".join(example[k].topics), n, len(variant_of(example[k], articles)[1]))
                     for k, n in counts.items() if k != ALL_TOPICS), key=lambda v: v.label.lower())
    return found, example


def render_issue(config: Config, store: Store, digest_name: str, key: str, variant: str = ALL_TOPICS) -> PreviewIssue:
    """Render one issue (or one topic variant of it) exactly as build would; records nothing."""
    if digest_name not in config.digests:
        raise NotFound(f"no digest named {digest_name!r} in {config.path}")
    digest = config.digests[digest_name]
    slot = slot_for_key(digest, key)
    if slot is None:
        raise NotFound(f"{key!r} is not an issue date (YYYY-MM-DD) or time (YYYY-MM-DDTHHMMSS)")
    # The same plan and rendering as `newsletter build`, so the bytes match what it writes;
    # only recording the issue and writing the outbox are left out.
    plan = plan_issue(config, store, digest, slot)
    issue = plan.issue
    found, example = _variants(store.subscribers.list(digest=digest.name, status="active"), issue.articles)
    if variant != ALL_TOPICS:
        if variant not in example:
            raise NotFound(f"no active subscriber of {digest.name!r} has the topic variant {variant!r}")
        # As send renders a variant: the issue's items in the subscriber's topics, nothing else changed.
        issue = replace(issue, articles=variant_of(example[variant], issue.articles)[1])
    skipped = f"{plan.skip_reason}: `newsletter build` would write nothing" if plan.skip_reason else None
    filled, message = render_outbox_copy(config, digest, issue)
    headers = tuple((name, str(message[name])) for name in SHOWN_HEADERS if message[name] is not None)
    return PreviewIssue(digest=digest.name, key=slot.key, issue_date=slot.issue_date, subject=filled.subject,
                        preheader=filled.preheader, html=filled.html.encode("utf-8"), text=filled.text.encode("utf-8"),
                        headers=headers, titles=tuple(a.title for a in issue.articles), recorded=plan.recorded,
                        skipped=skipped, variant=variant, variants=tuple(found),
                        notes=tuple(plan.messages))


def digest_issues(config: Config, store: Store, limit: int = RECENT_ISSUES) -> list[DigestIssues]:
    """Every configured digest with today's date in its zone and its most recent recorded issues."""
    out = []
    for name in sorted(config.digests):
        digest = config.digests[name]
        out.append(DigestIssues(name=name, title=digest.title, today=datetime.now(digest.timezone).date(),
                                issues=tuple(store.list_issues(name)[:limit])))
    return out


class PreviewSession:
    """The config, store and sync state a preview renders from; reload() re-reads all of it."""

    def __init__(self, config_path: str | os.PathLike | None, *, sync_first: bool = True):
        self.config_path = config_path
        self.sync_first = sync_first
        self.config: Config | None = None
        self.store: Store | None = None
        self.report: ImportReport | None = None
        self.watched: list[Path] = []

    def reload(self) -> None:
        """Load the config again, sync the sources (incrementally) and drop compiled templates."""
        config = load_config(self.config_path)
        # Watch the new theme and sources even if what follows fails, so fixing them is seen.
        self.watched = watched_paths(config)
        if self.store is None or self.store.url != config.database:
            self.close()
            self.store = open_store(config)
        self.report = sync(config, self.store) if self.sync_first else None
        if self.report is not None:
            log.info("synced: %s", self.report.summary())
        compose.forget_templates(config)
        self.config = config

    def issue(self, digest_name: str, key: str, variant: str = ALL_TOPICS) -> PreviewIssue:
        """The issue as build would render it (see render_issue)."""
        return render_issue(self.config, self.store, digest_name, key, variant)

    def digests(self) -> list[DigestIssues]:
        """The digests and their recent issues (see digest_issues)."""
        return digest_issues(self.config, self.store)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


def today_path(config: Config, digest_name: str | None, day: date | None) -> str:
    """The preview's URL path of a digest's issue on a day (default: today in the digest's zone)."""
    digest = config.digest(digest_name)
    day = day or datetime.now(digest.timezone).date()
    return f"/{digest.name}/{day.isoformat()}/"


__all__ = ["GMAIL_CLIP_BYTES", "DigestIssues", "NotFound", "PreviewIssue", "PreviewSession", "Variant", "digest_issues",
           "render_issue", "today_path", "watched_paths"]
