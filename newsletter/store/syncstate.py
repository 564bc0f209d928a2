"""What the last syncs found: one row per configured source, one per file below a folder source."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Collection, Iterable

import sqlalchemy as sa

from newsletter.model import FileState, SourceState
from newsletter.store.engine import serialise
from newsletter.store.tables import CHUNK, source_files, source_states


def _naive(dt: datetime | None) -> datetime | None:
    return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt is not None else None


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None else None


class SyncState:
    """The source_states and source_files tables."""

    def __init__(self, engine: sa.Engine, writer: sa.Engine):
        self.engine, self.writer = engine, writer

    def sources(self) -> dict[str, SourceState]:
        """Every configured source's state, by its key (URL or folder path)."""
        with self.engine.connect() as conn:
            return {r.key: SourceState(
                key=r.key, last_checked=_aware(r.last_checked), last_read=_aware(r.last_read), articles=r.articles,
                error=r.error, status=r.status, etag=r.etag, last_modified=r.last_modified, fingerprint=r.fingerprint,
                moved_to=r.moved_to, gone=r.gone) for r in conn.execute(sa.select(source_states))}

    def files(self, prefix: str | None = None) -> dict[str, FileState]:
        """The files below a folder (every file when no prefix), by path."""
        q = sa.select(source_files)
        if prefix:
            q = q.where(source_files.c.key.startswith(prefix, autoescape=True))
        with self.engine.connect() as conn:
            return {r.key: FileState(key=r.key, mtime_ns=r.mtime_ns, size=r.size, fingerprint=r.fingerprint,
                                     error=r.error, articles=r.articles) for r in conn.execute(q)}

    def save(self, sources: Iterable[SourceState] = (), files: Iterable[FileState] = (), removed: Iterable[str] = (),
             keep_sources: Collection[str] | None = None) -> None:
        """Write states; forget `removed` files, and every source not in `keep_sources` when it is given."""
        sources, files, removed = list(sources), list(files), list(removed)
        if not (sources or files or removed or keep_sources is not None):
            return
        with self.writer.begin() as conn:
            serialise(conn, "source_files")
            _replace(conn, source_states, [dict(
                key=s.key, last_checked=_naive(s.last_checked), last_read=_naive(s.last_read), articles=s.articles,
                error=s.error, status=s.status, etag=s.etag, last_modified=s.last_modified, fingerprint=s.fingerprint,
                moved_to=s.moved_to, gone=s.gone) for s in sources])
            _replace(conn, source_files, [dict(
                key=f.key, mtime_ns=f.mtime_ns, size=f.size, fingerprint=f.fingerprint, error=f.error,
                articles=f.articles) for f in files], removed)
            if keep_sources is not None:
                # A source taken out of the config takes its files and its state (a 410, say) with it.
                gone = [k for k in conn.execute(sa.select(source_states.c.key)).scalars() if k not in keep_sources]
                _delete(conn, source_states, gone)
                for key in gone:
                    conn.execute(source_files.delete().where(
                        source_files.c.key.startswith(key.rstrip("/") + "/", autoescape=True) | (source_files.c.key == key)))


def _replace(conn: sa.Connection, table: sa.Table, rows: list[dict], removed: Iterable[str] = ()) -> None:
    _delete(conn, table, [r["key"] for r in rows] + list(removed))
    if rows:
        conn.execute(table.insert(), rows)


def _delete(conn: sa.Connection, table: sa.Table, keys: list[str]) -> None:
    for i in range(0, len(keys), CHUNK):
        conn.execute(table.delete().where(table.c.key.in_(keys[i:i + CHUNK])))
