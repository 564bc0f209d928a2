"""Importing subscribers from CSV: the columns `subscribers export` writes, so an export reads back exactly.

Columns (any order, only email required): email, name, digests, topics, status, unsubscribed.
Lists are split on ';'. `status` "unsubscribed" means they left everything; `unsubscribed`
lists the digests they left. An import adds and widens, it never takes a digest or topic
away (that is `subscribers edit`), and it never subscribes again an address that left
unless asked to (--resubscribe); an unsubscription in the file is always kept.
"""

from __future__ import annotations

import csv
import io
from typing import Sequence

from newsletter.csvcells import restore
from newsletter.errors import SubscriberError
from newsletter.model import Rejection
from newsletter.store.subscribers import ACTIVE, STATUSES, UNSUBSCRIBED, CsvReport, check_topics, normalise_address

CSV_COLUMNS = ("email", "name", "digests", "topics", "status", "unsubscribed")


def split_list(value: str | None) -> tuple[str, ...]:
    """A list cell: items separated by ';', trimmed, empty ones and repeats dropped."""
    return tuple(dict.fromkeys(v.strip() for v in (value or "").split(";") if v.strip()))


def import_rows(subs, conn, text: str, origin: str, known_digests: set[str], default_digests: Sequence[str],
                resubscribe: bool) -> CsvReport:
    """Apply every good row inside the caller's transaction; a bad row is rejected by its line, the rest kept."""
    report = CsvReport()
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        raise SubscriberError("has no header row with an 'email' column", where=origin,
                              hint="the first line must be: " + ",".join(CSV_COLUMNS))
    unknown = [f for f in reader.fieldnames if f.strip().lower() not in CSV_COLUMNS]
    if unknown:
        raise SubscriberError(f"has unknown columns: {', '.join(unknown)}", where=origin,
                              hint="use the columns " + ", ".join(CSV_COLUMNS))
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        cells = {(k or "").strip().lower(): restore((v or "").strip()) for k, v in row.items() if k}
        try:
            created = _row(subs, conn, cells, seen, line, known_digests, default_digests, resubscribe)
        except SubscriberError as exc:
            report.rejected.append(Rejection(origin, f"line {line}", exc.message + (f" ({exc.hint})" if exc.hint else "")))
            continue
        report.added += created
        report.updated += not created
    return report


def _row(subs, conn, cells: dict, seen: dict[str, int], line: int, known: set[str], default: Sequence[str],
         resubscribe: bool) -> bool:
    address = normalise_address(cells.get("email", ""))
    if address in seen:
        raise SubscriberError(f"{address} is a duplicate of line {seen[address]}")
    status = cells.get("status", "").lower() or ACTIVE
    if status not in STATUSES:
        raise SubscriberError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    digests, left = split_list(cells.get("digests")), split_list(cells.get("unsubscribed"))
    if not digests and not left:
        digests = tuple(default)
    bad = [d for d in (*digests, *left) if d not in known]
    if bad:
        raise SubscriberError(f"unknown digest {bad[0]!r} (configured: {', '.join(sorted(known))})")
    both = [d for d in digests if d in left]
    if both:
        raise SubscriberError(f"{both[0]!r} is in both the digests and the unsubscribed column")
    if not digests and not left and status == ACTIVE:
        raise SubscriberError(f"names no digest, so it would subscribe {address} to nothing",
                              hint=f"fill its digests column (configured: {', '.join(sorted(known))})")
    topics = check_topics(split_list(cells.get("topics")))
    seen[address] = line
    name = cells.get("name") or None
    if status == UNSUBSCRIBED:
        subscriber, created = subs.record_unsubscribed(conn, address, name, digests, topics)
    else:
        subscriber, created = subs.add_in(conn, address, name, digests, topics, resubscribe)
    if left:
        subs.leave(conn, subscriber.id, left)
    return created
