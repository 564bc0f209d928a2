"""What `newsletter serve` keeps: pending sign-ups, the confirmation mail queue, and rate limits.

A sign-up is not a subscriber until its link is confirmed: it lives in `signups`, which no send
reads, so a pending address can never be sent a digest. Everything here is in the database, so
several serve instances share it; mail rows are claimed (holder and lease) as deliveries are,
so two instances never send one confirmation twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Sequence

import sqlalchemy as sa

from newsletter.model import Subscriber
from newsletter.store.engine import serialise, writing
from newsletter.store.subscribers import ACTIVE, UNSUBSCRIBED, Subscribers, check_topics
from newsletter.store.tables import mail_queue, rate_events, signups, subscriber_digests, subscribers

QUEUED, CLAIMED, SENT, FAILED = "queued", "claimed", "sent", "failed"
CLIENT_WINDOW, ADDRESS_WINDOW = timedelta(hours=1), timedelta(days=1)
MAX_BACKOFF = timedelta(hours=1)
MAX_ATTEMPTS = 12  # about half a day of retries with the default backoff; then the row is left as failed


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _lock_subscribers(conn, ids: Sequence[int]) -> None:
    """PostgreSQL: hold these subscribers' rows until commit (in id order: no deadlock between two instances).
    Two saves of one reader at once (a double click, two instances) both read "no such membership" and the
    second insert of it failed (500). SQLite's BEGIN IMMEDIATE lets one writer in at a time already."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(subscribers.c.id).where(subscribers.c.id.in_(sorted(set(ids))))
                     .order_by(subscribers.c.id).with_for_update())


@dataclass(frozen=True)
class Limits:
    client: int  # sign-up requests per client address per CLIENT_WINDOW
    address: int  # confirmation mails per address per ADDRESS_WINDOW
    expiry: timedelta  # how long a confirmation link works


@dataclass(frozen=True)
class Signup:
    email: str
    digests: tuple[str, ...]
    topics: tuple[str, ...]
    expires: datetime


@dataclass(frozen=True)
class QueuedMail:
    id: int
    recipient: str
    data: bytes
    attempts: int


