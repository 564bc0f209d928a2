"""A version counter that goes up whenever a watched file is saved, added or removed (mtime polling)."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path
from typing import Callable, Iterable

from newsletter.walk import Found, walk

log = logging.getLogger(__name__)

Stamp = tuple[int, int] | None  # (mtime_ns, size), None when the path is missing


def snapshot(roots: Iterable[Path]) -> dict[str, Stamp]:
    """Every file under the roots (skipped as every walker skips them: see newsletter.walk) with its mtime and size."""
    seen: dict[str, Stamp] = {}
    for root in roots:
        try:
            st = os.stat(root)
        except OSError:
            seen[str(root)] = None  # a missing root counts too: creating it is a change
            continue
        if not stat.S_ISDIR(st.st_mode):
            seen[str(root)] = (st.st_mtime_ns, st.st_size)
            continue
        # Swap and backup files change on every keystroke of an unsaved buffer; only a real save should re-render.
        for entry in walk(root):
            if isinstance(entry, Found):
                seen[entry.path] = (entry.stat.st_mtime_ns, entry.stat.st_size)
    return seen


class Watcher:
    """Polls the paths given by `paths()` every `interval` seconds and counts the changes seen."""

    def __init__(self, paths: Callable[[], Iterable[Path]], interval: float = 0.3):
        self.paths = paths
        self.interval = interval
        self.version = 0
        self._last = snapshot(paths())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="preview-watcher", daemon=True)

    def start(self) -> "Watcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def check(self) -> bool:
        """Take a snapshot now; True (and the version bumped) if anything differs from the last one."""
        current = snapshot(self.paths())
        if current == self._last:
            return False
        changed = sorted(k for k in current.keys() | self._last.keys() if current.get(k, 0) != self._last.get(k, 0))
        self._last = current
        self.version += 1
        log.info("changed: %s%s", ", ".join(changed[:3]), f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - a watcher that dies silently would stop live reload for good
                log.exception("watching files failed; retrying")
