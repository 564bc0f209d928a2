"""Subscribers: addresses checked and normalised, their digests and topics, and their status.

A subscriber's own status is "unsubscribed" when they left everything; each of their digests
has a status too, "unsubscribed" when they left that digest only (the unsubscribe link of a
daily email leaves the daily digest, not the weekly one). A subscription needs both active.
Nothing here ever subscribes again an address that unsubscribed, unless asked to with
`resubscribe` (which the CLI offers as --resubscribe, for when the reader has consented).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

import sqlalchemy as sa

from newsletter.errors import SubscriberError
from newsletter.model import Rejection, Subscriber
from newsletter.store.engine import writing
from newsletter.store.tables import mail_queue, signups, subscriber_digests, subscribers

ACTIVE, UNSUBSCRIBED = "active", "unsubscribed"
STATUSES = (ACTIVE, UNSUBSCRIBED)
KEEP = object()  # edit(): leave this field as it is
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def normalise_address(address: str) -> str:
    """The address checked for syntax (no DNS look-up), in lower case; SubscriberError if invalid."""
    from email_validator import EmailNotValidError, validate_email

    try:
        # Lower case throughout: mail systems treat Ada@ and ada@ as one mailbox, and a
        # subscriber list that does not would send the same person two copies.
        return validate_email(address.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise SubscriberError(f"{address!r} is not a valid email address: {exc}") from None


@dataclass
class CsvReport:
    added: int = 0
    updated: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_salt() -> str:
    """The salt signed into a new subscriber's tokens, so a reused id never makes an old link valid."""
    return secrets.token_urlsafe(12)


def one_line_name(name: str | None) -> str | None:
    """A name goes into the To header of every issue: one line without control characters (NUL, ESC...),
    however it was typed or quoted in a CSV."""
    return " ".join(_CONTROL.sub(" ", name).split()) or None if name is not None else None


def check_topics(topics: Sequence[str]) -> tuple[str, ...]:
    """Topic names trimmed, duplicates (by case) dropped; an empty name is an error, as it matches nothing."""
    out: dict[str, str] = {}
    for topic in topics:
        name = " ".join(topic.split())
        if not name:
            raise SubscriberError("an empty topic matches nothing",
                                  hint="leave the topics out for all topics (edit: --all-topics)")
        out.setdefault(name.lower(), name)
    return tuple(out.values())


def _widen(old: Sequence[str], new: Sequence[str]) -> list[str]:
    """Topics after adding some: no topics means all of them, which adding cannot narrow."""
    if not old:
        return []
    return list(check_topics([*old, *new]))


