"""One sending process's hold on an issue's ledger: its claims, their leases and its results.

Everything this process writes to the ledger goes through one thread, so what it holds is
known exactly: claims (a batch at a time), lease renewals (every third of the lease) and
results. A result is committed together with whatever other connections' results are
waiting (one fsync for several), and the connection that sent the message waits until it is
durable before it sends again: at most one message per connection is ever out but
unrecorded.

When the ledger cannot be written (locked, disk full, server gone), the results wait in
memory while the write is retried with backoff for `patience` seconds; meanwhile no
connection sends (each is waiting for its result). If the ledger still refuses, the results
go to the journal (see journal.py) and every caller gets a StoreBusyError saying so.

Before each message the sender asks `may_send`: its lease must have been renewed recently
(more than half of it left, on this machine's monotonic clock), or another process may take
the row over; and a row whose claim was found taken over is never sent.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

from newsletter.errors import StoreBusyError, StoreError
from newsletter.store.engine import database_label
from newsletter.store.journal import LIVE, Journal, replay_journals, worker_alive
from newsletter.store.ledger import Ledger, Outcome, Pending

log = logging.getLogger(__name__)

_STOP = object()
BACKOFF_FIRST, BACKOFF_CAP = 0.05, 2.0  # seconds between retries of a ledger write


def new_worker_id() -> str:
    """host:pid:random, unique per sending process (and readable in `newsletter issues` and logs)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class _Request:
    def __init__(self, kind: str, value=None):
        self.kind, self.value = kind, value
        self.done = threading.Event()
        self.result = None
        self.error: BaseException | None = None

    def finish(self, result=None) -> None:
        self.result = result
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()

    def wait(self, writer: threading.Thread):
        while not self.done.wait(1.0):
            if not writer.is_alive() and not self.done.is_set():  # it died before it got to this one
                raise StoreBusyError("the ledger writer of this send stopped")
        if self.error is not None:
            raise self.error
        return self.result


