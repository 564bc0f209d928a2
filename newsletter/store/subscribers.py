"""Subscribers: addresses checked and normalised, their digests and topics, and their status."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

import sqlalchemy as sa

from newsletter.store.engine import writing
from newsletter.errors import SubscriberError
from newsletter.model import Rejection, Subscriber
from newsletter.store.tables import subscriber_digests, subscribers

ACTIVE, UNSUBSCRIBED = "active", "unsubscribed"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
CSV_COLUMNS = ("email", "name", "digests", "topics")


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


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in (value or "").split(";") if v.strip()))


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
        """Add an address, or update an active one (digests are added to); (subscriber, created)."""
        address = normalise_address(email)
        with self.writer.begin() as conn:
            return self._add(conn, address, name, tuple(digests), tuple(topics), resubscribe)

    def _add(self, conn, address, name, digests, topics, resubscribe) -> tuple[Subscriber, bool]:
        # A name goes into the To header of every issue: one line without control characters (NUL,
        # ESC...), however it was typed or quoted in a CSV.
        name = " ".join(_CONTROL.sub(" ", name).split()) or None if name is not None else None
        row = conn.execute(sa.select(subscribers).where(subscribers.c.email == address)).first()
        now = _now()
        if row is None:
            sid = conn.execute(subscribers.insert().values(
                email=address, name=name, status=ACTIVE, topics=json.dumps(list(topics), ensure_ascii=False),
                created=now, updated=now, salt=secrets.token_urlsafe(12))).inserted_primary_key[0]
            created = True
        else:
            if row.status == UNSUBSCRIBED and not resubscribe:
                raise SubscriberError(f"{address} unsubscribed earlier",
                                      hint="add it again only with their consent, using --resubscribe")
            sid, created = row.id, False
            values = dict(status=ACTIVE, updated=now)
            if name is not None:
                values["name"] = name
            if topics:
                values["topics"] = json.dumps(list(topics), ensure_ascii=False)
            conn.execute(subscribers.update().where(subscribers.c.id == sid).values(**values))
        have = set(conn.execute(sa.select(subscriber_digests.c.digest)
                                .where(subscriber_digests.c.subscriber_id == sid)).scalars())
        new = [dict(subscriber_id=sid, digest=d) for d in digests if d not in have]
        if new:
            conn.execute(subscriber_digests.insert(), new)
        row = conn.execute(sa.select(subscribers).where(subscribers.c.id == sid)).first()
        return self._load(conn, row), created

    def import_csv(self, text: str, origin: str, known_digests: set[str], default_digests: Sequence[str]) -> CsvReport:
        """Rows of email,name,digests,topics (lists split on ';'); bad rows rejected by line, good ones kept."""
        report = CsvReport()
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "email" not in [f.strip().lower() for f in reader.fieldnames]:
            raise SubscriberError("has no header row with an 'email' column", where=origin,
                                  hint="the first line must be: email,name,digests,topics")
        unknown = [f for f in reader.fieldnames if f.strip().lower() not in CSV_COLUMNS]
        if unknown:
            raise SubscriberError(f"has unknown columns: {', '.join(unknown)}", where=origin,
                                  hint="use the columns email, name, digests, topics")
        seen: dict[str, int] = {}
        with self.writer.begin() as conn:
            for row in reader:
                line = reader.line_num
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k}
                try:
                    address = normalise_address(row.get("email", ""))
                    if address in seen:
                        raise SubscriberError(f"{address} is a duplicate of line {seen[address]}")
                    digests = _split(row.get("digests")) or tuple(default_digests)
                    bad = [d for d in digests if d not in known_digests]
                    if bad:
                        raise SubscriberError(f"unknown digest {bad[0]!r} (configured: {', '.join(sorted(known_digests))})")
                    seen[address] = line
                    _, created = self._add(conn, address, row.get("name") or None, digests, _split(row.get("topics")), False)
                except SubscriberError as exc:
                    report.rejected.append(Rejection(origin, f"line {line}", exc.message))
                    continue
                report.added += created
                report.updated += not created
        return report

    def list(self, digest: str | None = None, status: str | None = None) -> list[Subscriber]:
        q = sa.select(subscribers).order_by(subscribers.c.email)
        if status:
            q = q.where(subscribers.c.status == status)
        if digest:
            q = q.where(subscribers.c.id.in_(sa.select(subscriber_digests.c.subscriber_id)
                                             .where(subscriber_digests.c.digest == digest)))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
            digests = self._digests(conn)
        return [_subscriber(r, digests.get(r.id, ())) for r in rows]

    def remove(self, email: str) -> bool:
        with self.writer.begin() as conn:
            return conn.execute(subscribers.delete().where(subscribers.c.email == normalise_address(email))).rowcount > 0

    def unsubscribe(self, subscriber_id: int) -> Subscriber | None:
        with self.writer.begin() as conn:
            conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id)
                         .values(status=UNSUBSCRIBED, updated=_now()))
        return self.get_by_id(subscriber_id)

    def _digests(self, conn, ids: Sequence[int] | None = None) -> dict[int, tuple[str, ...]]:
        q = sa.select(subscriber_digests).order_by(subscriber_digests.c.digest)
        if ids is not None:
            q = q.where(subscriber_digests.c.subscriber_id.in_(ids))
        out: dict[int, tuple[str, ...]] = {}
        for r in conn.execute(q):
            out[r.subscriber_id] = out.get(r.subscriber_id, ()) + (r.digest,)
        return out

    def _load(self, conn, row) -> Subscriber:
        return _subscriber(row, self._digests(conn, [row.id]).get(row.id, ()))


def _subscriber(row, digests: tuple[str, ...]) -> Subscriber:
    return Subscriber(id=row.id, email=row.email, name=row.name, status=row.status, digests=digests,
                      topics=tuple(json.loads(row.topics)))
