"""The delivery ledger: one row per issue and subscriber, claimed before its message goes out.

A row moves queued -> claimed -> sent | failed | unknown | skipped:

- queued: to send. A run queues every active subscriber of the digest that has no row yet.
- claimed: a sending process holds it (`claimed_by`, until `lease_until`, which the holder
  keeps renewing). A claim is taken in one statement, so two senders never hold one row; a
  claim whose lease ran out (its holder died) may be taken over.
- sent: the server accepted the message.
- failed: refused. `permanent` for a 5xx, never retried; otherwise `retry_after` is the time
  of the failure, and any run that starts after it retries the row (never the run that
  failed it, which has already retried it as often as [smtp] retries allows).
- unknown: the message went out but no reply came; it may have arrived, so it is only resent
  when asked (`send --retry-unknown`).
- skipped: nothing of the issue is in the subscriber's topics, or they left the digest.

A result is written only while the row is still claimed by the process that sent it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Iterator, Sequence

import sqlalchemy as sa

from newsletter.errors import StoreError
from newsletter.store.engine import writing
from newsletter.store.tables import CHUNK, OPEN_DELIVERY, deliveries, subscriber_digests, subscribers

QUEUED, CLAIMED, SENT, FAILED, UNKNOWN, SKIPPED = "queued", "claimed", "sent", "failed", "unknown", "skipped"
DEPARTED = "no longer subscribed to this digest"  # why a row was skipped: its subscriber left
ANALYZE_AFTER = 5_000  # rows queued at once after which PostgreSQL's statistics are brought up to date
ANALYZE_LOCK_WAIT_MS = 2_000  # how long that waits for another process's maintenance lock before giving up

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    """A subscriber to send an issue to, and their ledger row (None until queued)."""

    delivery_id: int | None
    subscriber_id: int
    email: str
    name: str | None
    topics: tuple[str, ...]
    salt: str = ""


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed row."""

    delivery_id: int
    status: str  # SENT, FAILED, UNKNOWN or SKIPPED
    attempts: int = 0
    error: str | None = None
    message_id: str | None = None
    permanent: bool = False

    def as_dict(self) -> dict:
        return dict(delivery_id=self.delivery_id, status=self.status, attempts=self.attempts, error=self.error,
                    message_id=self.message_id, permanent=self.permanent)


@dataclass
class Counts:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    queued: int = 0
    claimed: int = 0
    unknown: int = 0
    retryable: int = 0  # of the failed: transient ones, which a later run retries

    @property
    def open(self) -> int:
        """Rows some run still has to act on (unknown ones only when asked)."""
        return self.queued + self.claimed + self.retryable


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _active_members(digest: str):
    return (sa.select(subscribers.c.id)
            .join(subscriber_digests, subscriber_digests.c.subscriber_id == subscribers.c.id)
            .where(subscriber_digests.c.digest == digest, subscriber_digests.c.status == "active",
                   subscribers.c.status == "active"))


def _retryable():
    return sa.and_(deliveries.c.status == FAILED, deliveries.c.permanent.is_(False))


def _open_row():
    """A row a run still has to act on: queued, claimed, or failed for a reason a new attempt may cure."""
    return sa.or_(deliveries.c.status.in_([QUEUED, CLAIMED]), _retryable())


def _in_open_index():
    """The condition of ix_deliveries_open, word for word, so that the query reads that index (rows to act on)
    instead of every row of the issue; true of every row the conditions beside it select."""
    return sa.text(f"({OPEN_DELIVERY})")


def _chosen(conn: sa.Connection, issue_id: int, digest: str, limit: int, now: datetime, started: datetime,
            dead: Sequence[str], retry_unknown: bool):
    """The first `limit` claimable rows of the issue, as a condition on the id.

    Read from ix_deliveries_open in id order. Whether a queued row's subscriber is still in the
    digest is checked after the claim: checked inside it, PostgreSQL, with statistics taken before
    a large import, drove the claim from the whole member list (two seconds a claim at 200,000
    subscribers), and SQLite read that list at every claim.
    """
    eligible = (sa.select(deliveries.c.id)
                # A range, not `issue_id = X`, and ordered by both columns: only ix_deliveries_open gives
                # that order, so the claim reads it. Given equality, PostgreSQL may walk the primary key past
                # the rows already sent, which its statistics cannot tell apart from the rest.
                .where(deliveries.c.issue_id.between(issue_id, issue_id), _in_open_index(),
                       _claimable(now, started, dead, retry_unknown, digest))
                .order_by(deliveries.c.issue_id, deliveries.c.id).limit(limit)
                # PostgreSQL: concurrent claimers skip each other's rows instead of waiting for
                # them; SQLite ignores it, its write lock already serialises the claims.
                .with_for_update(skip_locked=True)).scalar_subquery()
    if conn.dialect.name == "postgresql":
        # The ids as one array, looked up by primary key. Given `IN (subquery)` PostgreSQL joined
        # them against a scan of the whole ledger once the table was small enough to make that look cheap.
        return deliveries.c.id == sa.any_(sa.func.array(eligible))
    return deliveries.c.id.in_(eligible)


