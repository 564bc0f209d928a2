"""The delivery ledger: one row per issue and subscriber, committed as each result happens."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

import sqlalchemy as sa

from newsletter.store.tables import deliveries, subscriber_digests, subscribers

QUEUED, SENT, FAILED, SKIPPED = "queued", "sent", "failed", "skipped"


@dataclass(frozen=True)
class Pending:
    delivery_id: int
    subscriber_id: int
    email: str
    name: str | None
    variant: str


@dataclass
class Counts:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    queued: int = 0


# One statement for a whole batch (executemany): building a statement per row cost a third
# of the sending time.
_RECORD = deliveries.update().where(deliveries.c.id == sa.bindparam("r_id")).values(
    status=sa.bindparam("r_status"), attempts=deliveries.c.attempts + sa.bindparam("r_attempts"),
    last_error=sa.bindparam("r_error"), message_id=sa.bindparam("r_message_id"),
    permanent=sa.bindparam("r_permanent"), updated=sa.bindparam("r_updated"))


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Ledger:
    """Who got which issue: queued, sent, failed (permanent or not) or skipped."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def queue(self, issue_id: int, rows: Iterable[tuple[int, str, str, str | None]]) -> int:
        """Add (subscriber id, status, variant, reason) rows for subscribers the issue has no row for yet."""
        with self.engine.begin() as conn:
            have = set(conn.execute(sa.select(deliveries.c.subscriber_id)
                                    .where(deliveries.c.issue_id == issue_id)).scalars())
            now = _now()
            new = [dict(issue_id=issue_id, subscriber_id=sid, status=status, variant=variant, last_error=reason,
                        attempts=0, permanent=False, updated=now)
                   for sid, status, variant, reason in rows if sid not in have]
            if new:
                conn.execute(deliveries.insert(), new)
            return len(new)

    def known(self, issue_id: int) -> set[int]:
        """Subscriber ids the issue already has a row for."""
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(deliveries.c.subscriber_id)
                                    .where(deliveries.c.issue_id == issue_id)).scalars())

    def pending(self, issue_id: int) -> list[Pending]:
        """Rows still to send: queued, or failed for a reason a new attempt may cure; active subscribers only."""
        q = (sa.select(deliveries.c.id, deliveries.c.subscriber_id, subscribers.c.email, subscribers.c.name,
                       deliveries.c.variant)
             .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
             .where(deliveries.c.issue_id == issue_id, subscribers.c.status == "active",
                    sa.or_(deliveries.c.status == QUEUED,
                           sa.and_(deliveries.c.status == FAILED, deliveries.c.permanent.is_(False))))
             .order_by(deliveries.c.id))
        with self.engine.connect() as conn:
            return [Pending(r.id, r.subscriber_id, r.email, r.name, r.variant or "") for r in conn.execute(q)]

    def record(self, delivery_id: int, status: str, *, attempts: int, error: str | None = None,
               message_id: str | None = None, permanent: bool = False) -> None:
        """Commit one result at once: a re-run after a crash sends only what is not recorded as sent."""
        self.record_many([dict(delivery_id=delivery_id, status=status, attempts=attempts, error=error,
                               message_id=message_id, permanent=permanent)])

    def record_many(self, results: list[dict]) -> None:
        """Commit several results in one transaction (one fsync)."""
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(_RECORD, [dict(r_id=r["delivery_id"], r_status=r["status"], r_attempts=r["attempts"],
                                        r_error=r["error"], r_message_id=r["message_id"], r_permanent=r["permanent"],
                                        r_updated=now) for r in results])

    def counts(self, issue_ids: Iterable[int] | None = None) -> dict[int, Counts]:
        """Per issue: how many rows are sent, failed, skipped and queued."""
        q = sa.select(deliveries.c.issue_id, deliveries.c.status, sa.func.count()).group_by(
            deliveries.c.issue_id, deliveries.c.status)
        if issue_ids is not None:
            q = q.where(deliveries.c.issue_id.in_(list(issue_ids)))
        out: dict[int, Counts] = {}
        with self.engine.connect() as conn:
            for issue_id, status, n in conn.execute(q):
                setattr(out.setdefault(issue_id, Counts()), status, n)
        return out

    def failures(self, issue_id: int) -> list[tuple[str, str]]:
        """(address, last error) of the failed rows of an issue."""
        q = (sa.select(subscribers.c.email, deliveries.c.last_error)
             .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
             .where(deliveries.c.issue_id == issue_id, deliveries.c.status == FAILED).order_by(subscribers.c.email))
        with self.engine.connect() as conn:
            return [(r.email, r.last_error or "") for r in conn.execute(q)]

    def not_queued(self, issue_id: int, digest: str) -> int:
        """Active subscribers of the digest that the issue has no row for yet."""
        q = (sa.select(sa.func.count()).select_from(subscribers)
             .join(subscriber_digests, subscriber_digests.c.subscriber_id == subscribers.c.id)
             .where(subscriber_digests.c.digest == digest, subscribers.c.status == "active",
                    ~sa.exists(sa.select(deliveries.c.id).where(deliveries.c.issue_id == issue_id,
                                                                deliveries.c.subscriber_id == subscribers.c.id))))
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()


class GroupCommit:
    """Records results from several sending threads, each caller waiting until its row is on disk.

    A durable commit costs one fsync (about 2 ms here), which would cap a send near 500
    messages a second. Results that arrive while one commit runs go into the next, together,
    so each connection still waits for its own row before it sends again (at most one message
    per connection is ever sent but unrecorded) while the fsyncs are shared.
    """

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self.thread.start()

    def record(self, delivery_id: int, status: str, *, attempts: int, error: str | None = None,
               message_id: str | None = None, permanent: bool = False) -> None:
        """Commit one result (with whatever else is waiting) and return once it is on disk."""
        done = threading.Event()
        box: list[BaseException] = []
        self.queue.put((dict(delivery_id=delivery_id, status=status, attempts=attempts, error=error,
                             message_id=message_id, permanent=permanent), done, box))
        done.wait()
        if box:
            raise box[0]

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            try:
                self.ledger.record_many([row for row, _, _ in batch])
            except BaseException as exc:  # the callers raise it in their own threads
                for _, _, box in batch:
                    box.append(exc)
            for _, done, _ in batch:
                done.set()
