"""Opening a database: the engine, SQLite's settings and write lock, private files, and errors people can act on."""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from newsletter.errors import StoreBusyError, StoreError
from newsletter.masking import register

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000  # how long SQLite waits for another process's write lock before "locked"
_WRITE = "newsletter_write"  # execution option: this transaction will write (see writing())
PING_IDLE = 1.0  # seconds a pooled server connection may sit idle before it is tried before use


def database_label(url: str | sa.URL) -> str:
    """The database for messages: the SQLite file path, else the URL with its password masked."""
    parsed = sa.engine.make_url(url)
    path = sqlite_path(parsed)
    return str(path) if path is not None else parsed.render_as_string(hide_password=True)


def sqlite_path(url: str | sa.URL) -> Path | None:
    """The file of a SQLite URL, or None (another database, or in memory)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_engine(url: str, busy_timeout_ms: int | None = None, **options) -> sa.Engine:
    """An engine for the URL (`options` go to create_engine); a SQLite file is created owner-only (it holds
    addresses and the token key).

    busy_timeout_ms: how long a write waits for another process's lock before StoreBusyError. SQLite's
    default is BUSY_TIMEOUT_MS (read at each call); PostgreSQL waits for row locks as long as it takes
    unless it is given (then as its lock_timeout).
    """
    wait_ms = BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms
    label = _safe_label(url)
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError(f"{label!r} is not a database URL", hint='newsletter.database takes a file path or a URL '
                         'such as "postgresql+psycopg://user@host/db"') from None
    register(parsed.password)  # a database error quoting the URL must not show it
    path = sqlite_path(parsed)
    if path is not None:
        _create_private(path)
    try:
        engine = sa.create_engine(parsed, **options)
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        backend = parsed.get_backend_name()
        hint = 'pip install "newsletter[postgres]"' if backend == "postgresql" else f"install the driver for {backend}"
        raise StoreError(f"no database driver for {label}: {exc}", hint=hint) from None
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"cannot use database {label}: {exc}", hint="check newsletter.database") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", functools.partial(_sqlite_connect, busy_timeout_ms=wait_ms))
        event.listen(engine, "begin", _sqlite_begin)
    else:
        event.listen(engine, "connect", functools.partial(_server_session, busy_timeout_ms=busy_timeout_ms))
        event.listen(engine.pool, "checkin", _checked_in)
        event.listen(engine.pool, "checkout", functools.partial(_ping_if_idle, engine.dialect))
    event.listen(engine, "handle_error", _translate(database_label(parsed), wait_ms))
    return engine


def _server_session(dbapi_conn, _record, *, busy_timeout_ms: int | None) -> None:
    """Settings of each new PostgreSQL connection, made with SET so that the URL's own `options` and
    PGOPTIONS still apply (a startup `options` of ours would replace them)."""
    settings = [f"SET lock_timeout = {int(busy_timeout_ms)}"] if busy_timeout_ms is not None else []
    # No JIT compiling: our statements are short, and a claim whose cost estimate crossed the JIT
    # threshold spent 24 ms compiling to save nothing.
    settings.append("SET jit = off")
    with dbapi_conn.cursor() as cur:
        for setting in settings:
            cur.execute(setting)
    dbapi_conn.commit()  # a SET in a transaction that is rolled back would be undone


def _checked_in(dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect, dbapi_connection, record, proxy) -> None:
    """A pooled server connection that sat idle for PING_IDLE seconds is tried before use, and replaced if dead
    (a restarted server, a dropped network). Not one in use a moment ago: a send commits its results hundreds of
    times a second, and a ping before each commit (SQLAlchemy's pool_pre_ping) was one round trip in four. A
    connection that dies within that moment fails its statement; the sending code retries that on a new one."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_IDLE:
        return
    try:
        alive = dialect.do_ping(dbapi_connection)
    except Exception as exc:  # the driver's error for a dead connection
        log.debug("a pooled database connection is gone (%s); opening a new one", exc)
        alive = False
    if not alive:
        raise sa.exc.DisconnectionError("the pooled connection is gone")  # the pool opens a new one and retries


def writing(engine: sa.Engine) -> sa.Engine:
    """The same engine, whose transactions take SQLite's write lock at BEGIN (BEGIN IMMEDIATE).

    A deferred transaction that reads and then writes cannot wait for the lock: when another
    process wrote in between, SQLite fails it at once with "database is locked". Taking the
    lock first makes it wait (up to the busy timeout) instead. PostgreSQL ignores the option.
    """
    return engine.execution_options(**{_WRITE: True})


def serialise(conn: sa.Connection, name: str) -> None:
    """Make this write transaction wait for any other one serialised under `name` (until commit).

    SQLite needs nothing: BEGIN IMMEDIATE already lets one writer in at a time. PostgreSQL lets
    two transactions read "not there yet" and both insert; a transaction-scoped advisory lock
    makes the second read after the first has committed (two sends building one issue, or
    syncing the same sources, at once).
    """
    if conn.dialect.name == "postgresql":
        import hashlib

        key = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _create_private(path: Path) -> None:
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # another process made it first
    except OSError as exc:
        raise StoreError(f"cannot create the database file: {exc.strerror}", where=str(path),
                         hint="the folder of newsletter.database must exist and be writable") from None


def _sqlite_connect(dbapi_conn, _record, *, busy_timeout_ms: int) -> None:
    # The driver's own transaction handling is switched off; _sqlite_begin issues BEGIN itself.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    _wal(cur)
    # FULL: a recorded delivery survives a power cut, so a re-run never resends it (README, Sending).
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _wal(cur) -> None:
    """PRAGMA journal_mode=WAL, waiting (up to the busy timeout) where SQLite answers "locked" at once.

    While one connection sets up the shared memory of a WAL database that had no connection
    open, another one opening it is told "database is locked" without its busy handler being
    asked; a scheduled run starting beside the scheduler's own job store failed that way.
    """
    import sqlite3

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def _safe_label(url: str) -> str:
    try:
        return database_label(url)
    except sa.exc.ArgumentError:
        return url.split("@")[-1] if "@" in url else url


# What the database said -> (what happened, how to fix it). Matched in the driver's message.
_KNOWN = [
    ("database is locked", "is locked by another process (waited {wait} s)",
     "wait for the other newsletter command (a long import or send?) to finish, then run this one again"),
    ("lock timeout", "is locked by another transaction (waited {wait} s)",
     "wait for the other newsletter command (a long import or send?) to finish, then run this one again"),
    ("database or disk is full", "cannot be written: the disk is full",
     "free some space on the disk that holds it, then run the command again"),
    ("disk i/o error", "cannot be written: disk I/O error", "check the disk that holds it"),
    ("attempt to write a readonly database", "is read-only for this user",
     "run as the user that owns it, or fix the permissions of the file and its folder"),
    ("unable to open database file", "cannot be opened",
     "the folder of newsletter.database must exist and be writable by this user"),
    ("file is not a database", "is not a database file (or is damaged)",
     "point newsletter.database at a newsletter database or a new file"),
    ("file is encrypted or is not a database", "is not a database file (or is damaged)",
     "point newsletter.database at a newsletter database or a new file"),
    ("connection refused", "cannot be reached: connection refused",
     "is the database server running? check the host and port in newsletter.database"),
    ("could not translate host name", "cannot be reached: unknown host name", "check the host in newsletter.database"),
    ("name or service not known", "cannot be reached: unknown host name", "check the host in newsletter.database"),
    ("timeout expired", "cannot be reached: the connection timed out", "check the host, port and firewall"),
    ("password authentication failed", "refused the login: wrong password",
     "set the password in NEWSLETTER_DATABASE (the environment), not in newsletter.toml"),
    ("does not exist", "refused the connection: {detail}", "create the database or fix the name in newsletter.database"),
    ("server closed the connection", "closed the connection unexpectedly", "check the database server, then run again"),
    ("terminating connection", "closed the connection unexpectedly", "check the database server, then run again"),
]


def _translate(label: str, busy_timeout_ms: int):
    def handle(context) -> None:
        exc = context.original_exception
        if not isinstance(exc, Exception) or isinstance(context.sqlalchemy_exception, sa.exc.IntegrityError):
            return
        text = " ".join(str(exc).split())
        lower = text.lower()
        for needle, what, hint in _KNOWN:
            if needle in lower:
                message = what.format(wait=f"{busy_timeout_ms / 1000:g}", detail=text.split(":")[-1].strip()[:200])
                cls = StoreBusyError if needle in ("database is locked", "lock timeout", "database or disk is full",
                                                   "disk i/o error", "server closed the connection",
                                                   "terminating connection") \
                    else StoreError
                raise cls(message, where=label, hint=hint) from exc
    return handle