def _claimable(now: datetime, started: datetime, dead: Sequence[str], retry_unknown: bool, digest: str):
    """The rows a run that started at `started` may claim at `now`.

    Queued and failed rows are claimed whoever they are for, and skipped after the claim if their
    subscriber has left (see Ledger.claim). A taken-over claim or an unknown delivery may have gone
    out already, so it is left as it is (for a journal to record) unless its subscriber is still in.
    """
    expired = deliveries.c.lease_until < now
    if dead:  # holders on this machine whose process is gone: no need to wait for their lease
        expired = sa.or_(expired, deliveries.c.claimed_by.in_(list(dead)))
    which = [deliveries.c.status == QUEUED,
             sa.and_(_retryable(), sa.or_(deliveries.c.retry_after.is_(None), deliveries.c.retry_after < started)),
             sa.and_(deliveries.c.status == CLAIMED, expired, _still_member(digest))]
    if retry_unknown:
        which.append(sa.and_(deliveries.c.status == UNKNOWN, deliveries.c.updated < started, _still_member(digest)))
    return sa.or_(*which)


def _still_member(digest: str):
    """The row's subscriber is still active in the digest: a look-up per row, for the few rows of the kinds
    above. A scalar subquery with LIMIT: as EXISTS, PostgreSQL hashed the whole member list to check one row."""
    return (_active_members(digest).where(subscribers.c.id == deliveries.c.subscriber_id)
            .limit(1).scalar_subquery().is_not(None))


# SQLite: one statement for a whole batch (executemany): building a statement per row cost a third
# of the sending time. The claim condition makes a late result of a lost claim change nothing.
_RECORD = deliveries.update().where(
    deliveries.c.id == sa.bindparam("r_id"), deliveries.c.claimed_by == sa.bindparam("r_worker"),
    deliveries.c.status == CLAIMED,
).values(status=sa.bindparam("r_status"), attempts=deliveries.c.attempts + sa.bindparam("r_attempts"),
         last_error=sa.bindparam("r_error"), message_id=sa.bindparam("r_message_id"),
         permanent=sa.bindparam("r_permanent"), retry_after=sa.bindparam("r_retry_after"),
         claimed_by=None, lease_until=None, updated=sa.bindparam("r_updated"))

# PostgreSQL: one statement for the whole batch, the results passed as arrays. An executemany
# goes through the driver's pipeline mode, whose bookkeeping cost the ledger writer of a send
# (which shares the process with the sending connections) more CPU than the statement itself.
# The rows are found by id; the holder is only checked. Written `claimed_by = :worker`, the planner
# read every row the worker holds through ix_deliveries_claimed_by (its statistics, taken before the
# send, said hardly any) and matched the ids against each: a scan of a whole claim per result.
_RECORD_PG = sa.text(f"""
UPDATE deliveries AS d
   SET status = v.status, attempts = d.attempts + v.attempts, last_error = v.error, message_id = v.message_id,
       permanent = v.permanent, claimed_by = NULL, lease_until = NULL, updated = :now,
       retry_after = CASE WHEN v.status = '{FAILED}' AND NOT v.permanent THEN CAST(:now AS timestamp) END
  FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS text[]), CAST(:attempts AS integer[]),
              CAST(:errors AS text[]), CAST(:message_ids AS text[]), CAST(:permanents AS boolean[]))
       AS v(id, status, attempts, error, message_id, permanent)
 WHERE d.id = v.id AND COALESCE(d.claimed_by, '') = :worker AND d.status = '{CLAIMED}'""")


