"""The delivery ledger: one row per issue and subscriber, committed as each result happens."""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Iterator

import sqlalchemy as sa

from newsletter.store.engine import writing
from newsletter.store.tables import deliveries, subscriber_digests, subscribers

QUEUED, SENT, FAILED, SKIPPED = "queued", "sent", "failed", "skipped"


@dataclass(frozen=True)
class Pending:
    """A subscriber still to be sent an issue, and their ledger row (None until queued)."""

    delivery_id: int | None
    subscriber_id: int
    email: str
    name: str | None
    topics: tuple[str, ...]


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


def _active_members(digest: str):
    return (sa.select(subscribers.c.id)
            .join(subscriber_digests, subscriber_digests.c.subscriber_id == subscribers.c.id)
            .where(subscriber_digests.c.digest == digest, subscriber_digests.c.status == "active",
                   subscribers.c.status == "active"))


def _open_row():
    """A row a run still has to act on: queued, or failed for a reason a new attempt may cure."""
    return sa.or_(deliveries.c.status == QUEUED,
                  sa.and_(deliveries.c.status == FAILED, deliveries.c.permanent.is_(False)))


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Ledger:
    """Who got which issue: queued, sent, failed (permanent or not) or skipped."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.writer = writing(engine)

    def queue_missing(self, issue_id: int, digest: str) -> None:
        """Queue a row for every active subscriber of the digest that the issue has none for yet."""
        member = _active_members(digest).where(
            ~sa.exists(sa.select(deliveries.c.id).where(deliveries.c.issue_id == issue_id,
                                                        deliveries.c.subscriber_id == subscribers.c.id)))
        with self.writer.begin() as conn:
            # In the database, not through Python: the list can be as long as it likes.
            conn.execute(deliveries.insert().from_select(
                ["subscriber_id", "issue_id", "status", "attempts", "permanent", "updated"],
                member.with_only_columns(subscribers.c.id, sa.literal(issue_id), sa.literal(QUEUED), sa.literal(0),
                                         sa.literal(False), sa.literal(_now(), sa.DateTime))))

    def close_departed(self, issue_id: int, digest: str) -> None:
        """Rows still open for subscribers who have since unsubscribed or left the digest: skipped."""
        still = sa.select(subscriber_digests.c.subscriber_id).join(
            subscribers, subscribers.c.id == subscriber_digests.c.subscriber_id).where(
            subscriber_digests.c.digest == digest, subscriber_digests.c.status == "active",
            subscribers.c.status == "active")
        with self.writer.begin() as conn:
            conn.execute(deliveries.update().where(
                deliveries.c.issue_id == issue_id, _open_row(), deliveries.c.subscriber_id.not_in(still)).values(
                status=SKIPPED, last_error="no longer subscribed to this digest", updated=_now()))

    def to_send(self, issue_id: int | None, digest: str, page: int = 500) -> Iterator[Pending]:
        """Active subscribers of the digest without a final row for the issue, a page at a time."""
        last = 0
        while True:
            q = (sa.select(subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.topics,
                           deliveries.c.id.label("delivery_id"))
                 .join(subscriber_digests, subscriber_digests.c.subscriber_id == subscribers.c.id)
                 .outerjoin(deliveries, sa.and_(deliveries.c.subscriber_id == subscribers.c.id,
                                                deliveries.c.issue_id == (issue_id if issue_id is not None else -1)))
                 .where(subscriber_digests.c.digest == digest, subscriber_digests.c.status == "active",
                        subscribers.c.status == "active",
                        subscribers.c.id > last, sa.or_(deliveries.c.id.is_(None), _open_row()))
                 .order_by(subscribers.c.id).limit(page))
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for r in rows:
                yield Pending(r.delivery_id, r.id, r.email, r.name, tuple(json.loads(r.topics)))
            last = rows[-1].id

    def record(self, delivery_id: int, status: str, *, attempts: int, error: str | None = None,
               message_id: str | None = None, permanent: bool = False) -> None:
        """Commit one result at once: a re-run after a crash sends only what is not recorded as sent."""
        self.record_many([dict(delivery_id=delivery_id, status=status, attempts=attempts, error=error,
                               message_id=message_id, permanent=permanent)])

    def record_many(self, results: list[dict]) -> None:
        """Commit several results in one transaction (one fsync)."""
        now = _now()
        with self.writer.begin() as conn:
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

    def count_open(self, issue_id: int) -> int:
        """Rows of the issue still to act on (queued, or failed for a reason a new attempt may cure)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(deliveries)
                                .where(deliveries.c.issue_id == issue_id, _open_row())).scalar()

    def not_queued(self, issue_id: int, digest: str) -> int:
        """Active subscribers of the digest that the issue has no row for yet."""
        q = (sa.select(sa.func.count()).select_from(subscribers)
             .join(subscriber_digests, subscriber_digests.c.subscriber_id == subscribers.c.id)
             .where(subscriber_digests.c.digest == digest, subscriber_digests.c.status == "active",
                    subscribers.c.status == "active",
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
