"""Incremental reading of the configured sources: what changed since the last sync, and what to say about it.

Given the state the last sync left (model.SourceState, model.FileState), these functions read
only what changed: a file whose size and time are the same is skipped, one that was only
touched (same bytes) is not parsed again, a feed is fetched with its validators and skipped
when its body is the one parsed last time. A problem is reported once: when it first appears
or when the input changes, never again on each sync while nothing changed (the state keeps
it, `newsletter sources` shows it). Nothing here touches the store: the pipeline loads the
states, calls these, and saves what they return.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from newsletter.config import Source, format_size
from newsletter.errors import SourceError
from newsletter.model import FileState, ReadResult, Rejection, SourceState
from newsletter.sources import ReadContext, read
from newsletter.sources.fetch import fetch
from newsletter.walk import Found, Skipped, walk

log = logging.getLogger(__name__)

# Fetches wait on the network, not the CPU: 32 at once fetch a typical list of feeds in one round.
FETCH_WORKERS = 32
ContextFor = Callable[..., ReadContext]  # (origin, root=..., content_type=...) -> ReadContext


@dataclass
class Refreshed:
    """What one look at one source found."""

    state: SourceState
    result: ReadResult = field(default_factory=ReadResult)  # new articles and what is worth saying now
    files: list[FileState] = field(default_factory=list)    # a folder's files, as they are now
    removed: list[str] = field(default_factory=list)        # files that are gone since the last sync
    inputs: int = 0
    unchanged: int = 0
    known_problems: int = 0                                  # unchanged inputs still failing: not said again


def due(source: Source, state: SourceState | None, now: datetime) -> bool:
    """False while a source marked `every` was looked at less than that long ago."""
    return source.every is None or state is None or state.last_checked is None or now >= state.last_checked + source.every


def next_look(source: Source, state: SourceState | None) -> datetime | None:
    """When a source marked `every` is looked at next (None: at every sync)."""
    if source.every is None or state is None or state.last_checked is None:
        return None
    return state.last_checked + source.every


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- folders and files --------------------------------------------------------

def list_files(source: Source) -> list[Found | Skipped]:
    """What a path source holds: its files (those a reader takes, or all with a format) and what was skipped."""
    from newsletter.sources import SUFFIXES

    root = source.path
    try:
        if not root.is_dir():
            info = root.stat()
            if not stat.S_ISREG(info.st_mode):
                return [Skipped(str(root), "is not a regular file (a device, pipe or socket): not read")]
            return [Found(str(root), info)]
    except OSError as exc:
        return [Skipped(str(root), f"cannot be read: {exc.strerror or exc}")]
    return [f for f in walk(root) if isinstance(f, Skipped) or source.format or Path(f.path).suffix.lower() in SUFFIXES]


def refresh_folder(source: Source, state: SourceState | None, old_files: dict[str, FileState],
                   listed: list[Found | Skipped], ctx_for: ContextFor, now: datetime,
                   progress: Callable[[], None] | None = None, root: str | None = None) -> Refreshed:
    """Read the files of a path source that changed since the last sync.

    `root` is the folder Markdown ids are relative to (the source's own folder by default).
    """
    key = str(source.path)
    state = state or SourceState(key)
    if not source.path.exists():
        error = "does not exist (fix the path in [[sources]])"
        done = Refreshed(replace(state, last_checked=now, error=error), removed=list(old_files))
        _report_once(done, state.error, error, Rejection(key, "", error))
        return done
    done = Refreshed(state)
    root = root or (key if source.path.is_dir() else None)
    for entry in listed:
        old = old_files.get(entry.path)
        if isinstance(entry, Skipped):
            # A link not followed is said once, like a rejected file: the state keeps the reason.
            done.files.append(FileState(entry.path, fingerprint="skipped", error=entry.reason))
            if old is None or old.error != entry.reason:
                done.result.notes.append(f"{entry.path}: {entry.reason}")
            continue
        done.inputs += 1
        new = _refresh_file(entry, old, source, ctx_for(entry.path, root=root), done)
        done.files.append(new)
        if progress:
            progress()
    live = {f.key for f in done.files}
    done.removed = [k for k in old_files if k not in live]
    failed = [f for f in done.files if f.error and f.fingerprint != "skipped"]
    error = f"{len(failed)} of {done.inputs} files rejected" if failed else None
    done.state = replace(state, last_checked=now, last_read=now, error=error,
                         articles=sum(f.articles for f in done.files))
    return done


def _refresh_file(entry: Found, old: FileState | None, source: Source, ctx: ReadContext, done: Refreshed) -> FileState:
    st = entry.stat
    if old is not None and (old.mtime_ns, old.size) == (st.st_mtime_ns, st.st_size):
        done.unchanged += 1
        done.known_problems += bool(old.error)
        return old
    try:
        data = load_file(entry.path, st.st_size, ctx.max_file_size)
    except SourceError as exc:
        return _file_failed(entry, old, exc.message, done)
    except OSError as exc:
        # No time and size kept: a fixed permission changes neither, and the file must be tried again.
        return _file_failed(entry, old, f"cannot be read: {exc.strerror or exc}", done, retry=True)
    digest = fingerprint(data)
    if old is not None and old.fingerprint == digest:
        # Touched, not changed: nothing new to read or to say.
        done.unchanged += 1
        done.known_problems += bool(old.error)
        return replace(old, mtime_ns=st.st_mtime_ns, size=st.st_size)
    result = read(data, ctx, source.format)
    done.result.extend(result)
    return FileState(entry.path, st.st_mtime_ns, st.st_size, digest, _summary(result.rejected), len(result.articles))


def load_file(path: str, size: int, max_bytes: int) -> bytes:
    """A file's bytes; SourceError when it is over max_bytes, OSError when it cannot be read."""
    if size > max_bytes:
        raise SourceError(f"is {format_size(size)}, over max_file_size ({format_size(max_bytes)})", where=path,
                          hint="raise max_file_size in [newsletter] to read it")
    with open(path, "rb") as fh:
        return fh.read(max_bytes + 1)  # one byte over is enough for the reader to refuse a file that grew


def _file_failed(entry: Found, old: FileState | None, error: str, done: Refreshed, retry: bool = False) -> FileState:
    _report_once(done, old.error if old else None, error, Rejection(entry.path, "", error))
    if retry:
        return FileState(entry.path, None, None, None, error)
    return FileState(entry.path, entry.stat.st_mtime_ns, entry.stat.st_size, None, error)


def _summary(rejected: list[Rejection]) -> str | None:
    if not rejected:
        return None
    first = rejected[0]
    text = f"{first.item}: {first.reason}" if first.item else first.reason
    return text + (f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else "")


def _report_once(done: Refreshed, old_error: str | None, error: str, rejection: Rejection) -> None:
    """Say a problem unless it is the one the last sync said already."""
    if old_error == error:
        done.known_problems += 1
    else:
        done.result.rejected.append(rejection)


# -- feeds ---------------------------------------------------------------------

def in_parallel(work: Callable, items: list, progress: Callable[[], None] | None = None) -> Iterator[tuple]:
    """(item, work(item)) for each item, run in threads side by side (fetches wait on the network), as each is done."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=min(FETCH_WORKERS, len(items)), thread_name_prefix="fetch") as pool:
        futures = {pool.submit(work, item): index for index, item in enumerate(items)}
        for future in as_completed(futures):
            if progress:
                progress()
            yield items[futures[future]], future.result()


def refresh_feeds(feeds: list[tuple[Source, SourceState | None]], ctx_for: ContextFor, now: datetime, max_bytes: int,
                  progress: Callable[[], None] | None = None) -> Iterator[tuple[Source, Refreshed]]:
    """Fetch and read feeds side by side, yielding each as it is done."""
    def work(feed: tuple[Source, SourceState | None]) -> Refreshed:
        return refresh_feed(feed[0], feed[1], ctx_for, now, max_bytes)

    for (source, _), done in in_parallel(work, feeds, progress):
        yield source, done


def refresh_feed(source: Source, state: SourceState | None, ctx_for: ContextFor, now: datetime,
                 max_bytes: int) -> Refreshed:
    """Fetch one feed (conditionally) and read it if its body changed; never raises."""
    url = source.url
    old = state or SourceState(url)
    done = Refreshed(old, inputs=1)
    if old.gone:
        done.known_problems = 1  # said when it answered 410; not fetched again while it is configured
        return done
    got = fetch(url, old.etag, old.last_modified, timeout=source.timeout, max_bytes=max_bytes)
    state = replace(old, last_checked=now, status=got.status, moved_to=got.moved_to)
    if got.moved_to and got.moved_to != old.moved_to:
        done.result.notes.append(f'{url}: moved permanently to {got.moved_to}; put url = "{got.moved_to}" '
                                 "in its [[sources]] table")
    if got.error:
        # The articles read before stay in the store: that is the stale copy an issue can still use.
        error = got.error + (f"; the {old.articles} articles read from it before are kept" if old.articles else "")
        hint = ("remove it from newsletter.toml; it is not fetched again while it is there" if got.gone
                else got.hint or "check the URL in [[sources]] and the network")
        done.state = replace(state, error=error, gone=got.gone)
        _report_once(done, old.error, error, Rejection(url, "", f"{error} ({hint})"))
        return done
    state = replace(state, last_read=now, etag=got.etag, last_modified=got.last_modified)
    digest = None if got.not_modified else fingerprint(got.data)
    if got.not_modified or digest == old.fingerprint:
        # The body read last time: its problems, if it had any, were said then.
        content_error = old.error if old.status in (200, 304) else None
        done.state = replace(state, error=content_error)
        done.unchanged, done.known_problems = 1, int(content_error is not None)
        return done
    result = read(got.data, ctx_for(url, content_type=got.content_type), source.format)
    result.notes[:0] = done.result.notes
    done.result = result
    done.state = replace(state, fingerprint=digest, articles=len(result.articles), error=_summary(result.rejected))
    return done


def file_key(path: str | os.PathLike) -> str:
    """The key of a folder's files in the state: its path with a trailing separator."""
    return str(path).rstrip(os.sep) + os.sep
