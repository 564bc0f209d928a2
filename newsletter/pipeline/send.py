"""Sending an issue to its subscribers over SMTP, exactly once each, resumable after any stop."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from email.utils import formataddr, parseaddr
from typing import Callable, Iterator

from newsletter import compose
from newsletter.check import Report
from newsletter.compose.fast import MessageTemplate
from newsletter.config import Config, Digest
from newsletter.deliver.smtp import Outgoing, Result, SmtpTransport
from newsletter.errors import DeliveryError
from newsletter.model import Article, Issue, Subscriber, slugify
from newsletter.pipeline.build import build_slot, draft_path, plan_issue, sending_started
from newsletter.pipeline.checking import check_rendered, refuse_errors
from newsletter.pipeline.common import open_store
from newsletter.pipeline.compliance import require_way_out
from newsletter.pipeline.ingest import sync
from newsletter.select import IssueSlot, slot_for_date
from newsletter.store import Store
from newsletter.store.ledger import FAILED, SENT, SKIPPED, Counts, GroupCommit, Pending
from newsletter.tokens import make_token

log = logging.getLogger(__name__)

ALL_TOPICS = ""  # the variant of subscribers without topics: the whole issue


@dataclass
class SendReport:
    digest: str
    key: str
    subject: str = ""
    sent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0
    already: int = 0           # recipients that had it before this run
    variants: dict[str, int] = field(default_factory=dict)  # variant -> recipients (dry run / plan)
    remaining: int = 0         # still to send after an interrupted run
    interrupted: bool = False
    nothing: str | None = None  # why nothing was sent at all
    check: Report | None = None  # the checks of the issue as sent, run once before sending


def secret_key(store: Store) -> bytes:
    """The token key: $NEWSLETTER_SECRET_KEY, else one made once and kept in the store."""
    env = os.environ.get("NEWSLETTER_SECRET_KEY")
    if env:
        return env.encode("utf-8")
    kept = store.get_meta("secret_key")
    if kept is None:
        kept = secrets.token_hex(32)
        store.set_meta("secret_key", kept)
    return bytes.fromhex(kept)


def variant_of(subscriber: Subscriber | Pending, articles: tuple[Article, ...]) -> tuple[str, tuple[Article, ...]]:
    """A subscriber's topic variant: (its key, the issue's items in their topics), or the whole issue."""
    if not subscriber.topics:
        return ALL_TOPICS, articles
    slugs = {slugify(t) for t in subscriber.topics}
    return ",".join(sorted(slugs)), tuple(a for a in articles if not slugs.isdisjoint(a.topic_slugs))


def _envelope_sender(config: Config) -> str:
    return parseaddr(config.sender)[1]


class _Templates:
    """One rendered, inlined message template per distinct list of articles: never one per recipient."""

    def __init__(self, config: Config, digest: Digest, issue: Issue, now: datetime, prefix: str = ""):
        self.config, self.digest, self.issue, self.now, self.prefix = config, digest, issue, now, prefix
        self.cache: dict[tuple[str, ...], MessageTemplate] = {}

    def get(self, articles: tuple[Article, ...]) -> MessageTemplate:
        key = tuple(a.id for a in articles)
        if key not in self.cache:
            # replace(): the editor's intro and subject go to every variant
            rendered = compose.render(replace(self.issue, articles=articles), self.digest, self.config)
            self.cache[key] = MessageTemplate(rendered, self.config, self.digest, date=self.now,
                                              subject_prefix=self.prefix)
        return self.cache[key]


def _transport(config: Config, ssl_context) -> SmtpTransport:
    if config.smtp is None:
        raise DeliveryError("no [smtp] table is configured", where=str(config.path),
                            hint="add [smtp] with host, port and security to send mail")
    return SmtpTransport(config.smtp, ssl_context=ssl_context)


def _issue_for_sending(config: Config, store: Store, digest: Digest, slot: IssueSlot, now: datetime,
                       record: bool) -> tuple[Issue | None, str | None]:
    """The recorded issue, built first when it does not exist yet (or when its draft may have changed before
    sending began); or (None, why) when there is nothing."""
    issue = store.get_issue(digest.name, slot.key)
    if issue is not None and (sending_started(store, issue) or not draft_path(config, digest.name, slot.key).exists()):
        return issue, None
    if not record:  # a dry run: what build would pick, recording nothing
        plan = plan_issue(config, store, digest, slot)
        if plan.skip_reason:
            return None, plan.skip_reason
        return replace(plan.issue, subject=compose.render(plan.issue, digest, config).subject), None
    built = build_slot(config, store, digest, slot, now=now)
    if built.skipped:
        return None, built.reason
    return store.get_issue(digest.name, slot.key), None


def send_test(config: Config, digest_name: str | None, day: date | None, recipients: list[str], *,
              sync_first: bool = True, now: datetime | None = None, ssl_context=None) -> SendReport:
    """Send the issue to any addresses with a [TEST] subject; nothing is recorded as a delivery."""
    from newsletter.store.subscribers import normalise_address

    addresses = [normalise_address(a) for a in recipients]
    digest = config.digest(digest_name)
    now = now or datetime.now(digest.timezone)
    slot = slot_for_date(digest, day or now.date())
    transport = _transport(config, ssl_context)
    with open_store(config) as store:
        if sync_first:
            sync(config, store)
        issue, why = _issue_for_sending(config, store, digest, slot, now, record=True)
        report = SendReport(digest=digest.name, key=slot.key, nothing=why)
        if issue is None:
            return report
        template = _Templates(config, digest, issue, now, prefix="[TEST] ").get(issue.articles)
        report.subject = "[TEST] " + issue.subject
        # A test copy is how an editor looks at an issue: it is checked, never refused.
        report.check = _check(config, digest, issue, now)
        outgoing = (Outgoing(key=a, sender=_envelope_sender(config), recipients=(a,),
                             data=template.personal(a, "", template.new_message_id())) for a in addresses)

        def done(result: Result) -> None:
            if result.ok:
                report.sent += 1
            else:
                report.failed.append((result.key, result.error or "refused"))

        transport.send_all(outgoing, done)
        return report


def send_to_subscribers(config: Config, digest_name: str | None, day: date | None = None, *, dry_run: bool = False,
                        confirm: Callable[[SendReport, int], bool] | None = None,
                        progress: Callable[[int, int], None] | None = None, stop: threading.Event | None = None,
                        sync_first: bool = True, now: datetime | None = None, slot: IssueSlot | None = None,
                        ssl_context=None, force: bool = False) -> SendReport:
    """Send one issue to every active subscriber of the digest that has not had it yet.

    The issue is checked first (once, not per recipient); one with errors is refused with a
    CheckError unless `force`. A dry run reports the check and refuses nothing.
    """
    digest = config.digest(digest_name)
    now = now or datetime.now(digest.timezone)
    slot = slot or slot_for_date(digest, day or now.date())
    if not dry_run:
        require_way_out(config)
    transport = None if dry_run else _transport(config, ssl_context)
    with open_store(config) as store:
        if sync_first:
            sync(config, store)
        issue, why = _issue_for_sending(config, store, digest, slot, now, record=not dry_run)
        report = SendReport(digest=digest.name, key=slot.key, nothing=why)
        if issue is None:
            return report
        report.subject = issue.subject
        report.check = _check(config, digest, issue, now)
        if dry_run:
            report.remaining = _plan(store, issue, digest, report)
            report.already = _counts(store, issue).sent
            return report
        store.ledger.close_departed(issue.id, digest.name)
        store.ledger.queue_missing(issue.id, digest.name)
        open_rows = store.ledger.count_open(issue.id)
        report.already = _counts(store, issue).sent
        if not open_rows:
            report.skipped = _counts(store, issue).skipped
            report.nothing = f"issue {digest.name} {slot.key} is fully sent ({report.already} recipients); nothing to send"
            return report
        if not force:
            refuse_errors(report.check, digest, issue.key)
        # The count asked about is the dry run's: messages that will go out (not those skipped for their topics).
        if confirm is not None and not confirm(report, _plan(store, issue, digest, report)):
            report.nothing = "not confirmed; nothing sent"
            return report
        _deliver(config, store, digest, issue, open_rows, transport, report, now, progress, stop)
        return report


def _plan(store: Store, issue: Issue, digest: Digest, report: SendReport) -> int:
    """Who has yet to get the issue, by topic variant (into report.variants); how many will get a message."""
    recipients = 0
    for person in store.ledger.to_send(issue.id, digest.name):
        variant, items = variant_of(person, issue.articles)
        label = (variant or "all topics") + ("" if items else " (nothing in their topics)")
        report.variants[label] = report.variants.get(label, 0) + 1
        recipients += bool(items)
    return recipients


def _check(config: Config, digest: Digest, issue: Issue, now: datetime) -> Report:
    """The checks of the whole issue (every item), as a subscriber without topics gets it."""
    return check_rendered(config, digest, compose.render(issue, digest, config), issue.key, now)


def _counts(store: Store, issue: Issue) -> Counts:
    return store.ledger.counts([issue.id]).get(issue.id, Counts()) if issue.id is not None else Counts()


def _deliver(config, store, digest, issue, total, transport, report, now, progress, stop) -> None:
    templates = _Templates(config, digest, issue, now)
    key = secret_key(store)
    sender = _envelope_sender(config)
    committer = GroupCommit(store.ledger)
    lock = threading.Lock()
    done = 0
    by_topics: dict[tuple[str, ...], MessageTemplate | None] = {}

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    def messages() -> Iterator[Outgoing]:
        # Recipients come a page at a time and each message exists only while it is sent, so
        # memory stays the same whatever the length of the list.
        for row in store.ledger.to_send(issue.id, digest.name):
            if row.topics not in by_topics:
                items = variant_of(row, issue.articles)[1]
                by_topics[row.topics] = templates.get(items) if items else None
            template = by_topics[row.topics]
            if template is None:
                committer.record(row.delivery_id, SKIPPED, attempts=0,
                                 error=f"none of the issue's items is in their topics ({', '.join(row.topics)})")
                with lock:
                    step()
                continue
            message_id = template.new_message_id()
            data = template.personal(formataddr((row.name or "", row.email)),
                                     make_token(key, row.subscriber_id, digest.name), message_id)
            yield Outgoing(key=(row.delivery_id, row.email, message_id), sender=sender, recipients=(row.email,), data=data)

    def on_result(result: Result) -> None:
        # Called by each connection's thread once the server has answered; it returns only
        # when the row is on disk, so that connection never has two unrecorded messages.
        delivery_id, email, message_id = result.key
        committer.record(delivery_id, SENT if result.ok else FAILED, attempts=result.attempts,
                         error=result.error, message_id=message_id if result.ok else None,
                         permanent=result.permanent)
        with lock:
            if result.ok:
                report.sent += 1
            else:
                report.failed.append((email, result.error or "refused"))
            step()

    try:
        transport.send_all(messages(), on_result, stop)
    finally:
        committer.close()
        report.interrupted = bool(stop and stop.is_set())
        counts = _counts(store, issue)
        report.remaining = counts.queued
        report.skipped = counts.skipped


@dataclass(frozen=True)
class IssueSummary:
    digest: str
    key: str
    issue_date: date
    subject: str
    articles: int
    sent: int
    failed: int
    skipped: int
    pending: int
    error: str | None
    cutoff: datetime | None = None


def list_issues(config: Config, digest_name: str | None = None) -> list[IssueSummary]:
    """Recorded issues, newest first, with their delivery counts."""
    if digest_name is not None:
        config.digest(digest_name)
    with open_store(config) as store:
        issues = store.list_issues(digest_name)
        counts = store.ledger.counts([i.id for i in issues])
        out = []
        for i in issues:
            c = counts.get(i.id)
            digest = config.digests.get(i.digest)
            # An outbox digest's issue waits for nobody unless someone has started sending it.
            mails = c is not None or (digest is not None and digest.delivery == "smtp")
            waiting = store.ledger.not_queued(i.id, i.digest) if mails else 0
            out.append(IssueSummary(i.digest, i.key, i.issue_date, i.subject, store.issue_size(i.id),
                                    c.sent if c else 0, c.failed if c else 0, c.skipped if c else 0,
                                    (c.queued if c else 0) + waiting, i.error, i.cutoff))
        return out
