"""Building an issue: select (or reuse) its articles, render, record, write the outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from newsletter import compose
from newsletter.check import Report
from newsletter.config import Config, Digest
from newsletter.deliver import outbox
from newsletter.model import Article, Issue, Rendered
from newsletter.pipeline.checking import check_rendered
from newsletter.pipeline.common import open_store
from newsletter.pipeline.ingest import ImportReport, Progress, sync
from newsletter.select import IssueSlot, select_articles, slot_for_date
from newsletter.store import Store

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    digest: str
    key: str
    issue_date: date
    subject: str | None = None
    articles: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    skipped: bool = False
    reason: str | None = None
    sync: ImportReport | None = None
    check: Report | None = None                     # the checks of the message as a subscriber gets it
    notes: list[str] = field(default_factory=list)  # what the clip guard left out, if anything


def build(config: Config, digest_name: str | None = None, day: date | None = None, *, force: bool = False,
          sync_first: bool = True, now: datetime | None = None, progress: Progress | None = None) -> BuildResult:
    """Build one issue of a digest (by date) into the outbox and record it."""
    digest = config.digest(digest_name)
    now = now or datetime.now(digest.timezone)
    slot = slot_for_date(digest, day or now.astimezone(digest.timezone).date())
    with open_store(config) as store:
        synced = sync(config, store, progress) if sync_first else None
        result = build_slot(config, store, digest, slot, force=force, now=now)
        result.sync = synced
        return result


def issue_articles(store: Store, digest: Digest, slot: IssueSlot, force: bool = False) -> tuple[list[Article], bool]:
    """The articles of an issue: those it was recorded with, else a fresh selection. Also: was it recorded?"""
    existing = store.get_issue(digest.name, slot.key)
    if existing is not None and not force:
        return list(existing.articles), True
    return select_articles(store, digest, slot), False


@dataclass(frozen=True)
class Draft:
    """An issue about to be written: its articles (recorded, or freshly picked), and why it may be empty."""

    issue: Issue
    recorded: bool
    skip_reason: str | None  # set when build would write nothing


def draft_issue(store: Store, digest: Digest, slot: IssueSlot, force: bool = False) -> Draft:
    """The issue's articles as build would use them, recording nothing."""
    chosen, recorded = issue_articles(store, digest, slot, force)
    reason = None
    if not chosen and not digest.send_empty and not recorded:
        reason = (f"no new articles for digest {digest.name!r} published between "
                  f"{slot.start:%Y-%m-%d %H:%M} and {slot.end:%Y-%m-%d %H:%M} {digest.timezone.key}")
    previous = store.get_issue(digest.name, slot.key)
    issue = Issue(digest=digest.name, key=slot.key, issue_date=slot.issue_date, articles=tuple(chosen),
                  message_id=previous.message_id if previous else None)
    return Draft(issue, recorded, reason)


def render_outbox_copy(config: Config, digest: Digest, issue: Issue, now: datetime | None = None,
                       rendered: Rendered | None = None):
    """The outbox copy of an issue: (personal fields left empty, its MIME message)."""
    filled = compose.personalize(rendered or compose.render(issue, digest, config), "")
    return filled, compose.build_message(filled, config, digest, message_id=issue.message_id, date=now)


def build_slot(config: Config, store: Store, digest: Digest, slot: IssueSlot, *, force: bool = False,
               now: datetime | None = None) -> BuildResult:
    """Select (or reuse) the issue's articles, render, record, and write the outbox files."""
    result = BuildResult(digest=digest.name, key=slot.key, issue_date=slot.issue_date)
    draft = draft_issue(store, digest, slot, force)
    if draft.skip_reason:
        result.skipped, result.reason = True, draft.skip_reason
        return result
    rendered = compose.render(draft.issue, digest, config)
    filled, message = render_outbox_copy(config, digest, draft.issue, now, rendered)
    result.check = check_rendered(config, digest, rendered, slot.key, now)
    result.notes = list(rendered.notes)
    issue = store.record_issue(digest.name, slot.key, slot.issue_date, [a.id for a in draft.issue.articles],
                               filled.subject, message["Message-ID"])
    result.subject = issue.subject
    result.articles = [a.id for a in issue.articles]
    result.files = outbox.write_issue(config.outbox, digest.name, slot.key, {
        "eml": message.as_bytes(), "html": filled.html.encode("utf-8"), "txt": filled.text.encode("utf-8")})
    return result


@dataclass
class IssueCheck:
    """`newsletter check DIGEST`: the findings, what the clip guard did, or why there is nothing to check."""

    digest: str
    key: str
    report: Report | None = None
    notes: list[str] = field(default_factory=list)
    nothing: str | None = None
    sync: ImportReport | None = None


def check_issue(config: Config, digest_name: str | None, day: date | None = None, *, sync_first: bool = True,
                now: datetime | None = None) -> IssueCheck:
    """Render an issue as `build` would (recording nothing) and check the message a subscriber would get."""
    digest = config.digest(digest_name)
    now = now or datetime.now(digest.timezone)
    slot = slot_for_date(digest, day or now.astimezone(digest.timezone).date())
    with open_store(config) as store:
        synced = sync(config, store) if sync_first else None
        draft = draft_issue(store, digest, slot)
    result = IssueCheck(digest.name, slot.key, sync=synced)
    if draft.skip_reason:
        result.nothing = draft.skip_reason
        return result
    rendered = compose.render(draft.issue, digest, config)
    result.report = check_rendered(config, digest, rendered, slot.key, now)
    result.notes = list(rendered.notes)
    return result
