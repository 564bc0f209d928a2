"""The archive: each issue as sent to subscribers, kept once, and which issues it lists in what order."""

from __future__ import annotations

import sqlalchemy as sa

from newsletter.model import ArchivedIssue
from newsletter.store.engine import serialise
from newsletter.store.ledger import SENT
from newsletter.store.rows import aware, naive_utc
from newsletter.store.tables import archived_issues, deliveries, issues

_SUMMARY = [archived_issues.c.digest, archived_issues.c.key, archived_issues.c.issue_date,
            archived_issues.c.subject, archived_issues.c.preheader, archived_issues.c.sent]


class Archive:
    """The archived_issues table, and the issues sent before it existed."""

    def __init__(self, engine: sa.Engine, writer: sa.Engine):
        self.engine, self.writer = engine, writer

    def has(self, digest: str, key: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(archived_issues.c.key).where(
                archived_issues.c.digest == digest, archived_issues.c.key == key)).first() is not None

    def keep(self, entry: ArchivedIssue) -> bool:
        """Store an issue as sent unless a copy is kept already (that one is never changed); True if stored now."""
        with self.writer.begin() as conn:
            # Two senders starting one issue together: the second waits here, then finds the first's copy.
            serialise(conn, f"archive:{entry.digest}:{entry.key}")
            if conn.execute(sa.select(archived_issues.c.key).where(
                    archived_issues.c.digest == entry.digest, archived_issues.c.key == entry.key)).first():
                return False
            conn.execute(archived_issues.insert().values(
                digest=entry.digest, key=entry.key, issue_date=entry.issue_date, subject=entry.subject,
                preheader=entry.preheader, sent=naive_utc(entry.sent), html=entry.html, text=entry.text))
            return True

    def get(self, digest: str, key: str) -> ArchivedIssue | None:
        """One archived issue with its HTML and text, or (sent before the archive existed) its summary; else None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(archived_issues).where(
                archived_issues.c.digest == digest, archived_issues.c.key == key)).first()
            if row is not None:
                return _entry(row, html=row.html, text=row.text)
            found = self._sent_earlier(conn, digest, key)
        return found[0] if found else None

    def issues(self, digest: str | None = None) -> list[ArchivedIssue]:
        """The archived issues (without HTML and text), newest first; of one digest or of all."""
        q = sa.select(*_SUMMARY)
        if digest is not None:
            q = q.where(archived_issues.c.digest == digest)
        with self.engine.connect() as conn:
            found = [_entry(r) for r in conn.execute(q)] + self._sent_earlier(conn, digest)
        return sorted(found, key=lambda e: (e.issue_date, e.key), reverse=True)

    def _sent_earlier(self, conn: sa.Connection, digest: str | None, key: str | None = None) -> list[ArchivedIssue]:
        """Issues that reached a subscriber but have no archived copy: sent before the archive existed.

        Dated by when the issue was recorded: one index probe per issue (deliveries by issue and
        state), where the time of its first delivery would read every delivery row it has.
        """
        kept = sa.select(archived_issues.c.key).where(archived_issues.c.digest == issues.c.digest,
                                                      archived_issues.c.key == issues.c.key)
        reached = sa.select(deliveries.c.id).where(deliveries.c.issue_id == issues.c.id, deliveries.c.status == SENT)
        q = (sa.select(issues.c.digest, issues.c.key, issues.c.issue_date, issues.c.subject, issues.c.created)
             .where(reached.exists(), ~kept.exists()))
        if digest is not None:
            q = q.where(issues.c.digest == digest)
        if key is not None:
            q = q.where(issues.c.key == key)
        return [ArchivedIssue(r.digest, r.key, r.issue_date, r.subject, aware(r.created), stored=False)
                for r in conn.execute(q)]


def _entry(row, html: str = "", text: str = "") -> ArchivedIssue:
    return ArchivedIssue(row.digest, row.key, row.issue_date, row.subject, aware(row.sent), row.preheader,
                         html, text)

