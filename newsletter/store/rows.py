"""Rows to model objects, and the WHERE clauses of article queries (shared by listing, selection and counts)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Sequence

import sqlalchemy as sa

from newsletter.model import Article, Issue, slugify
from newsletter.store.tables import article_topics, articles, issue_articles, issue_left_out, issues, topics


def naive_utc(dt: datetime) -> datetime:
    """The database's form of a time: naive UTC."""
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def aware(dt: datetime) -> datetime:
    """A time read from the database, made aware again."""
    return dt.replace(tzinfo=timezone.utc)


def content_hash(a: Article, published: datetime, dated: bool) -> str:
    """What an upsert compares to tell an updated article from an unchanged one."""
    fields = [a.title, a.url, a.source, published.isoformat(), list(a.topics), a.lede, a.body, a.author, a.image]
    # Only when set, so the hashes of articles stored before these flags existed stay the same.
    fields += [flag for flag, on in (("draft", a.draft), ("undated", not dated)) if on]
    payload = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


def article_filters(*, topics_any: Sequence[str] = (), since: datetime | None = None, until: datetime | None = None,
                    source: str | None = None, not_in_digest: str | None = None, except_issue: str | None = None,
                    include_until: bool = True, include_since: bool = True, skip_drafts: bool = False) -> list:
    """WHERE clauses on articles: topic slugs (any of), a date range, a source, drafts, and earlier issues.

    `not_in_digest` leaves out what any issue of that digest carried or had left out by the
    editor, but for the issue keyed `except_issue`.
    """
    where = []
    if topics_any:
        topic_q = (sa.select(article_topics.c.article_id)
                   .join(topics, topics.c.id == article_topics.c.topic_id)
                   .where(topics.c.slug.in_([slugify(t) for t in topics_any])))
        # The copied date lets SQLite range-scan each topic's index instead of every article.
        if since is not None:
            topic_q = topic_q.where(_after(article_topics.c.published, since, include_since))
        if until is not None:
            topic_q = topic_q.where(_before(article_topics.c.published, until, include_until))
        where.append(articles.c.id.in_(topic_q))
    if since is not None:
        where.append(_after(articles.c.published, since, include_since))
    if until is not None:
        where.append(_before(articles.c.published, until, include_until))
    if source:
        where.append(sa.func.lower(articles.c.source) == source.lower())
    if skip_drafts:
        where.append(articles.c.draft.is_(False))
    if not_in_digest is not None:
        for link in (issue_articles, issue_left_out):
            taken = (sa.select(link.c.article_id).join(issues, issues.c.id == link.c.issue_id)
                     .where(issues.c.digest == not_in_digest, link.c.article_id == articles.c.id))
            if except_issue is not None:
                taken = taken.where(issues.c.key != except_issue)
            where.append(~sa.exists(taken))
    return where


def _after(column, when: datetime, inclusive: bool):
    return column >= naive_utc(when) if inclusive else column > naive_utc(when)


def _before(column, when: datetime, inclusive: bool):
    return column <= naive_utc(when) if inclusive else column < naive_utc(when)


def unique_links(links: list[dict]) -> list[dict]:
    seen, out = set(), []
    for link in links:
        key = (link["article_id"], link["topic_id"])
        if key not in seen:
            seen.add(key)
            out.append(link)
    return out


def article_from_row(r) -> Article:
    return Article(id=r.id, title=r.title, url=r.url, source=r.source, published=aware(r.published),
                   topics=tuple(json.loads(r.topics)), lede=r.lede, body=r.body, author=r.author, image=r.image,
                   draft=bool(r.draft))


def issue_from_row(r, arts: tuple[Article, ...]) -> Issue:
    return Issue(digest=r.digest, key=r.key, issue_date=r.issue_date, articles=arts, subject=r.subject,
                 message_id=r.message_id, created=aware(r.created), id=r.id, error=r.error,
                 cutoff=aware(r.cutoff) if r.cutoff else None, intro=r.intro or "",
                 editor_subject=r.editor_subject, editor_preheader=r.editor_preheader)
