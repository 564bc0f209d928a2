"""The public archive: each issue kept as sent, its pages and feeds, and the static copy of it all."""

from __future__ import annotations

import logging
import os
import re
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from newsletter import compose
from newsletter.config import DIGEST_NAME, Config, Digest
from newsletter.errors import ArchiveError, ArchiveNotFound
from newsletter.model import ArchivedIssue, Issue
from newsletter.pipeline.common import open_store
from newsletter.store import Store

log = logging.getLogger(__name__)

__all__ = ["ArchiveReport", "archive_digest_html", "archive_feed_xml", "archive_index_html", "archive_issue_html",
           "keep_as_sent", "write_archive"]


def keep_as_sent(config: Config, store: Store, digest: Digest, issue: Issue, now: datetime) -> None:
    """Archive the issue as its send to subscribers starts: once, rendered for no reader in particular."""
    if store.archive.has(digest.name, issue.key):
        return  # a re-run or a second worker: the copy kept first stays as it is
    rendered = compose.render(issue, digest, config, archived=True)
    kept = store.archive.keep(ArchivedIssue(digest.name, issue.key, issue.issue_date, issue.subject or rendered.subject,
                                            now, rendered.preheader, rendered.web_html, rendered.text))
    if kept:
        log.info("archived %s %s", digest.name, issue.key)


# What a digest name (config's rule) or an issue key (a date or time) can be at all, within their columns:
# anything else from a URL is no page, and PostgreSQL refuses a NUL in a query (a 500 for /archive/%00/).
_KEY = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,31}")


def _issues(store: Store, config: Config, digest: str) -> list[ArchivedIssue]:
    found = store.archive.issues(digest) if DIGEST_NAME.fullmatch(digest) else []
    if not found and digest not in config.digests:
        known = sorted({e.digest for e in store.archive.issues()} | set(config.digests))
        raise ArchiveNotFound(f"no digest named {digest!r} in the archive", where="archive",
                              hint=f"the digests are: {', '.join(known)}" if known else "nothing is archived yet")
    return found


def _issue_html(config: Config, store: Store, digest: str, key: str) -> str:
    entry = store.archive.get(digest, key) if DIGEST_NAME.fullmatch(digest) and _KEY.fullmatch(key) else None
    if entry is None:
        _issues(store, config, digest)  # an unknown digest says so first
        raise ArchiveNotFound(f"no issue {key!r} of {digest!r} was sent", where="archive",
                              hint=f"newsletter issues --digest {digest} lists them")
    if entry.stored:
        return entry.html
    # Sent before the archive existed: rendered again from its stored articles with today's theme.
    issue = store.get_issue(digest, key)
    if issue is None or digest not in config.digests:
        raise ArchiveNotFound(f"issue {key!r} of {digest!r} was sent before the archive existed and its digest "
                              "is no longer configured", where="archive", hint=f"add [digests.{digest}] back")
    return compose.render(issue, config.digests[digest], config, archived=True).web_html


@contextmanager
def _reading(config: Config, store: Store | None) -> Iterator[Store]:
    """The caller's open store (a server keeps one: opening costs more than the page), else one for this call."""
    if store is not None:
        yield store
        return
    with open_store(config) as opened:
        yield opened


def archive_index_html(config: Config, *, store: Store | None = None) -> str:
    """The archive's front page: the digests that have sent issues."""
    with _reading(config, store) as store:
        return compose.archive_index_page(config, store.archive.issues())


def archive_digest_html(config: Config, digest: str, *, store: Store | None = None) -> str:
    """One digest's page: its sent issues, newest first."""
    with _reading(config, store) as store:
        return compose.archive_digest_page(config, digest, _issues(store, config, digest))


def archive_issue_html(config: Config, digest: str, key: str, *, store: Store | None = None) -> str:
    """One issue as sent, without any reader's token or address."""
    with _reading(config, store) as store:
        return _issue_html(config, store, digest, key)


def archive_feed_xml(config: Config, digest: str, now: datetime | None = None, *, store: Store | None = None) -> str:
    """The digest's Atom 1.0 feed: one entry per sent issue."""
    with _reading(config, store) as store:
        return compose.archive_feed(config, digest, _issues(store, config, digest), now or datetime.now(timezone.utc))


@dataclass
class ArchiveReport:
    out: Path
    files: list[Path] = field(default_factory=list)  # every file written, index pages and feeds included
    issues: int = 0


def write_archive(config: Config, out: Path, digest: str | None = None, now: datetime | None = None) -> ArchiveReport:
    """Write the archive as static files under `out` (`out` is what /archive/ serves); one digest's or all."""
    report = ArchiveReport(out)
    now = now or datetime.now(timezone.utc)
    _prepare(out)
    with open_store(config) as store:
        everything = store.archive.issues()
        names = [digest] if digest is not None else sorted({e.digest for e in everything})
        _write(report, out / "index.html", compose.archive_index_page(config, everything))
        for name in names:
            entries = _issues(store, config, name)
            _write(report, out / name / "index.html", compose.archive_digest_page(config, name, entries))
            _write(report, out / name / "feed.xml", compose.archive_feed(config, name, entries, now))
            for entry in entries:
                _write(report, out / name / entry.key / "index.html", _issue_html(config, store, name, entry.key))
                report.issues += 1
    return report


def _prepare(out: Path) -> None:
    if out.is_symlink() and not out.exists():  # mkdir would say "File exists" of a link to nowhere
        raise ArchiveError(f"is a link to {os.readlink(out)}, which does not exist", where=str(out),
                           hint="make the folder it points at, or give --out another folder")
    if out.exists() and not out.is_dir():
        raise ArchiveError("is not a folder", where=str(out), hint="give --out a folder (it is made if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveError(f"cannot make the folder: {exc.strerror}", where=str(exc.filename or out),
                           hint="choose a folder you can write to") from None


def _write(report: ArchiveReport, path: Path, text: str) -> None:
    """Write through a temporary file renamed over the old one: a reader sees the old file or the new, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        # Not mkstemp: its files are owner-only, and the archive is public; 0o666 lets the umask decide.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as exc:
        raise ArchiveError(f"cannot write: {exc.strerror}", where=str(exc.filename or path),
                           hint="choose a folder you can write to") from None
    report.files.append(path)
