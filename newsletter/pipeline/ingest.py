"""Reading articles in: import (files, folders, URLs, stdin) and the incremental sync of configured sources."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterator

from newsletter import sources
from newsletter.config import Config, Source
from newsletter.errors import SourceError
from newsletter.model import Article, ReadResult, Rejection
from newsletter.sources.common import day_to_datetime
from newsletter.sources.fetch import fetch
from newsletter.pipeline.common import open_store
from newsletter.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]  # (done, total)
UPSERT_BATCH = 2000


@dataclass
class ImportReport:
    """What an import or sync did: counts, rejected items, notes, and inputs skipped as unchanged."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inputs: int = 0
    inputs_unchanged: int = 0

    def summary(self) -> str:
        text = f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged, {len(self.rejected)} rejected"
        if self.inputs_unchanged:
            text += f" ({self.inputs_unchanged} of {self.inputs} inputs unchanged since the last sync)"
        return text


# -- reading ---------------------------------------------------------------

def _undated(config: Config, day: date | None) -> tuple[datetime, str]:
    if day is not None:
        return day_to_datetime(day, config.timezone), f"--date {day.isoformat()}"
    return datetime.now(config.timezone), "the import time"


def _read_one(data: bytes, origin: str, fmt: str | None, config: Config, day: date | None) -> ReadResult:
    when, label = _undated(config, day)
    ctx = sources.ReadContext(origin=origin, tz=config.timezone, undated=when, undated_label=label)
    try:
        return sources.read(data, ctx, fmt)
    except SourceError as exc:
        return ReadResult(rejected=[Rejection(origin, "", str(exc).removeprefix(f"{origin}: "))])


def _walk(root: Path, fmt: str | None) -> Iterator[os.DirEntry]:
    """Files below a folder that a reader takes (by extension, or all with --format), hidden ones skipped."""
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError as exc:
            log.warning("cannot list %s: %s", root, exc)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=True):
                stack.append(Path(entry.path))
            elif fmt or Path(entry.name).suffix.lower() in sources.SUFFIXES:
                yield entry


class _Importer:
    """Collects read results and writes them to the store in batches."""

    def __init__(self, store: Store, report: ImportReport):
        self.store, self.report = store, report
        self.pending = ReadResult()

    def add(self, result: ReadResult) -> None:
        self.report.rejected.extend(result.rejected)
        self.report.notes.extend(result.notes)
        self.pending.articles.extend(result.articles)
        self.pending.undated |= result.undated
        if len(self.pending.articles) >= UPSERT_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending.articles:
            counts = self.store.upsert(self.pending.articles, self.pending.undated)
            self.report.new += counts.new
            self.report.updated += counts.updated
            self.report.unchanged += counts.unchanged
        self.pending = ReadResult()


def import_inputs(config: Config, store: Store, inputs: list[str], *, fmt: str | None = None,
                  day: date | None = None, stdin: bytes | None = None, progress: Progress | None = None) -> ImportReport:
    """Read files, folders (recursively), URLs and standard input ("-") into the store."""
    report = ImportReport()
    importer = _Importer(store, report)
    jobs: list[tuple[str, Callable[[], bytes]]] = []
    for item in inputs:
        if item == "-":
            jobs.append(("<stdin>", lambda: stdin or b""))
        elif item.startswith(("http://", "https://")):
            jobs.append((item, lambda url=item: fetch(url).data or b""))
        else:
            path = Path(item)
            if path.is_dir():
                jobs.extend((e.path, lambda p=e.path: Path(p).read_bytes()) for e in _walk(path, fmt))
            elif path.exists():
                jobs.append((item, path.read_bytes))
            else:
                report.rejected.append(Rejection(item, "", "does not exist (check the path)"))
    report.inputs = len(jobs)
    for done, (origin, load) in enumerate(jobs, 1):
        try:
            data = load()
        except SourceError as exc:
            report.rejected.append(Rejection(origin, "", exc.message + (f" ({exc.hint})" if exc.hint else "")))
        except OSError as exc:
            report.rejected.append(Rejection(origin, "", f"cannot be read: {exc.strerror}"))
        else:
            importer.add(_read_one(data, origin, fmt, config, day))
        if progress:
            progress(done, len(jobs))
    importer.flush()
    return report


