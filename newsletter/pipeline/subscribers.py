"""Managing subscribers: add, import a CSV, list, export, remove, unsubscribe (by address or signed token)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from newsletter.config import Config
from newsletter.errors import SubscriberError
from newsletter.model import Subscriber
from newsletter.pipeline.common import open_store
from newsletter.pipeline.send import secret_key
from newsletter.store.subscribers import CSV_COLUMNS, CsvReport
from newsletter.tokens import read_token


def _digests(config: Config, names: list[str]) -> tuple[str, ...]:
    """The digests named (each must be configured), or the only one when none is named."""
    for name in names:
        config.digest(name)
    return tuple(names) or (config.digest(None).name,)


def add_subscriber(config: Config, email: str, *, name: str | None, digests: list[str], topics: list[str],
                   resubscribe: bool = False) -> tuple[Subscriber, bool]:
    """Add an address (or update an active one); (subscriber, created)."""
    chosen = _digests(config, digests)
    with open_store(config) as store:
        return store.subscribers.add(email, name=name, digests=chosen, topics=topics, resubscribe=resubscribe)


def import_subscribers(config: Config, path: Path) -> CsvReport:
    """Import a CSV with columns email, name, digests, topics (lists split on ';')."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SubscriberError("is not UTF-8 text", where=str(path), hint="save the CSV as UTF-8") from None
    except OSError as exc:
        raise SubscriberError(f"cannot be read: {exc.strerror}", where=str(path)) from None
    default = (config.digest(None).name,) if len(config.digests) == 1 else ()
    with open_store(config) as store:
        return store.subscribers.import_csv(text, str(path), set(config.digests), default)


def list_subscribers(config: Config, *, digest: str | None = None, status: str | None = None) -> list[Subscriber]:
    if digest:
        config.digest(digest)
    with open_store(config) as store:
        return store.subscribers.list(digest=digest, status=status)


def export_csv(config: Config, *, digest: str | None = None, status: str | None = None) -> str:
    """All (or filtered) subscribers as CSV in the import format, plus a status column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, "status"])
    for s in list_subscribers(config, digest=digest, status=status):
        writer.writerow([s.email, s.name or "", ";".join(s.digests), ";".join(s.topics), s.status])
    return out.getvalue()


def remove_subscriber(config: Config, email: str) -> None:
    """Forget an address and its delivery history."""
    with open_store(config) as store:
        if not store.subscribers.remove(email):
            raise SubscriberError(f"{email} is not a subscriber", hint="see `newsletter subscribers list`")


def unsubscribe(config: Config, *, email: str | None = None, token: str | None = None) -> Subscriber:
    """Mark an address unsubscribed; it is never sent to again. A token must be genuine."""
    with open_store(config) as store:
        if token is not None:
            found = read_token(secret_key(store), token, store.subscribers.salt)
            if found is None:
                raise SubscriberError("the unsubscribe token is not genuine (forged, altered or cut short)",
                                      hint="copy the whole token from the unsubscribe link")
            subscriber = store.subscribers.get_by_id(found[0])
        else:
            subscriber = store.subscribers.get(email)
        if subscriber is None:
            raise SubscriberError(f"{email or 'the token'} names no subscriber", hint="see `newsletter subscribers list`")
        return store.subscribers.unsubscribe(subscriber.id)