class Subscribers:
    """Queries on the subscribers tables."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.writer = writing(engine)

    def get(self, email: str) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.email == normalise_address(email))).first()
            return self._load(conn, row) if row else None

    def get_by_id(self, subscriber_id: int) -> Subscriber | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.id == subscriber_id)).first()
            return self._load(conn, row) if row else None

    def salt(self, subscriber_id: int) -> str | None:
        """The salt signed into the subscriber's tokens; None when there is no such subscriber."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(subscribers.c.salt).where(subscribers.c.id == subscriber_id)).scalar()

    def add(self, email: str, *, name: str | None = None, digests: Sequence[str] = (), topics: Sequence[str] = (),
            resubscribe: bool = False) -> tuple[Subscriber, bool]:
        """Add an address, or widen what an existing one gets (digests and topics are added); (subscriber, created)."""
        address = normalise_address(email)
        with self.writer.begin() as conn:
            return self.add_in(conn, address, name, tuple(digests), check_topics(topics), resubscribe)

    def add_in(self, conn, address, name, digests, topics, resubscribe) -> tuple[Subscriber, bool]:
        """add() inside the caller's transaction (an import's), for an address already normalised."""
        name = one_line_name(name)
        row = conn.execute(sa.select(subscribers).where(subscribers.c.email == address)).first()
        memberships = self._memberships(conn, row.id) if row is not None else {}
        # Every refusal before the first write: an import goes on with the next row in the same transaction.
        if row is not None and row.status == UNSUBSCRIBED and not resubscribe:
            raise SubscriberError(f"{address} unsubscribed earlier",
                                  hint="add it again only with their consent, using --resubscribe")
        self._check_rejoin(address, memberships, digests, resubscribe)
        now = _now()
        if row is None:
            sid = conn.execute(subscribers.insert().values(
                email=address, name=name, status=ACTIVE, topics=json.dumps(list(topics), ensure_ascii=False),
                created=now, updated=now, salt=new_salt())).inserted_primary_key[0]
            created = True
        else:
            sid, created = row.id, False
            values = dict(status=ACTIVE, updated=now)
            if name is not None:
                values["name"] = name
            values["topics"] = json.dumps(_widen(json.loads(row.topics), topics), ensure_ascii=False)
            conn.execute(subscribers.update().where(subscribers.c.id == sid).values(**values))
        self._join(conn, sid, memberships, digests)
        return self._load(conn, self._row(conn, sid)), created

    def edit(self, email: str, *, name=KEEP, digests: Sequence[str] | None = None,
             topics: Sequence[str] | None = None, resubscribe: bool = False) -> Subscriber:
        """Set a subscriber's name, digests or topics exactly (topics [] = all); what is not given stays."""
        address = normalise_address(email)
        with self.writer.begin() as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.email == address)).first()
            if row is None:
                raise SubscriberError(f"{address} is not a subscriber", hint="add it with `newsletter subscribers add`")
            memberships = self._memberships(conn, row.id)
            wanted = tuple(dict.fromkeys(digests)) if digests is not None else ()
            self._check_rejoin(address, memberships, wanted, resubscribe)
            values: dict = dict(updated=_now())
            if name is not KEEP:
                values["name"] = one_line_name(name)
            if topics is not None:
                values["topics"] = json.dumps(list(check_topics(topics)), ensure_ascii=False)
            if resubscribe:
                values["status"] = ACTIVE
            conn.execute(subscribers.update().where(subscribers.c.id == row.id).values(**values))
            if digests is not None:
                # Digests they no longer get are forgotten; those they left stay on record as left.
                dropped = [d for d, status in memberships.items() if status == ACTIVE and d not in wanted]
                if dropped:
                    conn.execute(subscriber_digests.delete().where(subscriber_digests.c.subscriber_id == row.id,
                                                                   subscriber_digests.c.digest.in_(dropped)))
                self._join(conn, row.id, memberships, wanted)
            return self._load(conn, self._row(conn, row.id))

    @staticmethod
    def _check_rejoin(address: str, memberships: dict[str, str], digests: Sequence[str], resubscribe: bool) -> None:
        left = [d for d in digests if memberships.get(d) == UNSUBSCRIBED]
        if left and not resubscribe:
            raise SubscriberError(f"{address} unsubscribed from {left[0]!r} earlier",
                                  hint="add it again only with their consent, using --resubscribe")

    def _join(self, conn, sid: int, memberships: dict[str, str], digests: Sequence[str]) -> None:
        """Make the subscriber active in these digests (the caller has checked consent for those they left)."""
        new = [dict(subscriber_id=sid, digest=d, status=ACTIVE) for d in digests if d not in memberships]
        if new:
            conn.execute(subscriber_digests.insert(), new)
        back = [d for d in digests if memberships.get(d) == UNSUBSCRIBED]
        if back:
            conn.execute(subscriber_digests.update().where(subscriber_digests.c.subscriber_id == sid,
                                                           subscriber_digests.c.digest.in_(back)).values(status=ACTIVE))

    def leave(self, conn, sid: int, digests: Sequence[str]) -> None:
        """Record that the subscriber left these digests (also ones they never had: a wish to keep)."""
        memberships = self._memberships(conn, sid)
        new = [dict(subscriber_id=sid, digest=d, status=UNSUBSCRIBED) for d in dict.fromkeys(digests)
               if d not in memberships]
        if new:
            conn.execute(subscriber_digests.insert(), new)
        conn.execute(subscriber_digests.update().where(subscriber_digests.c.subscriber_id == sid,
                                                       subscriber_digests.c.digest.in_(list(digests)))
                     .values(status=UNSUBSCRIBED))
        conn.execute(subscribers.update().where(subscribers.c.id == sid).values(updated=_now()))

    def unsubscribe(self, subscriber_id: int, digests: Sequence[str] | None = None) -> Subscriber | None:
        """Unsubscribe from these digests, or from everything (digests None); never sent them again."""
        with self.writer.begin() as conn:
            if digests is None:
                conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id)
                             .values(status=UNSUBSCRIBED, updated=_now()))
            else:
                self.leave(conn, subscriber_id, digests)
        return self.get_by_id(subscriber_id)

    def import_csv(self, text: str, origin: str, known_digests: set[str], default_digests: Sequence[str],
                   resubscribe: bool = False) -> CsvReport:
        """Rows of the export's columns (lists split on ';'); bad rows rejected by line, good ones kept."""
        from newsletter.store.subscriber_csv import import_rows

        with self.writer.begin() as conn:
            return import_rows(self, conn, text, origin, known_digests, default_digests, resubscribe)

    def record_unsubscribed(self, conn, address: str, name: str | None, digests: Sequence[str],
                            topics: Sequence[str]) -> tuple[Subscriber, bool]:
        """Keep an address as unsubscribed from everything: a new record as given, or an existing one marked."""
        row = conn.execute(sa.select(subscribers).where(subscribers.c.email == address)).first()
        now = _now()
        if row is not None:
            values = dict(status=UNSUBSCRIBED, updated=now)
            if one_line_name(name) is not None:
                values["name"] = one_line_name(name)
            conn.execute(subscribers.update().where(subscribers.c.id == row.id).values(**values))
            return self._load(conn, self._row(conn, row.id)), False
        sid = conn.execute(subscribers.insert().values(
            email=address, name=one_line_name(name), status=UNSUBSCRIBED,
            topics=json.dumps(list(topics), ensure_ascii=False), created=now, updated=now,
            salt=new_salt())).inserted_primary_key[0]
        self._join(conn, sid, {}, digests)
        return self._load(conn, self._row(conn, sid)), True

    def list(self, digest: str | None = None, status: str | None = None) -> list[Subscriber]:
        """Subscribers by address; with a digest, its members, and `status` is theirs for that digest."""
        q = sa.select(subscribers).order_by(subscribers.c.email)
        if digest:
            in_digest = sa.select(subscriber_digests.c.subscriber_id).where(subscriber_digests.c.digest == digest)
            q = q.where(subscribers.c.id.in_(in_digest))
            if status == ACTIVE:
                q = q.where(subscribers.c.status == ACTIVE,
                            subscribers.c.id.in_(in_digest.where(subscriber_digests.c.status == ACTIVE)))
            elif status == UNSUBSCRIBED:  # left everything, or this digest
                q = q.where(sa.or_(subscribers.c.status == UNSUBSCRIBED,
                                   subscribers.c.id.in_(in_digest.where(subscriber_digests.c.status == UNSUBSCRIBED))))
        elif status:
            q = q.where(subscribers.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            digests = self._digests(conn)
        return [_subscriber(r, *digests.get(r.id, ((), ()))) for r in rows]

    def remove(self, email: str) -> bool:
        """Forget the address: the subscriber, and what `newsletter serve` holds of it (pending sign-ups, whose
        link would add it again, and its confirmation mails); whether it was a subscriber."""
        address = normalise_address(email)
        with self.writer.begin() as conn:
            conn.execute(signups.delete().where(signups.c.email == address))
            conn.execute(mail_queue.delete().where(mail_queue.c.recipient == address))
            return conn.execute(subscribers.delete().where(subscribers.c.email == address)).rowcount > 0

    def _memberships(self, conn, sid: int) -> dict[str, str]:
        q = sa.select(subscriber_digests.c.digest, subscriber_digests.c.status).where(
            subscriber_digests.c.subscriber_id == sid)
        return dict(conn.execute(q).all())

    def _digests(self, conn, ids: Sequence[int] | None = None) -> dict[int, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Per subscriber: (the digests they get, the digests they left), by name."""
        q = sa.select(subscriber_digests).order_by(subscriber_digests.c.digest)
        if ids is not None:
            q = q.where(subscriber_digests.c.subscriber_id.in_(ids))
        out: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        for r in conn.execute(q):
            active, left = out.get(r.subscriber_id, ((), ()))
            out[r.subscriber_id] = (active + (r.digest,), left) if r.status == ACTIVE else (active, left + (r.digest,))
        return out

    @staticmethod
    def _row(conn, sid: int):
        return conn.execute(sa.select(subscribers).where(subscribers.c.id == sid)).first()

    def _load(self, conn, row) -> Subscriber:
        return _subscriber(row, *self._digests(conn, [row.id]).get(row.id, ((), ())))


def _subscriber(row, digests: tuple[str, ...], left: tuple[str, ...]) -> Subscriber:
    return Subscriber(id=row.id, email=row.email, name=row.name, status=row.status, digests=digests,
                      topics=tuple(json.loads(row.topics)), left=left)
