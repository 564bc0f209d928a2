"""The one folder walker: which files a source (or a watched theme) folder holds.

Every walker in the package goes through `walk`, so the same files are skipped everywhere:
hidden files, editors' backups and scratch files, anything that is not a regular file, and
symbolic links that lead out of the folder (or round in a loop). Files are yielded under
their real path, once each, so a link to a file inside the folder does not read it twice.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Iterator

# Hidden files (.git, .DS_Store, vim's .x.swp), Emacs autosaves (#x#), Office lock files (~$x).
IGNORED_PREFIXES = (".", "#", "~$")
# Backups and half-written files: a save in progress must not be read as an article.
IGNORED_SUFFIXES = ("~", ".bak", ".swp", ".swo", ".tmp", ".orig", ".rej", ".part", ".crdownload")
IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini", "__pycache__"})


def ignored(name: str) -> bool:
    """True for a file or folder name that no walker looks at."""
    return name.startswith(IGNORED_PREFIXES) or name.endswith(IGNORED_SUFFIXES) or name in IGNORED_NAMES


@dataclass(frozen=True)
class Found:
    """A regular file under the root, by its real path."""

    path: str
    stat: os.stat_result


@dataclass(frozen=True)
class Skipped:
    """Something under the root that was not followed, and why (for a note)."""

    path: str
    reason: str


def walk(root: str | os.PathLike) -> Iterator[Found | Skipped]:
    """Regular files below `root` in name order, and what was skipped; an unreadable folder is Skipped."""
    top = os.path.realpath(root)
    visited = {top}
    seen_files: set[str] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(folder, f"cannot be listed: {exc.strerror or exc}")
            continue
        below: list[str] = []
        for entry in entries:
            if ignored(entry.name):
                continue
            item = _follow(entry, top, visited, seen_files)
            if isinstance(item, str):
                below.append(item)
            elif item is not None:
                yield item
        stack.extend(reversed(below))  # popped in name order


def _follow(entry: os.DirEntry, top: str, visited: set[str], seen_files: set[str]) -> Found | Skipped | str | None:
    """A Found file, a Skipped note, a folder (str) to walk next, or None for a duplicate."""
    path = entry.path
    if entry.is_symlink():
        real = os.path.realpath(path)
        if not _inside(real, top):
            return Skipped(_printable(path), f"is a link to {_printable(real)}, outside the source folder: not followed")
    else:
        real = path
    if _printable(real) != real:
        # Such a name can be neither printed in a message nor stored as a key.
        return Skipped(_printable(path), "has a name that is not UTF-8: rename it")
    try:
        info = os.stat(real)
    except OSError as exc:
        why = "is a symlink loop" if exc.errno == errno.ELOOP else f"cannot be read: {exc.strerror or exc}"
        return Skipped(path, why)
    if stat.S_ISDIR(info.st_mode):
        if real in visited:
            # A link back to a folder on the way down is a loop; to one walked elsewhere, a duplicate.
            return Skipped(path, "is a symlink loop: not followed") if _inside(os.path.dirname(path), real) else None
        visited.add(real)
        return real
    if not stat.S_ISREG(info.st_mode):
        return Skipped(path, "is not a regular file (a device, pipe or socket): not read")
    if real in seen_files:
        return None
    seen_files.add(real)
    return Found(real, info)


def _printable(path: str) -> str:
    """A path as text: the bytes of a name that is not UTF-8 (kept as surrogates by os) shown as U+FFFD."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