def sync(config: Config, store: Store, progress: Progress | None = None) -> ImportReport:
    """Re-read the configured sources; files whose size and mtime are unchanged are not parsed again."""
    report = ImportReport()
    importer = _Importer(store, report)
    for source in config.sources:
        if source.url:
            _sync_url(config, store, source, report, importer)
        else:
            _sync_path(config, store, source, report, importer, progress)
    importer.flush()
    return report


def _sync_url(config: Config, store: Store, source: Source, report: ImportReport, importer: _Importer) -> None:
    report.inputs += 1
    old = store.source_states(source.url).get(source.url, (None, None, None, None))
    try:
        got = fetch(source.url, old[2], old[3])
    except SourceError as exc:
        report.rejected.append(Rejection(source.url, "", exc.message))
        return
    if got.data is None:
        report.inputs_unchanged += 1
        return
    result = _read_one(got.data, source.url, source.format, config, None)
    importer.add(result)
    if not result.rejected:
        store.save_source_states({source.url: (None, len(got.data), got.etag, got.last_modified)})


def _sync_path(config: Config, store: Store, source: Source, report: ImportReport, importer: _Importer,
               progress: Progress | None) -> None:
    root = source.path
    if not root.exists():
        report.rejected.append(Rejection(str(root), "", "does not exist (fix the path in [[sources]])"))
        return
    seen = store.source_states(str(root) + os.sep if root.is_dir() else str(root))
    if root.is_dir():
        files = [(e.path, e.stat()) for e in _walk(root, source.format)]
    else:
        files = [(str(root), root.stat())]
    fresh: dict[str, tuple] = {}
    report.inputs += len(files)
    for done, (path, st) in enumerate(files, 1):
        if seen.get(path, (None, None))[:2] == (st.st_mtime_ns, st.st_size):
            report.inputs_unchanged += 1
            continue
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            report.rejected.append(Rejection(path, "", f"cannot be read: {exc.strerror}"))
            continue
        result = _read_one(data, path, source.format, config, None)
        importer.add(result)
        # A file with rejected items is read again next time, so its errors keep being reported.
        if not result.rejected:
            fresh[path] = (st.st_mtime_ns, st.st_size, None, None)
        if progress:
            progress(done, len(files))
    importer.flush()
    live = {path for path, _ in files}
    store.save_source_states(fresh, removed=[k for k in seen if k not in live])


# -- listing ---------------------------------------------------------------

def list_articles(config: Config, *, topics: list[str], since: datetime | None, until: datetime | None,
                  source: str | None, limit: int | None, sync_first: bool = True) -> tuple[list[Article], ImportReport | None]:
    """Stored articles, newest first, after an incremental sync."""
    with open_store(config) as store:
        report = sync(config, store) if sync_first else None
        return store.find_articles(topics_any=topics, since=since, until=until, source=source, limit=limit), report


def list_topics(config: Config, *, sync_first: bool = True):
    """Every topic with its article count and latest date, after an incremental sync."""
    with open_store(config) as store:
        report = sync(config, store) if sync_first else None
        return store.topic_counts(), report


def import_into_store(config: Config, inputs: list[str], **kwargs) -> ImportReport:
    """`newsletter import`: read the inputs into the configured store."""
    with open_store(config) as store:
        return import_inputs(config, store, inputs, **kwargs)


def sync_store(config: Config, progress: Progress | None = None) -> ImportReport:
    """`newsletter sync`: re-read the configured sources."""
    with open_store(config) as store:
        return sync(config, store, progress)

