"""Sending an issue: to subscribers through the ledger (each once, resumable after any stop), or a test copy."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

from newsletter import compose
from newsletter.check import Report
from newsletter.config import Config, Digest
from newsletter.model import Issue
from newsletter.pipeline.archive import keep_as_sent
from newsletter.pipeline.build import build_slot, draft_path, plan_issue, sending_started
from newsletter.pipeline.checking import check_rendered, refuse_errors
from newsletter.pipeline.common import backend_for, delivers_personally, journal_folder, open_store
from newsletter.pipeline.compliance import require_way_out
from newsletter.pipeline.deliveries import (ALL_TOPICS, Tally, Templates, deliver_issue, envelope_sender, outgoing,
                                            variant_of)
from newsletter.pipeline.ingest import sync
from newsletter.pipeline.workers import WorkerResult, run_workers
from newsletter.select import IssueSlot, slot_for_date
from newsletter.store import Counts, Store, normalise_address, replay_journals

log = logging.getLogger(__name__)

__all__ = ["ALL_TOPICS", "IssueSummary", "SendReport", "list_issues", "secret_key", "send_test",
           "send_to_subscribers", "variant_of"]


@dataclass
class SendReport:
    digest: str
    key: str
    subject: str = ""
    sent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)  # went out, no reply: resent only when asked
    skipped: int = 0
    already: int = 0           # recipients that had it before this run
    variants: dict[str, int] = field(default_factory=dict)  # variant -> recipients (dry run / plan)
    remaining: int = 0         # still to send after this run (queued, claimed elsewhere, transient failures)
    elsewhere: int = 0         # of those, being sent right now by another process
    interrupted: bool = False
    nothing: str | None = None  # why nothing was sent at all
    check: Report | None = None  # the checks of the issue as sent, run once before sending
    complete: bool = False     # no row is left to send: this send finished the issue (one send says so)
    issue_sent: int = 0        # recipients that have the issue, by any send (when complete)
    workers: list[WorkerResult] = field(default_factory=list)  # with workers > 1: what each worker process did


def secret_key(store: Store) -> bytes:
    """The token key: $NEWSLETTER_SECRET_KEY, else one made once and kept in the store."""
    env = os.environ.get("NEWSLETTER_SECRET_KEY")
    if env:
        return env.encode("utf-8")
    # Two sends starting together must not each make a key: one would sign tokens the other's replaces.
    return bytes.fromhex(store.get_meta("secret_key") or store.meta_or_default("secret_key",
                                                                             lambda: secrets.token_hex(32)))


def _issue_for_sending(config: Config, store: Store, digest: Digest, slot: IssueSlot, now: datetime,
                       record: bool) -> tuple[Issue | None, str | None]:
    """The recorded issue, built first when it does not exist yet (or, until sending begins, when its
    draft file may have changed); or (None, why) when there is nothing.

    Without `record` (a dry run, a test copy) an issue not recorded yet is planned as build
    would make it, and nothing is written.
    """
    issue = store.get_issue(digest.name, slot.key)
    if issue is not None and (sending_started(store, issue) or not draft_path(config, digest.name, slot.key).exists()):
        return issue, None
    if not record:
        plan = plan_issue(config, store, digest, slot)
        return (None, plan.skip_reason) if plan.skip_reason else (plan.issue, None)
    built = build_slot(config, store, digest, slot, now=now)
    if built.skipped:
        return None, built.reason
    return store.get_issue(digest.name, slot.key), None


def send_test(config: Config, digest_name: str | None, day: date | None, recipients: list[str], *,
              sync_first: bool = True, now: datetime | None = None, ssl_context=None) -> SendReport:
    """Send the issue to any addresses with a [TEST] subject; no issue, article or delivery is recorded."""
    addresses = [normalise_address(a) for a in recipients]
    digest = config.digest(digest_name)
    now = now or datetime.now(digest.timezone)
    slot = slot_for_date(digest, day or now.date())
    backend = backend_for(config, digest, slot.key, personal=True, ssl_context=ssl_context)
    with open_store(config) as store:
        if sync_first:
            sync(config, store)
        issue, why = _issue_for_sending(config, store, digest, slot, now, record=False)
    report = SendReport(digest=digest.name, key=slot.key, nothing=why)
    if issue is None:
        return report
    template = Templates(config, digest, issue, now, prefix="[TEST] ").get(issue.articles)
    report.subject = template.subject
    # A test copy is how an editor looks at an issue: it is checked, never refused.
    report.check = _check(config, digest, issue, now)
    sender = envelope_sender(config)
    messages = (outgoing(template, sender, a, None, a, "", template.new_message_id()) for a in addresses)

    def done(result) -> None:
        if result.ok:
            report.sent += 1
        else:
            report.failed.append((result.key, result.error or "refused"))

    backend.send_all(messages, done)
    return report


def send_to_subscribers(config: Config, digest_name: str | None, day: date | None = None, *, dry_run: bool = False,
                        confirm: Callable[[SendReport, int], bool] | None = None,
                        progress: Callable[[int, int], None] | None = None, stop: threading.Event | None = None,
                        sync_first: bool = True, now: datetime | None = None, slot: IssueSlot | None = None,
                        ssl_context=None, retry_unknown: bool = False, force: bool = False,
                        workers: int = 1, checked: bool = False) -> SendReport:
    """Send one issue to every active subscriber of the digest that has not had it yet.

    The issue is checked first (once, not per recipient); one with errors is refused with a
    CheckError unless `force`. A dry run reports the check and refuses nothing. With
    `workers` > 1, that many worker processes send it (see workers.py) and this one waits;
    `checked` (such a worker) says its parent has checked the issue already.
    """
    digest = config.digest(digest_name)
    now = now or datetime.now(digest.timezone)
    slot = slot or slot_for_date(digest, day or now.date())
    if not dry_run:
        require_way_out(config)
    backend = None if dry_run else backend_for(config, digest, slot.key, personal=True, ssl_context=ssl_context)
    with open_store(config) as store:
        if sync_first:
            sync(config, store)
        if not dry_run:  # results an earlier send could not record come first
            replay_journals(store.ledger, journal_folder(config))
        issue, why = _issue_for_sending(config, store, digest, slot, now, record=not dry_run)
        report = SendReport(digest=digest.name, key=slot.key, nothing=why)
        if issue is None:
            return report
        rendered = compose.render(issue, digest, config)
        report.subject = issue.subject or rendered.subject  # an issue not built yet (a dry run) has none recorded
        report.check = None if checked else check_rendered(config, digest, rendered, issue.key, now)
        if dry_run:
            report.remaining = _plan(store, issue, digest, report)
            report.already = _counts(store, issue).sent
            return report
        store.ledger.close_departed(issue.id, digest.name)
        store.ledger.queue_missing(issue.id, digest.name)
        counts = _counts(store, issue)
        report.already = counts.sent
        todo = counts.open + (counts.unknown if retry_unknown else 0)
        if not todo:
            report.skipped = counts.skipped
            report.nothing = (f"issue {digest.name} {slot.key} is fully sent ({report.already} recipients); "
                              "nothing to send" if not counts.unknown else
                              f"issue {digest.name} {slot.key}: nothing left to send ({report.already} sent)"
                              + _unknown_note(counts.unknown))
            return report
        if not (force or checked):
            refuse_errors(report.check, digest, issue.key)
        # The count asked about is the dry run's: messages that will go out (not those skipped for their topics).
        if confirm is not None and not confirm(report, _plan(store, issue, digest, report)
                                               + (counts.unknown if retry_unknown else 0)):
            report.nothing = "not confirmed; nothing sent"
            return report
        keep_as_sent(config, store, digest, issue, now)
        try:
            if workers > 1:
                secret_key(store)  # made once here, not raced for by the workers
                report.workers = run_workers(config, store, digest, issue, slot, workers, todo=todo,
                                             progress=progress, stop=stop, retry_unknown=retry_unknown)
                for worker in report.workers:
                    report.sent += worker.sent
                    report.failed += worker.failed
                    report.unknown += worker.unknown
            else:
                deliver_issue(config, store, digest, issue, backend, key=secret_key(store), now=now,
                              tally=Tally(report, todo, progress), stop=stop, retry_unknown=retry_unknown)
        finally:
            report.interrupted = bool(stop and stop.is_set())
            counts = _counts(store, issue)
            report.remaining, report.skipped = counts.open, counts.skipped
            report.elsewhere = counts.claimed
            if not counts.open and not report.interrupted:
                report.issue_sent = counts.sent
                report.complete = workers > 1 or _last_to_finish(store, issue, counts)
        return report


def _last_to_finish(store: Store, issue: Issue, counts: Counts) -> bool:
    """Whether this send is the one to say the issue is complete: of several that find nothing left, the first.

    Keyed by the number of rows, so the issue completed again later (for subscribers who joined
    since) is said to be once more.
    """
    me = secrets.token_hex(8)
    rows = counts.sent + counts.failed + counts.skipped + counts.unknown
    return store.meta_or_default(f"issue-complete:{issue.id}:{rows}", lambda: me) == me


def _plan(store: Store, issue: Issue, digest: Digest, report: SendReport) -> int:
    """Who has yet to get the issue, by topic variant (into report.variants); how many will get a message."""
    recipients = 0
    for person in store.ledger.to_send(issue.id, digest.name):
        variant, items = variant_of(person, issue.articles)
        label = (variant or "all topics") + ("" if items else " (nothing in their topics)")
        report.variants[label] = report.variants.get(label, 0) + 1
        recipients += bool(items)
    return recipients


def _unknown_note(unknown: int) -> str:
    if not unknown:
        return ""
    return (f"; {unknown} deliver{'y is' if unknown == 1 else 'ies are'} unknown (the server never answered): "
            "send --retry-unknown sends those again")


def _check(config: Config, digest: Digest, issue: Issue, now: datetime) -> Report:
    """The checks of the whole issue (every item), as a subscriber without topics gets it."""
    return check_rendered(config, digest, compose.render(issue, digest, config), issue.key, now)


def _counts(store: Store, issue: Issue) -> Counts:
    return store.ledger.counts([issue.id]).get(issue.id, Counts()) if issue.id is not None else Counts()


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
    claimed: int
    unknown: int
    error: str | None
    cutoff: datetime | None = None


def list_issues(config: Config, digest_name: str | None = None) -> list[IssueSummary]:
    """Recorded issues, newest first, with their delivery counts per state."""
    if digest_name is not None:
        config.digest(digest_name)
    with open_store(config) as store:
        issues = store.list_issues(digest_name)
        counts = store.ledger.counts([i.id for i in issues])
        out = []
        for i in issues:
            c = counts.get(i.id, Counts())
            digest = config.digests.get(i.digest)
            # An outbox digest's issue waits for nobody unless someone has started sending it.
            mails = i.id in counts or (digest is not None and delivers_personally(digest))
            waiting = store.ledger.not_queued(i.id, i.digest) if mails else 0
            out.append(IssueSummary(i.digest, i.key, i.issue_date, i.subject, store.issue_size(i.id), c.sent,
                                    c.failed, c.skipped, c.queued + waiting, c.claimed, c.unknown, i.error, i.cutoff))
        return out
