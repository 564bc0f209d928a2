"""The store: articles, topics, issues and sync state, on any SQLAlchemy database (SQLite by default)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import sqlalchemy as sa

from newsletter.errors import StoreError
from newsletter.model import Article, Issue, slugify
from newsletter.store import migrations
from newsletter.store.archive import Archive
from newsletter.store.engine import database_label, open_engine, serialise, sqlite_path, writing
from newsletter.store.ledger import Ledger
from newsletter.store.subscribers import Subscribers
from newsletter.store.rows import (article_filters, article_from_row, aware, content_hash, issue_from_row, naive_utc,
                                   unique_links)
from newsletter.store.syncstate import SyncState
from newsletter.store.web import WebState
from newsletter.store.tables import (CHUNK, article_topics, articles, draft_offers, issue_articles, issue_left_out,
                                     issues, meta, metadata, topics)

log = logging.getLogger(__name__)

@dataclass
class UpsertCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class TopicRow:
    name: str
    slug: str
    count: int
    latest: datetime | None


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Store:
    """One database: articles, topics, issues, and what sync has seen."""

    def __init__(self, url: str, *, busy_timeout_ms: int | None = None):
        self.url = url
        self.engine = open_engine(url, busy_timeout_ms)
        self.writer = writing(self.engine)
        self.label = database_label(url)
        self._prepare_schema()
        self.subscribers = Subscribers(self.engine)
        self.ledger = Ledger(self.engine)
        self.sync_state = SyncState(self.engine, self.writer)
        self.archive = Archive(self.engine, self.writer)
        self.web = WebState(self.engine, self.subscribers)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema -------------------------------------------------------------

    def _prepare_schema(self) -> None:
        """Create a new database at the newest schema, or upgrade an older one in place, under a lock."""
        with self.writer.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # as SQLite asks for table rebuilds; set outside any transaction, checked below
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    migrations.lock_for_schema_change(conn)
                    self._create_or_upgrade(conn)
                    if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                        raise StoreError("failed a foreign key check after its upgrade; nothing was changed",
                                         where=self.label, hint="please report this, with the old database")
            finally:
                if sqlite:
                    conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")

    def _create_or_upgrade(self, conn: sa.Connection) -> None:
        names = set(sa.inspect(conn).get_table_names())
        latest = migrations.latest_version()
        if "meta" not in names:
            if names & {"articles", "issues", "subscribers", "deliveries"}:
                raise StoreError("is not a newsletter database (no schema version)", where=self.label,
                                 hint="point newsletter.database at a new file")
            metadata.create_all(conn)
            conn.execute(meta.insert().values(key="schema_version", value=str(latest)))
            return
        found = int(conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar() or 0)
        if found > latest:
            raise StoreError(f"was written by a newer newsletter (schema {found}; this one reads {latest})",
                             where=self.label, hint="upgrade newsletter: pip install -U newsletter")
        if found < migrations.FIRST_VERSION:
            raise StoreError("is not a newsletter database (no schema version)", where=self.label,
                             hint="point newsletter.database at a new file")
        if found == latest:
            return
        backup = self._backup(found)
        migrations.apply(conn, found)
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(latest)))
        log.warning("upgraded %s from schema %d to %d%s", self.label, found, latest,
                    f"; the old database is kept as {backup}" if backup else "")

    def _backup(self, version: int) -> Path | None:
        """A copy of a SQLite file as it was before an upgrade (owner-only), beside it; None for other databases."""
        path = sqlite_path(self.url)
        if path is None:
            return None
        target = path.with_name(f"{path.name}.schema{version}.bak")
        if target.exists():
            return target
        import sqlite3

        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        # A read of the committed state: the upgrade's transaction holds the write lock but has written nothing.
        source, copy = sqlite3.connect(path), sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return target

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()

    def meta_or_default(self, key: str, make: Callable[[], str]) -> str:
        """The stored value of `key`; the first caller stores `make()`, every concurrent one reads it back."""
        with self.writer.begin() as conn:
            serialise(conn, f"meta:{key}")
            value = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
            if value is None:
                value = make()
                conn.execute(meta.insert().values(key=key, value=value))
            return value

    # -- articles -----------------------------------------------------------

    def upsert(self, items: Iterable[Article], undated: set[str] = frozenset()) -> UpsertCounts:
        """Insert new articles, update changed ones; an undated item keeps the date it was first given."""
        counts = UpsertCounts()
        batch: dict[str, Article] = {}
        for a in items:
            batch[a.id] = a  # the last of several items with one id wins
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with self.writer.begin() as conn:
            serialise(conn, "articles")
            topic_ids = self._topic_ids(conn, {t for a in batch.values() for t in a.topics})
            ids = list(batch)
            existing: dict[str, tuple[str, datetime]] = {}
            for chunk in _chunks(ids):
                rows = conn.execute(sa.select(articles.c.id, articles.c.content_hash, articles.c.published)
                                    .where(articles.c.id.in_(chunk)))
                existing.update((r.id, (r.content_hash, r.published)) for r in rows)
            inserts, updates, changed_ids = [], [], []
            for a in batch.values():
                published, dated = naive_utc(a.published), a.id not in undated
                if a.id in existing and not dated:
                    published = existing[a.id][1]
                row = dict(id=a.id, title=a.title, url=a.url, source=a.source, published=published,
                           topics=json.dumps(list(a.topics), ensure_ascii=False), lede=a.lede, body=a.body,
                           author=a.author, image=a.image, dated=dated, draft=a.draft,
                           content_hash=content_hash(a, published, dated), updated=now)
                if a.id not in existing:
                    inserts.append({**row, "created": now})
                    counts.new += 1
                elif existing[a.id][0] != row["content_hash"]:
                    updates.append({**row, "b_id": a.id})
                    changed_ids.append(a.id)
                    counts.updated += 1
                else:
                    counts.unchanged += 1
            if inserts:
                conn.execute(articles.insert(), inserts)
            if updates:
                conn.execute(articles.update().where(articles.c.id == sa.bindparam("b_id")),
                             [{k: v for k, v in u.items() if k != "id"} for u in updates])
                for chunk in _chunks(changed_ids):
                    conn.execute(article_topics.delete().where(article_topics.c.article_id.in_(chunk)))
            links = [dict(article_id=r["id"], topic_id=topic_ids[slugify(t)], published=r["published"])
                     for r in inserts + updates for t in json.loads(r["topics"])]
            if links:
                conn.execute(article_topics.insert(), unique_links(links))
        return counts

    def _topic_ids(self, conn, names: set[str]) -> dict[str, int]:
        by_slug: dict[str, str] = {}
        for name in sorted(names):
            by_slug.setdefault(slugify(name), name)
        ids: dict[str, int] = {}
        slugs = list(by_slug)
        for chunk in _chunks(slugs):
            ids.update(conn.execute(sa.select(topics.c.slug, topics.c.id).where(topics.c.slug.in_(chunk))).all())
        missing = [dict(slug=s, name=by_slug[s]) for s in slugs if s not in ids]
        if missing:
            conn.execute(topics.insert(), missing)
            for chunk in _chunks([m["slug"] for m in missing]):
                ids.update(conn.execute(sa.select(topics.c.slug, topics.c.id).where(topics.c.slug.in_(chunk))).all())
        return ids

    def get_articles(self, ids: Sequence[str]) -> list[Article]:
        """The articles with these ids, in the order given (missing ones left out)."""
        found: dict[str, Article] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                for r in conn.execute(sa.select(articles).where(articles.c.id.in_(chunk))):
                    found[r.id] = article_from_row(r)
        return [found[i] for i in ids if i in found]

    def articles_by_url(self, urls: Sequence[str]) -> dict[str, Article]:
        """Stored articles by their URL as stored (one per URL: the newest)."""
        found: dict[str, Article] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(urls))):
                q = sa.select(articles).where(articles.c.url.in_(chunk)).order_by(articles.c.published)
                found.update((r.url, article_from_row(r)) for r in conn.execute(q))
        return found

    def find_articles(self, *, limit: int | None = None, undated_last: bool = False, **filters) -> list[Article]:
        """Articles newest first (undated ones after the dated with `undated_last`); filters as article_filters takes."""
        q = sa.select(articles).where(*article_filters(**filters))
        order = [articles.c.dated.desc()] if undated_last else []
        q = q.order_by(*order, articles.c.published.desc(), articles.c.id)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [article_from_row(r) for r in conn.execute(q)]

    def count_articles(self, *, exclude_ids: Sequence[str] = (), **filters) -> int:
        """How many articles pass the filters, leaving out the ids given."""
        q = sa.select(sa.func.count()).select_from(articles).where(*article_filters(**filters))
        if exclude_ids:
            q = q.where(articles.c.id.not_in(list(exclude_ids)))
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()

    def topic_counts(self) -> list[TopicRow]:
        """Every topic with its number of articles and its latest article's date."""
        q = (sa.select(topics.c.name, topics.c.slug, sa.func.count(article_topics.c.article_id),
                       sa.func.max(article_topics.c.published))
             .join(article_topics, article_topics.c.topic_id == topics.c.id, isouter=True)
             .group_by(topics.c.id).order_by(topics.c.name))
        with self.engine.connect() as conn:
            return [TopicRow(r[0], r[1], r[2], aware(r[3]) if r[3] else None) for r in conn.execute(q)]

    # -- issues -------------------------------------------------------------

    def get_issue(self, digest: str, key: str) -> Issue | None:
        """The recorded issue of a digest with its articles in order, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(issues).where(issues.c.digest == digest, issues.c.key == key)).first()
            if row is None:
                return None
            ids = conn.execute(sa.select(issue_articles.c.article_id).where(issue_articles.c.issue_id == row.id)
                               .order_by(issue_articles.c.position)).scalars().all()
        return issue_from_row(row, tuple(self.get_articles(ids)))

    def record_issue(self, digest: str, key: str, issue_date: date, article_ids: Sequence[str],
                     subject: str, message_id: str | None, *, cutoff: datetime | None = None, intro: str = "",
                     editor_subject: str | None = None, editor_preheader: str | None = None,
                     left_out: Sequence[str] = ()) -> Issue:
        """Record an issue, its articles and those the editor left out; an existing issue of the same key is replaced."""
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        values = dict(subject=subject, message_id=message_id, created=now,
                      cutoff=naive_utc(cutoff) if cutoff else None, intro=intro or None,
                      editor_subject=editor_subject, editor_preheader=editor_preheader)
        with self.writer.begin() as conn:
            serialise(conn, f"issue:{digest}:{key}")
            old = conn.execute(sa.select(issues.c.id).where(issues.c.digest == digest, issues.c.key == key)).scalar()
            if old is not None:
                conn.execute(issue_articles.delete().where(issue_articles.c.issue_id == old))
                conn.execute(issue_left_out.delete().where(issue_left_out.c.issue_id == old))
                conn.execute(issues.update().where(issues.c.id == old).values(**values, error=None))
                issue_id = old
            else:
                issue_id = conn.execute(issues.insert().values(digest=digest, key=key, issue_date=issue_date,
                                                               **values)).inserted_primary_key[0]
            if article_ids:
                conn.execute(issue_articles.insert(), [dict(issue_id=issue_id, position=i, article_id=a)
                                                       for i, a in enumerate(article_ids)])
            dropped = [a for a in dict.fromkeys(left_out) if a not in set(article_ids)]
            if dropped:
                conn.execute(issue_left_out.insert(), [dict(issue_id=issue_id, article_id=a) for a in dropped])
        return self.get_issue(digest, key)

    def left_out(self, issue_id: int) -> list[str]:
        """The ids of the articles the editor left out of an issue."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(sa.select(issue_left_out.c.article_id)
                                       .where(issue_left_out.c.issue_id == issue_id)).scalars())

    def save_draft_offer(self, digest: str, key: str, article_ids: Sequence[str]) -> None:
        """Remember which articles a new draft file lists, so lines deleted from it can be told at build time."""
        with self.writer.begin() as conn:
            conn.execute(draft_offers.delete().where(draft_offers.c.digest == digest, draft_offers.c.key == key))
            conn.execute(draft_offers.insert().values(digest=digest, key=key, article_ids=json.dumps(list(article_ids)),
                                                      written=datetime.now(timezone.utc).replace(tzinfo=None)))

    def draft_offer(self, digest: str, key: str) -> list[str]:
        """The articles `newsletter draft` listed for an issue ([] for a draft written by hand)."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(draft_offers.c.article_ids).where(
                draft_offers.c.digest == digest, draft_offers.c.key == key)).scalar()
        return json.loads(found) if found else []

    def update_issue(self, issue_id: int, **values) -> None:
        with self.writer.begin() as conn:
            conn.execute(issues.update().where(issues.c.id == issue_id).values(**values))

    def issue_size(self, issue_id: int) -> int:
        """How many articles an issue carries."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(issue_articles)
                                .where(issue_articles.c.issue_id == issue_id)).scalar()

    def list_issues(self, digest: str | None = None) -> list[Issue]:
        """Issues newest first, without their articles' bodies (article ids only through get_issue)."""
        q = sa.select(issues).order_by(issues.c.issue_date.desc(), issues.c.key.desc())
        if digest:
            q = q.where(issues.c.digest == digest)
        with self.engine.connect() as conn:
            return [issue_from_row(r, ()) for r in conn.execute(q)]

    def rename_articles(self, renames: dict[str, str]) -> int:
        """Give stored articles new ids (old -> new), with their topics and the issues that carried them.

        An old id that is not stored, or whose new id is taken already, is left alone.
        """
        done = 0
        with self.writer.begin() as conn:
            serialise(conn, "articles")
            for old, new in renames.items():
                if conn.execute(sa.select(articles.c.id).where(articles.c.id == new)).first() is not None:
                    continue
                row = conn.execute(sa.select(articles).where(articles.c.id == old)).mappings().first()
                if row is None:
                    continue
                # Insert under the new id first: the foreign keys of topics and issues always point at a row.
                conn.execute(articles.insert().values({**row, "id": new}))
                conn.execute(article_topics.update().where(article_topics.c.article_id == old).values(article_id=new))
                conn.execute(issue_articles.update().where(issue_articles.c.article_id == old).values(article_id=new))
                conn.execute(issue_left_out.update().where(issue_left_out.c.article_id == old).values(article_id=new))
                conn.execute(articles.delete().where(articles.c.id == old))
                done += 1
        return done