class LedgerSession:
    """Claims rows of one issue for this process, keeps their leases, and records their results durably."""

    def __init__(self, ledger: Ledger, issue_id: int, digest: str, *, lease: float, patience: float,
                 journal: Journal, worker: str, started: datetime, retry_unknown: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.ledger, self.issue_id, self.digest = ledger, issue_id, digest
        self.lease, self.patience, self.journal = lease, patience, journal
        self.worker, self.started, self.retry_unknown, self.clock = worker, started, retry_unknown, clock
        self.label = database_label(ledger.engine.url)
        self.held: set[int] = set()  # claimed, result not yet written: touched by the writer thread only
        self.lost: frozenset[int] = frozenset()  # claims another process took over: never send these
        self.valid_until = 0.0  # monotonic time until which every held row's lease lasts
        self.broken: StoreBusyError | None = None  # set once results had to go to the journal
        self.recorded = 0
        self._interval = max(lease / 3, 0.2)
        self._next_renewal = clock() + self._interval
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        LIVE.add(worker)
        self._thread.start()

    # -- called by the sending threads --------------------------------------------------

    def claim(self, limit: int) -> list[Pending]:
        """Claim up to `limit` more rows (after replaying any journal); [] when none is left to claim."""
        return self._ask(_Request("claim", limit))

    def claim_soon(self, limit: int) -> Callable[[], list[Pending]]:
        """Start claiming, so the next batch is ready before this one runs out; call the result to get it."""
        request = _Request("claim", limit)
        self._queue.put(request)
        return lambda: request.wait(self._thread)

    def record(self, outcome: Outcome) -> None:
        """Record one result (with whatever else is waiting); return once it is durable, else raise."""
        self._ask(_Request("record", outcome))

    def may_send(self, delivery_id: int) -> bool:
        """Whether this row's message may go out now; raises StoreBusyError when the leases cannot be kept."""
        if delivery_id in self.lost:
            return False
        if self.broken is not None:
            raise self.broken
        if self.valid_until - self.clock() < self.lease / 2:
            raise StoreBusyError(f"could not renew this send's claims for {self.lease / 2:.0f} s, so another "
                                 "sender may take them over: stopped sending to avoid duplicates",
                                 where=self.label, hint="check the database, then run the same command again")
        return True

    def close(self) -> None:
        """Stop the writer; give back claimed rows that were never sent; drop the journal if unused."""
        self._queue.put(_STOP)
        self._thread.join()
        try:
            if self.broken is None and self.held:
                released = self.ledger.release(self.worker)
                log.debug("released %d claimed deliveries that were not sent", released)
        except StoreError as exc:
            log.warning("could not give back %d claimed deliveries (%s); another send takes them over after "
                        "their lease of %.0f s", len(self.held), exc, self.lease)
        finally:
            LIVE.discard(self.worker)
            self.journal.close()

    def _ask(self, request: _Request):
        self._queue.put(request)
        return request.wait(self._thread)

    # -- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException as exc:  # a bug here must not leave the senders waiting forever
            log.exception("the ledger writer failed")
            self.broken = self.broken or StoreBusyError(f"the ledger writer failed: {type(exc).__name__}: {exc}",
                                                        where=self.label)
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    return
                if item is not _STOP:
                    item.fail(self.broken)

    def _serve(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=max(0.0, self._next_renewal - self.clock()))
            except queue.Empty:
                self._renew()
                continue
            if first is _STOP:
                return
            batch, stop = [first], False
            while True:  # everything waiting joins this commit
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            records = [r for r in batch if r.kind == "record"]
            if records:
                self._write(records)
            if self.clock() >= self._next_renewal:  # before new claims: they need no renewal yet
                self._renew()
            for request in batch:
                if request.kind == "claim":
                    self._claim(request)
            if stop:
                return

    def _write(self, requests: list[_Request]) -> None:
        outcomes = [r.value for r in requests]
        if self.broken is None:
            try:
                matched = self._retrying(lambda: self.ledger.record_many(self.worker, outcomes))
            except Exception as exc:  # anything at all: the results must not be lost
                self.broken = self._to_journal(outcomes, exc)
            else:
                if matched < len(outcomes):
                    log.warning("%d result(s) not recorded: another sender took over their rows after this "
                                "send could not renew its claims", len(outcomes) - matched)
                self.recorded += matched
                for request in requests:
                    self.held.discard(request.value.delivery_id)
                    request.finish()
                return
        else:
            self._to_journal(outcomes, None)
        for request in requests:
            self.held.discard(request.value.delivery_id)
            request.fail(self.broken)

    def _to_journal(self, outcomes: list[Outcome], cause: BaseException | None) -> StoreBusyError:
        try:
            self.journal.write(outcomes)
        except OSError as exc:
            log.error("could not keep %d result(s) in %s: %s", len(outcomes), self.journal.path, exc.strerror)
            if self.broken is not None:
                return self.broken
            return StoreBusyError(f"could not record the results of messages already sent ({cause}), nor keep "
                                  f"them in {self.journal.path} ({exc.strerror}); up to {len(outcomes)} of them "
                                  "may be sent again by the next run; nothing more was sent",
                                  where=self.label, hint="free the database (and disk space), then send again")
        log.warning("kept %d result(s) in %s: the ledger cannot be written", len(outcomes), self.journal.path)
        if self.broken is not None:
            return self.broken
        what = cause.message if isinstance(cause, StoreError) else f"{type(cause).__name__}: {cause}"
        return StoreBusyError(f"could not record the results of messages already sent for {self.patience:.0f} s "
                              f"({what}); they are kept in {self.journal.path} and the next send records them "
                              "before it sends anything; nothing more was sent", where=self.label,
                              hint="run the same command again once the database can be written")

    def _claim(self, request: _Request) -> None:
        if self.broken is not None:
            request.fail(self.broken)
            return
        started = self.clock()

        def claim() -> list[Pending]:
            replay_journals(self.ledger, self.journal.path.parent, own=self.journal.path)
            dead = [h for h in self.ledger.holders(self.issue_id) if h != self.worker and not worker_alive(h)]
            return self.ledger.claim(self.issue_id, self.digest, self.worker, request.value,
                                     lease_until=_utc_now() + timedelta(seconds=self.lease), started=self.started,
                                     dead=dead, retry_unknown=self.retry_unknown)

        try:
            rows = self._retrying(claim)
        except Exception as exc:
            request.fail(exc)
            return
        if rows and not self.held:
            self.valid_until = started + self.lease
        self.held.update(r.delivery_id for r in rows)
        request.finish(rows)

    def _renew(self) -> None:
        started = self.clock()
        self._next_renewal = started + self._interval
        if not self.held or self.broken is not None:
            return
        try:
            kept = self.ledger.renew(self.worker, _utc_now() + timedelta(seconds=self.lease))
        except Exception as exc:  # the next renewal tries again; meanwhile may_send watches the lease
            log.warning("could not renew the claims of this send: %s", exc)
            self._next_renewal = started + min(self._interval, 1.0)
            return
        lost = self.held - kept
        if lost:
            log.warning("%d claimed deliveries were taken over by another sender; they are not sent here", len(lost))
            self.lost = self.lost | lost
            self.held -= lost
        self.valid_until = started + self.lease

    def _retrying(self, operation):
        """Run a ledger operation, retrying with backoff while the database is busy, for `patience` seconds."""
        deadline = self.clock() + self.patience
        delay, warned = BACKOFF_FIRST, False
        while True:
            try:
                return operation()
            except StoreBusyError as exc:
                if self.clock() + delay > deadline:
                    raise
                if not warned:
                    log.warning("%s; retrying for up to %.0f s", exc, self.patience)
                    warned = True
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP)