class Ledger:
    """Who got which issue, and who is sending it right now."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.writer = writing(engine)

    # -- queueing -------------------------------------------------------------

    def queue_missing(self, issue_id: int, digest: str) -> int:
        """Queue a row for every active subscriber of the digest that the issue has none for yet; how many."""
        member = _active_members(digest).where(
            ~sa.exists(sa.select(deliveries.c.id).where(deliveries.c.issue_id == issue_id,
                                                        deliveries.c.subscriber_id == subscribers.c.id)))
        columns = ["subscriber_id", "issue_id", "status", "attempts", "permanent", "updated"]
        rows = member.with_only_columns(subscribers.c.id, sa.literal(issue_id), sa.literal(QUEUED), sa.literal(0),
                                        sa.literal(False), sa.literal(_now(), sa.DateTime))
        with self.writer.begin() as conn:
            # In the database, not through Python: the list can be as long as it likes. SQLite runs
            # this under its write lock (BEGIN IMMEDIATE), so two runs queueing at once cannot both
            # insert a row; PostgreSQL lets them race, and the loser's duplicates are dropped.
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert

                statement = insert(deliveries).from_select(columns, rows).on_conflict_do_nothing(
                    index_elements=["issue_id", "subscriber_id"])
            else:
                statement = deliveries.insert().from_select(columns, rows)
            # Without preserve_rowcount SQLAlchemy gives -1 for an INSERT on PostgreSQL.
            queued = conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount
        if queued >= ANALYZE_AFTER and self.engine.dialect.name == "postgresql":
            self._analyze()
        return queued

    def _analyze(self) -> None:
        """Fresh PostgreSQL statistics for the tables a send reads. Autovacuum takes them a minute or so after
        a large change; meanwhile the planner, which believed the issue had no rows, sorted all 200,000 of a
        new issue at every claim (150 ms each), and read all memberships to find 500 subscribers."""
        try:
            with self.writer.begin() as conn:
                # Not behind a vacuum, an index build or a migration elsewhere: the send would wait with it.
                conn.execute(sa.text(f"SET LOCAL lock_timeout = {ANALYZE_LOCK_WAIT_MS}"))
                conn.execute(sa.text("ANALYZE deliveries, subscribers, subscriber_digests"))
        except (sa.exc.SQLAlchemyError, StoreError) as exc:  # only slower without them
            log.warning("could not update the database's statistics (%s); claims may be slow until autovacuum "
                        "does", exc)

    def close_departed(self, issue_id: int, digest: str) -> None:
        """Rows still to send for subscribers who have since unsubscribed or left the digest: skipped."""
        with self.writer.begin() as conn:
            conn.execute(deliveries.update().where(
                deliveries.c.issue_id == issue_id, sa.or_(deliveries.c.status == QUEUED, _retryable()),
                deliveries.c.subscriber_id.not_in(_active_members(digest))).values(
                status=SKIPPED, last_error=DEPARTED, updated=_now()))

    # -- claims ----------------------------------------------------------------

    def claim(self, issue_id: int, digest: str, worker: str, limit: int, *, lease_until: datetime,
              started: datetime, dead: Sequence[str] = (), retry_unknown: bool = False) -> list[Pending]:
        """Claim up to `limit` rows of the issue for `worker`, atomically; the rows with their subscribers.

        Queued or failed rows whose subscriber has left the digest since the send began are skipped
        on the way, as close_departed skips them at its start; when a whole batch had left, all such
        rows of the issue are skipped at once. [] means none is left to claim."""
        while True:
            now = _now()
            with self.writer.begin() as conn:
                claimed = dict(conn.execute(
                    deliveries.update().where(_chosen(conn, issue_id, digest, limit, now, started, dead,
                                                      retry_unknown))
                    .values(status=CLAIMED, claimed_by=worker, lease_until=lease_until, updated=now)
                    .returning(deliveries.c.id, deliveries.c.subscriber_id)).all())
                if not claimed:
                    return []
                people = {r.id: r for r in conn.execute(
                    _active_members(digest).with_only_columns(
                        subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.topics,
                        subscribers.c.salt).where(subscribers.c.id.in_(list(claimed.values()))))}
                # Only queued and failed rows can be among them (see _claimable).
                departed = [delivery_id for delivery_id, sid in claimed.items() if sid not in people]
                if departed:
                    conn.execute(deliveries.update().where(deliveries.c.id.in_(departed)).values(
                        status=SKIPPED, last_error=DEPARTED, claimed_by=None, lease_until=None, updated=now))
            pending = [Pending(delivery_id, sid, people[sid].email, people[sid].name,
                               tuple(json.loads(people[sid].topics)), people[sid].salt)
                       for delivery_id, sid in sorted(claimed.items()) if sid in people]
            if pending:
                return pending
            self.close_departed(issue_id, digest)  # a mass departure: not a batch at a time

    def holders(self, issue_id: int) -> list[str]:
        """The processes holding claims on the issue whose lease has not run out."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(deliveries.c.claimed_by).distinct().where(
                deliveries.c.issue_id == issue_id, deliveries.c.status == CLAIMED,
                deliveries.c.lease_until >= _now())).scalars())

    def renew(self, worker: str, lease_until: datetime) -> set[int]:
        """Extend the lease of every row `worker` still holds; the ids it still holds."""
        with self.writer.begin() as conn:
            return set(conn.execute(deliveries.update().where(
                deliveries.c.claimed_by == worker, deliveries.c.status == CLAIMED).values(
                lease_until=lease_until).returning(deliveries.c.id)).scalars())

    def release(self, worker: str) -> int:
        """Give back the rows `worker` claimed and never sent: queued again for the next run."""
        with self.writer.begin() as conn:
            return conn.execute(deliveries.update().where(
                deliveries.c.claimed_by == worker, deliveries.c.status == CLAIMED).values(
                status=QUEUED, claimed_by=None, lease_until=None, updated=_now())).rowcount

    # -- results ----------------------------------------------------------------

    def record_many(self, worker: str, outcomes: Sequence[Outcome]) -> int:
        """Write several results in one transaction (one fsync); how many rows `worker` still held."""
        now = _now()
        with self.writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                return conn.execute(_RECORD_PG, dict(
                    now=now, worker=worker, ids=[o.delivery_id for o in outcomes],
                    statuses=[o.status for o in outcomes], attempts=[o.attempts for o in outcomes],
                    errors=[o.error for o in outcomes], message_ids=[o.message_id for o in outcomes],
                    permanents=[o.permanent for o in outcomes])).rowcount
            return conn.execute(_RECORD, [dict(
                r_id=o.delivery_id, r_worker=worker, r_status=o.status, r_attempts=o.attempts, r_error=o.error,
                r_message_id=o.message_id, r_permanent=o.permanent,
                r_retry_after=now if o.status == FAILED and not o.permanent else None,
                r_updated=now) for o in outcomes]).rowcount

    def replay(self, worker: str, outcomes: Sequence[Outcome]) -> int:
        """Write results a process kept in its journal when the ledger could not take them; how many applied.

        Each is written only while its row is still claimed by that process, so replaying twice
        changes nothing. A message that went out (sent, unknown) is recorded even if the row was
        released, taken over or skipped because its subscriber left meanwhile: it did go out.
        """
        applied = self.record_many(worker, outcomes)
        gone = [o for o in outcomes if o.status in (SENT, UNKNOWN)]
        if gone:
            now = _now()
            with self.writer.begin() as conn:
                for o in gone:
                    applied += conn.execute(deliveries.update().where(
                        deliveries.c.id == o.delivery_id,
                        sa.or_(deliveries.c.status.in_([QUEUED, CLAIMED, FAILED]),
                               sa.and_(deliveries.c.status == SKIPPED, deliveries.c.last_error == DEPARTED)),
                        sa.or_(deliveries.c.claimed_by.is_(None), deliveries.c.claimed_by != worker)).values(
                        status=o.status, attempts=deliveries.c.attempts + o.attempts, last_error=o.error,
                        message_id=o.message_id, permanent=False, retry_after=None, claimed_by=None,
                        lease_until=None, updated=now)).rowcount
        return applied

    # -- reading ------------------------------------------------------------------

    def to_send(self, issue_id: int | None, digest: str, page: int = CHUNK) -> Iterator[Pending]:
        """Active subscribers of the digest without a final row for the issue, a page at a time (dry runs)."""
        last = 0
        while True:
            q = (sa.select(subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.topics,
                           subscribers.c.salt, deliveries.c.id.label("delivery_id"))
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
                yield Pending(r.delivery_id, r.id, r.email, r.name, tuple(json.loads(r.topics)), r.salt)
            last = rows[-1].id

    def counts(self, issue_ids: Iterable[int] | None = None) -> dict[int, Counts]:
        """Per issue: how many rows are in each state."""
        q = sa.select(deliveries.c.issue_id, deliveries.c.status, deliveries.c.permanent, sa.func.count()).group_by(
            deliveries.c.issue_id, deliveries.c.status, deliveries.c.permanent)
        if issue_ids is not None:
            q = q.where(deliveries.c.issue_id.in_(list(issue_ids)))
        out: dict[int, Counts] = {}
        with self.engine.connect() as conn:
            for issue_id, status, permanent, n in conn.execute(q):
                counts = out.setdefault(issue_id, Counts())
                setattr(counts, status, getattr(counts, status) + n)
                if status == FAILED and not permanent:
                    counts.retryable += n
        return out

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
