"""The send loop of one issue: claim a batch of ledger rows, compose each one's message, deliver, record.

Every message goes out only for a row this process has claimed, and each connection waits
until its result is durable before it sends again (store/claims.py). Subscribers who join
during the send are queued once more when the claims run dry, so they get it in this run;
those who join after that are left for the next run. Nothing is ever sent unrecorded.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from email.utils import parseaddr
from typing import Callable, Iterator

from newsletter import compose
from newsletter.config import Config, Digest
from newsletter.deliver import Outgoing, PersonalBackend, Result
from newsletter.model import Article, Issue, Subscriber, slugify
from newsletter.pipeline.common import journal_folder, sending
from newsletter.store import (FAILED, SENT, SKIPPED, UNKNOWN, Journal, LedgerSession, Outcome, Pending, Store,
                              new_worker_id)
from newsletter.tokens import make_token

log = logging.getLogger(__name__)

ALL_TOPICS = ""  # the variant of subscribers without topics: the whole issue
# Rows per claim: small at first (two per connection: with a slow relay, seconds of work), so
# that several senders starting together all get some and none holds a long tail of rows while
# the others sit idle; then about CLAIM_SECONDS of sending at the rate measured, so that the
# database is never the bottleneck of a fast one.
CLAIM_PER_CONNECTION, CLAIM_MAX, CLAIM_SECONDS = 2, 500, 1.0


def variant_of(subscriber: Subscriber | Pending, articles: tuple[Article, ...]) -> tuple[str, tuple[Article, ...]]:
    """A subscriber's topic variant: (its key, the issue's items in their topics), or the whole issue."""
    if not subscriber.topics:
        return ALL_TOPICS, articles
    slugs = {slugify(t) for t in subscriber.topics}
    return ",".join(sorted(slugs)), tuple(a for a in articles if not slugs.isdisjoint(a.topic_slugs))


def envelope_sender(config: Config) -> str:
    return parseaddr(config.sender)[1]


class Templates:
    """One rendered, inlined message template per distinct list of articles: never one per recipient."""

    def __init__(self, config: Config, digest: Digest, issue: Issue, now: datetime, prefix: str = ""):
        self.config, self.digest, self.issue, self.now, self.prefix = config, digest, issue, now, prefix
        self.cache: dict[tuple[str, ...], compose.MessageTemplate] = {}

    def get(self, articles: tuple[Article, ...]) -> compose.MessageTemplate:
        key = tuple(a.id for a in articles)
        if key not in self.cache:
            # replace(): the editor's intro and subject go to every variant
            rendered = compose.render(replace(self.issue, articles=articles), self.digest, self.config)
            self.cache[key] = compose.MessageTemplate(rendered, self.config, self.digest, date=self.now,
                                                      subject_prefix=self.prefix)
        return self.cache[key]


def outgoing(template: compose.MessageTemplate, sender: str, key: object, name: str | None, address: str,
             token: str, message_id: str) -> Outgoing:
    """One recipient's message, the envelope address with its domain in IDNA."""
    envelope, smtputf8 = compose.ascii_address(address)
    data = template.personal((name, address), token, message_id)
    return Outgoing(key=key, sender=sender, recipients=(envelope,), data=data, smtputf8=smtputf8)


class Tally:
    """What a send did, updated from several threads."""

    def __init__(self, report, total: int, progress: Callable[[int, int], None] | None):
        self.report, self.total, self.progress = report, total, progress
        self.lock = threading.Lock()
        self.done = 0

    def add(self, outcome: Outcome, email: str) -> None:
        with self.lock:
            if outcome.status == SENT:
                self.report.sent += 1
            elif outcome.status == FAILED:
                self.report.failed.append((email, outcome.error or "refused"))
            elif outcome.status == UNKNOWN:
                self.report.unknown.append((email, outcome.error or "no reply"))
            self.done += 1
            if self.progress:
                self.progress(self.done, self.total)


def deliver_issue(config: Config, store: Store, digest: Digest, issue: Issue, backend: PersonalBackend, *,
                  key: bytes, now: datetime, tally: Tally, stop: threading.Event | None,
                  retry_unknown: bool) -> None:
    """Send the issue to every row this process can claim, until none is left (or `stop`)."""
    settings = sending(config)
    worker = new_worker_id()
    session = LedgerSession(store.ledger, issue.id, digest.name, lease=settings.lease,
                            patience=settings.ledger_timeout, journal=Journal.create(journal_folder(config), worker),
                            worker=worker, started=datetime.now(timezone.utc).replace(tzinfo=None),
                            retry_unknown=retry_unknown)
    templates = Templates(config, digest, issue, now)
    sender = envelope_sender(config)
    by_topics: dict[tuple[str, ...], compose.MessageTemplate | None] = {}
    smallest = min(CLAIM_PER_CONNECTION * settings.connections, CLAIM_MAX)

    def record(outcome: Outcome, email: str) -> None:
        session.record(outcome)
        tally.add(outcome, email)

    def message_for(row: Pending) -> Outgoing | None:
        if row.topics not in by_topics:  # a template error stops the run: it is the editor's, not the row's
            items = variant_of(row, issue.articles)[1]
            by_topics[row.topics] = templates.get(items) if items else None
        template = by_topics[row.topics]
        if template is None:
            record(Outcome(row.delivery_id, SKIPPED, error="none of the issue's items is in their topics "
                                                              f"({', '.join(row.topics)})"), row.email)
            return None
        try:
            message_id = template.new_message_id()
            return outgoing(template, sender, (row.delivery_id, row.email, message_id), row.name, row.email,
                            make_token(key, row.subscriber_id, digest.name, row.salt), message_id)
        except Exception as exc:  # whatever it is, it is this subscriber's alone: the others still get theirs
            log.warning("cannot compose the message to %s: %s", row.email, exc)
            record(Outcome(row.delivery_id, FAILED, error=f"cannot compose the message: {exc}", permanent=True),
                   row.email)
            return None

    def messages() -> Iterator[Outgoing]:
        requeued, size = False, smallest
        claimed = session.claim_soon(size)
        while not (stop and stop.is_set()):
            started, rows = time.monotonic(), claimed()
            if not rows:
                if requeued or not store.ledger.queue_missing(issue.id, digest.name):
                    return
                requeued = True  # subscribers who joined during the send
                claimed = session.claim_soon(size)
                continue
            claimed = None
            for i, row in enumerate(rows):
                if stop and stop.is_set():
                    return
                if i == len(rows) // 2:  # the next batch is claimed while this one goes out
                    claimed = session.claim_soon(size)
                message = message_for(row)
                if message is not None:
                    yield message
            claimed = claimed or session.claim_soon(size)
            rate = len(rows) / max(time.monotonic() - started, 1e-3)
            size = min(max(smallest, int(rate * CLAIM_SECONDS)), CLAIM_MAX)

    def on_result(result: Result) -> None:
        # Called by each connection's thread once the server has answered; it returns only
        # when the row is durable, so that connection never has two unrecorded messages.
        delivery_id, email, message_id = result.key
        status = SENT if result.ok else UNKNOWN if result.unknown else FAILED
        record(Outcome(delivery_id, status, result.attempts, result.error,
                       message_id if status in (SENT, UNKNOWN) else None, result.permanent), email)

    try:
        backend.send_all(messages(), on_result, stop, lambda message: session.may_send(message.key[0]))
    finally:
        session.close()
