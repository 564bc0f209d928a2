"""One scheduler per PostgreSQL database, across machines: a session advisory lock on a connection of its own.

The server drops a session lock when its connection ends, so a leader killed with SIGKILL
frees it at once, and one on a machine that died or went off the network frees it once the
server's TCP keepalives give up on the connection (set per session below: about
SERVER_GIVES_UP seconds). The leader checks its connection every CHECK_EVERY seconds, with a
client-side TCP timeout shorter than the server's, so that it notices a lost lock (and stops
scheduling: fencing) before a standby can have taken over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable

import sqlalchemy as sa

from newsletter.errors import NewsletterError, StoreError
from newsletter.store.engine import database_label, open_engine

log = logging.getLogger(__name__)

# pg_try_advisory_lock(int, int): the first number says "newsletter", the second "scheduler".
LOCK_KEYS = (0x4E4C5348, 1)
CHECK_EVERY = 2.0  # seconds between the leader's checks of its lock connection
CLIENT_TIMEOUT_MS = 10_000  # the leader gives up on an unanswered check after this (tcp_user_timeout)
# The server's keepalives: idle 15 s, then 3 probes 5 s apart, each unanswered: about 30 s.
SERVER_KEEPALIVES = {"tcp_keepalives_idle": 15, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3,
                     "tcp_user_timeout": 30_000}
SERVER_GIVES_UP = 30
APP_PREFIX = "newsletter scheduler"


def leader_name(pid: int | None = None, host: str | None = None) -> str:
    """The application_name of a leader's lock connection: names its process and machine (63 bytes at most)."""
    return f"{APP_PREFIX} pid {pid or os.getpid()} on {host or socket.gethostname()}"[:63]


class LeaderLock:
    """The advisory lock that makes this process the database's one scheduler, held until release()."""

    def __init__(self, url: str):
        self.label = database_label(url)
        self.engine = open_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT", connect_args={
            "application_name": leader_name(), "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
            "keepalives_count": 3, "tcp_user_timeout": CLIENT_TIMEOUT_MS, "connect_timeout": 10})
        self.conn: sa.Connection | None = None
        self.lost = threading.Event()
        self.on_lost: Callable[[], None] | None = None  # called (from the watching thread) once the lock is lost
        self._done = threading.Event()
        self._watch: threading.Thread | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another scheduler holds it."""
        if self.conn is None:
            self.conn = self.engine.connect()
            for name, value in SERVER_KEEPALIVES.items():
                self.conn.execute(sa.text(f"SET {name} = {int(value)}"))  # names from the table above only
        got = self.conn.execute(sa.text("SELECT pg_try_advisory_lock(:a, :b)"),
                                {"a": LOCK_KEYS[0], "b": LOCK_KEYS[1]}).scalar()
        return bool(got)

    def holder(self) -> str | None:
        """Who holds the lock: "pid N on HOST" (its application_name), else what the server knows; None if nobody."""
        row = self.conn.execute(sa.text(
            "SELECT a.application_name, host(a.client_addr) AS addr, a.pid FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :a AND l.objid = :b AND l.objsubid = 2 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
            {"a": LOCK_KEYS[0], "b": LOCK_KEYS[1]}).first()
        if row is None:
            return None
        name = row.application_name or ""
        if name.startswith(APP_PREFIX):
            return name.removeprefix(APP_PREFIX).strip()
        return f"server process {row.pid} from {row.addr or 'a local socket'}"

    def acquire(self, *, standby: bool = False, stop: threading.Event | None = None,
                on_wait: Callable[[str], None] | None = None, poll: float = 1.0) -> "LeaderLock | None":
        """Become the leader; without `standby` a NewsletterError names the leader, with it wait (None if stopped)."""
        stop = stop or threading.Event()
        announced, vanished = False, 0
        while not stop.is_set():
            try:
                if self.try_acquire():
                    self._start_watch()
                    return self
                holder = self.holder()
                if holder is None and vanished < 3:  # it let go between the two statements: try again now
                    vanished += 1
                    continue
                holder = holder or "whose pid the server does not show"
            except StoreError as exc:
                if not standby:
                    raise
                log.warning("standby: %s; trying again", exc)  # the server may be restarting: keep waiting
                self._drop_connection()
                stop.wait(poll * 5)
                continue
            if not standby:
                self.release()
                raise NewsletterError(f"a scheduler ({holder}) is already running on {self.label}",
                                      hint="only one scheduler may use a database: stop it first, or add --standby "
                                           "to take over when it stops")
            if not announced and on_wait is not None:
                on_wait(holder)
                announced = True
            stop.wait(poll)
        return None

    def release(self) -> None:
        """Let go of the lock (closing its connection drops it) and stop watching it."""
        self._done.set()
        if self._watch is not None:
            self._watch.join()
        self._drop_connection()
        self.engine.dispose()

    def _drop_connection(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # a connection already gone: the lock went with it
                pass
            self.conn = None

    def _start_watch(self) -> None:
        self._watch = threading.Thread(target=self._check, name="leader-lock", daemon=True)
        self._watch.start()

    def _check(self) -> None:
        while not self._done.wait(CHECK_EVERY):
            try:
                held = self.conn.execute(sa.text(
                    "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory' "
                    "AND granted AND classid = :a AND objid = :b AND objsubid = 2"),
                    {"a": LOCK_KEYS[0], "b": LOCK_KEYS[1]}).scalar()
            except Exception as exc:  # whatever the reason, the lock can no longer be vouched for
                log.error("lost the connection that holds the scheduler lock on %s: %s", self.label, exc)
                held = 0
            if not held:
                self.lost.set()
                if self.on_lost is not None:
                    self.on_lost()
                return
