"""Reading articles in: import (files, folders, URLs, stdin) and the incremental sync of configured sources."""

from __future__ import annotations

import itertools
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from newsletter import sources
from newsletter.config import Config, Source
from newsletter.errors import SourceError
from newsletter.model import ReadResult, Rejection
from newsletter.pipeline.common import open_store
from newsletter.store import Store
from newsletter.walk import Found, Skipped, walk

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]  # (done, total)
UPSERT_BATCH = 2000


@dataclass
class ImportReport:
    """What an import or sync did: counts, what it has to say (said once), and what it left alone."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inputs: int = 0
    inputs_unchanged: int = 0
    known_problems: int = 0  # inputs failing as they did at the last sync: said then, not again
    not_due: int = 0         # sources marked `every` that were looked at recently enough

    def summary(self) -> str:
        text = f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged, {len(self.rejected)} rejected"
        more = []
        if self.inputs_unchanged:
            more.append(f"{self.inputs_unchanged} of {self.inputs} inputs unchanged since the last sync")
        if self.not_due:
            more.append(f"{self.not_due} {'source' if self.not_due == 1 else 'sources'} not due yet (every)")
        if self.known_problems:
            more.append(f"{self.known_problems} known {'problem' if self.known_problems == 1 else 'problems'} "
                        "not repeated: see `newsletter sources`")
        return text + (f" ({'; '.join(more)})" if more else "")


# -- reading ---------------------------------------------------------------

def _contexts(config: Config, day: date | None = None) -> Callable[..., sources.ReadContext]:
    """A ReadContext maker for one import or sync: every input of it dates undated items alike."""
    if day is not None:
        when, label = sources.day_to_datetime(day, config.timezone), f"--date {day.isoformat()}"
    else:
        when, label = datetime.now(config.timezone), "the import time"

    def ctx_for(origin: str, root: str | None = None, content_type: str | None = None) -> sources.ReadContext:
        return sources.ReadContext(origin=origin, tz=config.timezone, undated=when, undated_label=label, root=root,
                                   content_type=content_type, max_file_size=config.max_file_size,
                                   max_article_size=config.max_article_size)

    return ctx_for


class _Importer:
    """Collects read results and writes them to the store in batches.

    Articles that carry the id an earlier release gave them (see model.ReadResult.aliases)
    wait until the end: the old id is re-keyed only when exactly one file claims it.
    """

    def __init__(self, store: Store, report: ImportReport, claims: Counter):
        self.store, self.report, self.claims = store, report, claims
        self.pending = ReadResult()
        self.aliased = ReadResult()

    def add(self, result: ReadResult) -> None:
        self.report.rejected.extend(result.rejected)
        self.report.notes.extend(result.notes)
        for article in result.articles:
            target = self.aliased if article.id in result.aliases else self.pending
            target.articles.append(article)
            if article.id in result.undated:
                target.undated.add(article.id)
        self.aliased.aliases.update(result.aliases)
        if len(self.pending.articles) >= UPSERT_BATCH:
            self._upsert(self.pending)
            self.pending = ReadResult()

    def take(self, done: sources.Refreshed) -> None:
        self.add(done.result)
        self.report.inputs += done.inputs
        self.report.inputs_unchanged += done.unchanged
        self.report.known_problems += done.known_problems

    def finish(self) -> None:
        renames = {}
        for new, old in self.aliased.aliases.items():
            if self.claims[old] == 1:
                renames[old] = new
            elif self.claims[old] > 1:
                self.report.notes.append(
                    f"{new.removeprefix('file:')}: {self.claims[old]} files have its name, so the article an earlier "
                    f"release stored as {old} is left as it was (check that the next issue does not carry it twice)")
        if renames:
            self.store.rename_articles(renames)
        self._upsert(self.pending)
        self._upsert(self.aliased)

    def _upsert(self, batch: ReadResult) -> None:
        if batch.articles:
            counts = self.store.upsert(batch.articles, batch.undated)
            self.report.new += counts.new
            self.report.updated += counts.updated
            self.report.unchanged += counts.unchanged


def _claims(paths, fmt: str | None) -> Counter:
    """How many Markdown files may carry each release-1 id (a file's stem)."""
    return Counter(sources.legacy_id(p) for p in paths
                   if (fmt or sources.SUFFIXES.get(Path(p).suffix.lower())) == "markdown")


def import_inputs(config: Config, store: Store, inputs: list[str], *, fmt: str | None = None,
                  day: date | None = None, stdin: bytes | None = None, progress: Progress | None = None) -> ImportReport:
    """Read files, folders (recursively), URLs and standard input ("-") into the store."""
    report = ImportReport()
    ctx_for = _contexts(config, day)
    jobs: list[tuple[str, str | None]] = []  # (path, the source folder its id is relative to)
    urls: list[str] = []  # and "-": standard input is read with the fetches
    for item in inputs:
        if item == "-" or item.startswith(("http://", "https://")):
            urls.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            for entry in walk(path):
                if isinstance(entry, Skipped):
                    report.notes.append(f"{entry.path}: {entry.reason}")
                elif fmt or Path(entry.path).suffix.lower() in sources.SUFFIXES:
                    jobs.append((entry.path, _root(config, entry.path, os.path.realpath(path))))
        elif path.is_file():
            real = os.path.realpath(path)
            jobs.append((real, _root(config, real, None)))
        elif path.exists():
            report.rejected.append(Rejection(item, "", "is not a regular file (a device, pipe or socket)"))
        else:
            report.rejected.append(Rejection(item, "", "does not exist (check the path)"))
    importer = _Importer(store, report, _claims((path for path, _ in jobs), fmt))
    report.inputs = len(jobs) + len(urls)
    done = itertools.count(1)
    for path, root in jobs:
        importer.add(_read_path(path, ctx_for(path, root=root), fmt))
        if progress:
            progress(next(done), report.inputs)

    def load(url: str) -> ReadResult:
        if url == "-":
            return sources.read(stdin or b"", ctx_for("<stdin>"), fmt)
        got = sources.fetch(url, max_bytes=config.max_file_size)
        if got.error:
            return ReadResult(rejected=[Rejection(url, "", f"{got.error} ({got.hint or 'check the URL and the network'})")])
        return sources.read(got.data or b"", ctx_for(url, content_type=got.content_type), fmt)

    tick = (lambda: progress(next(done), report.inputs)) if progress else None
    for _, result in sources.in_parallel(load, urls, tick):
        importer.add(result)
    importer.finish()
    return report


def _read_path(path: str, ctx: sources.ReadContext, fmt: str | None) -> ReadResult:
    try:
        data = sources.load_file(path, os.stat(path).st_size, ctx.max_file_size)
    except SourceError as exc:
        return ReadResult(rejected=[Rejection(path, "", f"{exc.message} ({exc.hint})")])
    except OSError as exc:
        return ReadResult(rejected=[Rejection(path, "", f"cannot be read: {exc.strerror or exc}")])
    return sources.read(data, ctx, fmt)


def _root(config: Config, path: str, default: str | None) -> str | None:
    """The folder a file's id is taken relative to: the outermost configured source folder it is in, else `default`.

    So a file has one id whichever way it is read: by `import`, or through a folder inside another.
    """
    folders = [str(s.path) for s in config.sources if s.path is not None and s.path.is_dir()
               and path.startswith(sources.file_key(s.path))]
    return min(folders, key=len) if folders else default


def sync(config: Config, store: Store, progress: Progress | None = None, *, now: datetime | None = None) -> ImportReport:
    """Re-read the configured sources: only what changed, feeds side by side; each problem is said once."""
    now = now or datetime.now(timezone.utc)
    report = ImportReport()
    ctx_for = _contexts(config)
    states = store.sync_state.sources()
    folders: list[tuple[Source, list]] = []
    feeds = []
    for source in config.sources:
        state = states.get(source.label)
        if not sources.due(source, state, now):
            report.not_due += 1
        elif source.url:
            feeds.append((source, state))
        else:
            folders.append((source, sources.list_files(source)))
    found = {source: [e.path for e in listed if isinstance(e, Found)] for source, listed in folders}
    claims = sum((_claims(paths, source.format) for source, paths in found.items()), Counter())
    importer = _Importer(store, report, claims)
    total = sum(map(len, found.values())) + len(feeds)
    count = itertools.count(1)
    tick = (lambda: progress(next(count), total)) if progress else None
    new_states, changed, removed = [], [], []
    read_already: set[str] = set()
    for source, listed in folders:
        key = sources.file_key(source.path)
        old = store.sync_state.files(key) if source.path.is_dir() else {
            k: v for k, v in store.sync_state.files(str(source.path)).items() if k == str(source.path)}
        # A folder inside another configured folder: its files were read with the outer one.
        listed = [e for e in listed if e.path not in read_already]
        read_already.update(e.path for e in listed)
        done = sources.refresh_folder(source, states.get(source.label), old, listed, ctx_for, now, tick,
                                      root=_root(config, str(source.path), None))
        importer.take(done)
        new_states.append(done.state)
        # Only what changed is written: a sync of 10,000 unchanged files writes no file state.
        changed += [f for f in done.files if old.get(f.key) != f]
        removed += done.removed
    for source, done in sources.refresh_feeds(feeds, ctx_for, now, config.max_file_size, tick):
        importer.take(done)
        new_states.append(done.state)
    # Articles first, states after: a sync killed in between reads the same inputs again next time.
    importer.finish()
    # A file left out of an outer folder's listing because an inner one read it is not gone.
    gone = [key for key in removed if key not in read_already]
    store.sync_state.save(new_states, changed, gone, keep_sources={s.label for s in config.sources})
    return report


# -- listing ---------------------------------------------------------------

def list_articles(config: Config, *, topics: list[str], since: datetime | None, until: datetime | None,
                  source: str | None, limit: int | None, sync_first: bool = True,
                  progress: Progress | None = None) -> tuple[list, ImportReport | None]:
    """Stored articles, newest first, after an incremental sync."""
    with open_store(config) as store:
        report = sync(config, store, progress) if sync_first else None
        return store.find_articles(topics_any=topics, since=since, until=until, source=source, limit=limit), report


def list_topics(config: Config, *, sync_first: bool = True, progress: Progress | None = None):
    """Every topic with its article count and latest date, after an incremental sync."""
    with open_store(config) as store:
        report = sync(config, store, progress) if sync_first else None
        return store.topic_counts(), report


def import_into_store(config: Config, inputs: list[str], **kwargs) -> ImportReport:
    """`newsletter import`: read the inputs into the configured store."""
    with open_store(config) as store:
        return import_inputs(config, store, inputs, **kwargs)


def sync_store(config: Config, progress: Progress | None = None) -> ImportReport:
    """`newsletter sync`: re-read the configured sources."""
    with open_store(config) as store:
        return sync(config, store, progress)
