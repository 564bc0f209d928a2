"""`send --workers N`: N worker processes of the same command share one issue through the ledger's claims.

Each worker is `python -m newsletter send ... --worker`: an ordinary send of an issue already
built, checked and confirmed here (so it neither checks nor asks again), that prints its own
counts as one JSON line. The workers
run in a process group of their own, so that a Ctrl-C at the terminal reaches this process
only, which passes it on once as SIGTERM (each worker finishes its messages in flight,
records them and stops). A worker that dies is reported with how it died; the rows it had
claimed are taken over by the other workers (at once on this machine, its process being
gone) or by the next run.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

from newsletter.config import Config, Digest
from newsletter.model import Issue
from newsletter.select import IssueSlot
from newsletter.store import Counts, Store

log = logging.getLogger(__name__)

WORKER_FLAG = "--worker"
POLL = 0.25  # seconds between looks at the ledger for the progress bar (a wait on a worker's exit)
POLL_SHARE = 0.05  # at most this share of the time goes to counting: a long issue's count is not free


@dataclass
class WorkerResult:
    """What one worker process said it did, or how it died."""

    number: int
    pid: int
    code: int | None = None
    sent: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    complete: bool = False  # this worker finished the issue's last rows
    died: str | None = None  # how it ended without a report: "killed by SIGKILL", "exit 1: <its last line>"


def worker_report(report) -> str:
    """The one JSON line a worker prints for its parent (keys of WorkerResult)."""
    return json.dumps({"sent": report.sent, "skipped": report.skipped, "failed": report.failed,
                       "unknown": report.unknown, "complete": report.complete})


def _done(counts: Counts) -> int:
    return counts.sent + counts.failed - counts.retryable + counts.skipped + counts.unknown


def run_workers(config: Config, store: Store, digest: Digest, issue: Issue, slot: IssueSlot, count: int, *,
                todo: int, progress: Callable[[int, int], None] | None, stop,
                retry_unknown: bool) -> list[WorkerResult]:
    """Start `count` workers on the issue, draw the progress from the ledger, wait for all; what each did."""
    command = [sys.executable, "-m", "newsletter", "--config", str(config.path), "send", digest.name,
               "--subscribers", "--yes", "--no-sync", "--date", slot.issue_date.isoformat(), WORKER_FLAG]
    command += ["--retry-unknown"] * retry_unknown
    before = _done(store.ledger.counts([issue.id]).get(issue.id, Counts()))
    procs, outputs = [], []
    try:
        for _ in range(count):
            out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
            outputs.append((out, err))
            procs.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                          process_group=0))
        _wait(procs, store, issue, before, todo, progress, stop)
    finally:
        for proc in procs:  # only when waiting itself failed: the workers must not outlive us unseen
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
    return [_result(i + 1, proc, *outputs[i]) for i, proc in enumerate(procs)]


def _wait(procs, store: Store, issue: Issue, before: int, todo: int, progress, stop) -> None:
    signalled, next_count = False, 0.0
    while True:
        alive = [p for p in procs if p.poll() is None]
        if not alive:
            return
        if stop is not None and stop.is_set() and not signalled:
            for proc in alive:
                proc.send_signal(signal.SIGTERM)
            signalled = True
        if progress is not None and time.monotonic() >= next_count:
            started = time.monotonic()
            done = _done(store.ledger.counts([issue.id]).get(issue.id, Counts())) - before
            progress(min(max(done, 0), todo), todo)
            next_count = started + (time.monotonic() - started) / POLL_SHARE
        try:  # a stop is passed on within POLL, however seldom the ledger is counted
            alive[0].wait(POLL)
        except subprocess.TimeoutExpired:
            pass


def _result(number: int, proc: subprocess.Popen, out, err) -> WorkerResult:
    result = WorkerResult(number, proc.pid, proc.returncode)
    out.seek(0)
    err.seek(0)
    lines = out.read().decode("utf-8", "replace").strip().splitlines()
    errors = err.read().decode("utf-8", "replace").strip().splitlines()
    out.close()
    err.close()
    for line in errors:
        log.warning("worker %d (pid %d): %s", number, proc.pid, line)
    try:
        said = json.loads(lines[-1])
        result.sent, result.skipped, result.complete = said["sent"], said["skipped"], said["complete"]
        result.failed = [tuple(f) for f in said["failed"]]
        result.unknown = [tuple(u) for u in said["unknown"]]
    except (IndexError, ValueError, KeyError, TypeError):
        if proc.returncode < 0:
            result.died = f"killed by {signal.Signals(-proc.returncode).name}"
        else:
            result.died = f"exit {proc.returncode}" + (f": {errors[-1]}" if errors else "")
    return result