class WebState:
    """Queries for the web app's own tables."""

    def __init__(self, engine: sa.Engine, subscribers_: Subscribers):
        self.engine, self.writer, self.subscribers = engine, writing(engine), subscribers_
        # The app's threads queue here for the write lock: SQLite's own busy handler would make them
        # sleep in growing steps (up to 100 ms) instead, which is most of a one-click's p99 under load.
        self._one_writer = threading.Lock()

    # -- sign-ups -------------------------------------------------------------

    def request_signup(self, address: str, digests: Sequence[str], topics: Sequence[str], *, client: str,
                       limits: Limits, message: Callable[[str], bytes], now: datetime | None = None) -> bool:
        """Record a pending sign-up and queue its confirmation mail (made by `message(token)`), within the
        rate limits; False when a limit refused it (nothing queued). The address is normalised already."""
        now = now or _now()
        topics = check_topics(topics)
        with self.writer.begin() as conn:
            serialise(conn, "serve:signup")  # two instances must not both see "under the limit"
            conn.execute(rate_events.delete().where(rate_events.c.at < now - ADDRESS_WINDOW))
            conn.execute(signups.delete().where(signups.c.expires < now))
            client_key, address_key = _hash(client), _hash(address)
            if self._count(conn, "client", client_key, now - CLIENT_WINDOW) >= limits.client:
                return False
            conn.execute(rate_events.insert().values(scope="client", key=client_key, at=now))
            if self._count(conn, "address", address_key, now - ADDRESS_WINDOW) >= limits.address:
                return False
            conn.execute(rate_events.insert().values(scope="address", key=address_key, at=now))
            token = secrets.token_urlsafe(24)
            conn.execute(signups.insert().values(
                email=address, digests=json.dumps(list(digests)), topics=json.dumps(list(topics), ensure_ascii=False),
                token_hash=_hash(token), created=now, expires=now + limits.expiry))
            conn.execute(mail_queue.insert().values(recipient=address, data=message(token), status=QUEUED,
                                                    attempts=0, next_try=now, created=now, updated=now))
            return True

    @staticmethod
    def _count(conn, scope: str, key: str, since: datetime) -> int:
        return conn.execute(sa.select(sa.func.count()).select_from(rate_events).where(
            rate_events.c.scope == scope, rate_events.c.key == key, rate_events.c.at >= since)).scalar()

    def pending(self, token: str, now: datetime | None = None) -> Signup | None:
        """The sign-up a confirmation token names, unless it is unknown or expired."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(signups).where(signups.c.token_hash == _hash(token),
                                                        signups.c.expires >= (now or _now()))).first()
        if row is None:
            return None
        return Signup(row.email, tuple(json.loads(row.digests)), tuple(json.loads(row.topics)), row.expires)

    def confirm(self, token: str, now: datetime | None = None) -> Subscriber | None:
        """Make a pending sign-up a subscriber (their click is their consent, also to come back); None when
        the token is unknown or expired. Every other pending link of the address is spent with it."""
        now = now or _now()
        with self.writer.begin() as conn:
            # PostgreSQL: two clicks at once (a link twice, or two links of one address) both read the sign-up,
            # and the second insert of the address failed (500); after the first commits, the second finds none.
            serialise(conn, "serve:signup")
            row = conn.execute(sa.select(signups).where(signups.c.token_hash == _hash(token),
                                                        signups.c.expires >= now)).first()
            if row is None:
                return None
            subscriber, _ = self.subscribers.add_in(conn, row.email, None, tuple(json.loads(row.digests)),
                                                    tuple(json.loads(row.topics)), True)
            conn.execute(signups.delete().where(signups.c.email == row.email))
            return subscriber

    # -- a reader's own choices ------------------------------------------------

    def membership(self, subscriber_id: int, digest: str) -> tuple[str, bool] | None:
        """(the subscriber's token salt, whether they have left this digest or everything); None when there is
        no such subscriber. One query: the one-click path reads nothing else."""
        q = (sa.select(subscribers.c.salt, subscribers.c.status, subscriber_digests.c.status)
             .select_from(subscribers.outerjoin(subscriber_digests, sa.and_(
                 subscriber_digests.c.subscriber_id == subscribers.c.id, subscriber_digests.c.digest == digest)))
             .where(subscribers.c.id == subscriber_id))
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        return row[0], UNSUBSCRIBED in (row[1], row[2])

    def leave_digests(self, pairs: Sequence[tuple[int, str]]) -> None:
        """Unsubscribe each (subscriber, digest), all in one transaction: one commit for a batch of one-clicks."""
        with self._one_writer, self.writer.begin() as conn:
            _lock_subscribers(conn, [sid for sid, _ in pairs])
            for subscriber_id, digest in dict.fromkeys(pairs):
                self.subscribers.leave(conn, subscriber_id, [digest])

    def set_choices(self, subscriber_id: int, offered: Sequence[str], wanted: Sequence[str],
                    topics: Sequence[str]) -> Subscriber:
        """The reader's own form: they get the `wanted` digests of those `offered`, leave the rest, and these
        topics ([]: all). Ticking a digest is their consent, also after they had left it or everything."""
        topics = check_topics(topics)
        with self.writer.begin() as conn:
            _lock_subscribers(conn, [subscriber_id])
            memberships = self.subscribers._memberships(conn, subscriber_id)
            joining = [d for d in offered if d in wanted]
            leaving = [d for d in offered if d not in wanted and memberships.get(d) == ACTIVE]
            values: dict = dict(topics=json.dumps(list(topics), ensure_ascii=False), updated=_now())
            if joining:
                values["status"] = ACTIVE
            conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id).values(**values))
            self.subscribers._join(conn, subscriber_id, memberships, joining)
            if leaving:
                self.subscribers.leave(conn, subscriber_id, leaving)
            return self.subscribers._load(conn, self.subscribers._row(conn, subscriber_id))

    # -- the confirmation mail queue -------------------------------------------

    def claim_mail(self, worker: str, limit: int, lease: timedelta, now: datetime | None = None) -> list[QueuedMail]:
        """Take up to `limit` mails due now (or whose holder's lease ran out) for `worker`."""
        now = now or _now()
        due = sa.or_(sa.and_(mail_queue.c.status == QUEUED, mail_queue.c.next_try <= now),
                     sa.and_(mail_queue.c.status == CLAIMED, mail_queue.c.lease_until < now))
        with self.writer.begin() as conn:
            # PostgreSQL: rows another instance is claiming right now are skipped, not waited for.
            ids = conn.execute(sa.select(mail_queue.c.id).where(due).order_by(mail_queue.c.id).limit(limit)
                               .with_for_update(skip_locked=True)).scalars().all()
            if not ids:
                return []
            # The condition again: on PostgreSQL another instance may have claimed a row since the select.
            conn.execute(mail_queue.update().where(mail_queue.c.id.in_(ids), due).values(
                status=CLAIMED, claimed_by=worker, lease_until=now + lease, updated=now))
            rows = conn.execute(sa.select(mail_queue).where(mail_queue.c.id.in_(ids), mail_queue.c.claimed_by == worker,
                                                            mail_queue.c.status == CLAIMED)).all()
        return [QueuedMail(r.id, r.recipient, r.data, r.attempts) for r in rows]

    def mail_done(self, mail_id: int, worker: str, *, ok: bool, error: str | None = None, permanent: bool = False,
                  retry: timedelta = timedelta(minutes=1), now: datetime | None = None) -> None:
        """Record a claimed mail's result: sent (its token-bearing data dropped), or failed and retried later
        with a doubling wait, or failed for good (a permanent refusal, or too many attempts)."""
        now = now or _now()
        mine = sa.and_(mail_queue.c.id == mail_id, mail_queue.c.claimed_by == worker, mail_queue.c.status == CLAIMED)
        with self.writer.begin() as conn:
            attempts = conn.execute(sa.select(mail_queue.c.attempts).where(mine)).scalar()
            if attempts is None:
                return  # the lease ran out and another instance has it now
            attempts += 1
            if ok:
                values = dict(status=SENT, data=b"", last_error=None)
            elif permanent or attempts >= MAX_ATTEMPTS:
                values = dict(status=FAILED, data=b"", last_error=error)
            else:
                wait = min(retry * 2 ** (attempts - 1), MAX_BACKOFF)
                values = dict(status=QUEUED, last_error=error, next_try=now + wait)
            conn.execute(mail_queue.update().where(mine).values(attempts=attempts, claimed_by=None, lease_until=None,
                                                                updated=now, **values))

    def mail_counts(self) -> dict[str, int]:
        """Confirmation mails by status."""
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(mail_queue.c.status, sa.func.count()).group_by(mail_queue.c.status)).all())
