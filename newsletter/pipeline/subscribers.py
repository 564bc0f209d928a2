"""Managing subscribers: add, edit, import, list (and export), remove, unsubscribe (by address or signed token)."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import Config
from newsletter.errors import SubscriberError
from newsletter.model import Subscriber
from newsletter.pipeline.common import open_store
from newsletter.pipeline.send import secret_key
from newsletter.store import CSV_COLUMNS as COLUMNS
from newsletter.store import KEEP, CsvReport
from newsletter.tokens import read_token


def subscriber_row(s: Subscriber) -> dict:
    """One subscriber as every listing shows it (table, JSON, CSV): its keys are the COLUMNS import reads."""
    return {"email": s.email, "name": s.name, "digests": list(s.digests), "topics": list(s.topics),
            "status": s.status, "unsubscribed": list(s.left)}


def _digests(config: Config, names: list[str]) -> tuple[str, ...]:
    """The digests named (each must be configured), or the only one when none is named."""
    for name in names:
        config.digest(name)
    return tuple(names) or (config.digest(None).name,)


def add_subscriber(config: Config, email: str, *, name: str | None, digests: list[str], topics: list[str],
                   resubscribe: bool = False) -> tuple[Subscriber, bool]:
    """Add an address, or widen what an existing one gets; (subscriber, created)."""
    chosen = _digests(config, digests)
    with open_store(config) as store:
        return store.subscribers.add(email, name=name, digests=chosen, topics=topics, resubscribe=resubscribe)


def edit_subscriber(config: Config, email: str, *, name=KEEP, digests: list[str] | None = None,
                    topics: list[str] | None = None, resubscribe: bool = False) -> Subscriber:
    """Set a subscriber's name, digests or topics exactly ([] topics: all of them)."""
    if digests is not None:
        digests = list(_digests(config, digests))
    with open_store(config) as store:
        return store.subscribers.edit(email, name=name, digests=digests, topics=topics, resubscribe=resubscribe)


def import_subscribers(config: Config, path: Path, *, resubscribe: bool = False) -> CsvReport:
    """Import a CSV with the columns `subscribers export` writes (email required; lists split on ';')."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SubscriberError("is not UTF-8 text", where=str(path), hint="save the CSV as UTF-8") from None
    except OSError as exc:
        raise SubscriberError(f"cannot be read: {exc.strerror}", where=str(path)) from None
    # With one digest, a row that names none is for that one; with several it must say which.
    default = (config.digest(None).name,) if len(config.digests) == 1 else ()
    with open_store(config) as store:
        return store.subscribers.import_csv(text, str(path), set(config.digests), default, resubscribe)


def list_subscribers(config: Config, *, digest: str | None = None, status: str | None = None) -> list[Subscriber]:
    if digest:
        config.digest(digest)
    with open_store(config) as store:
        return store.subscribers.list(digest=digest, status=status)


def remove_subscriber(config: Config, email: str) -> None:
    """Forget an address and its delivery history."""
    with open_store(config) as store:
        if not store.subscribers.remove(email):
            raise SubscriberError(f"{email} is not a subscriber", hint="see `newsletter subscribers list`")


def unsubscribe(config: Config, *, email: str | None = None, token: str | None = None,
                digests: list[str] | None = None, everything: bool = False) -> tuple[Subscriber, tuple[str, ...] | None]:
    """Unsubscribe: a token from its own digest, an address from the digests named; `everything` from all.

    Returns the subscriber and the digests they left (None: everything). They are never sent those again.
    """
    with open_store(config) as store:
        if token is not None:
            found = read_token(secret_key(store), token, store.subscribers.salt)
            if found is None:
                raise SubscriberError("the unsubscribe token is not genuine (forged, altered or cut short)",
                                      hint="copy the whole token from the unsubscribe link")
            subscriber = store.subscribers.get_by_id(found[0])
            leaving = (found[1],)
        else:
            subscriber = store.subscribers.get(email)
            for name in digests or ():
                config.digest(name)
            leaving = tuple(digests or ())
        if subscriber is None:
            raise SubscriberError(f"{email or 'the token'} names no subscriber", hint="see `newsletter subscribers list`")
        scope = None if everything or not leaving else leaving
        return store.subscribers.unsubscribe(subscriber.id, scope), scope


__all__ = ["COLUMNS", "KEEP", "add_subscriber", "edit_subscriber", "import_subscribers", "list_subscribers",
           "remove_subscriber", "subscriber_row", "unsubscribe"]
