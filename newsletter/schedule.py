"""APScheduler wiring: the stored jobs, one per digest, and one scheduler per database (fire times: cadence.py).

APScheduler is imported inside the functions: it is slow to import, and `newsletter --help`
and every command but `schedule` must not pay for it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import socket
import stat
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from newsletter.cadence import MISSED_COUNT_LIMIT, fire_times, next_runs, trigger_for, wall_time
from newsletter.config import Config, Digest
from newsletter.errors import ConfigError, NewsletterError

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
JOB_FUNC = "newsletter.pipeline.run:run_digest"  # by name: the job store keeps text, never a pickled function
JOB_PREFIX = "digest:"
RETRY_PREFIX = "retry:"


def clock() -> datetime:
    """The current time, aware; tests monkeypatch this to fix the clock of `schedule list` and the scheduler."""
    return datetime.now(timezone.utc)


def job_id(digest_name: str) -> str:
    return JOB_PREFIX + digest_name


def retry_job_id(digest_name: str, key: str) -> str:
    """One retry job per issue: a later retry of the same issue replaces it."""
    return f"{RETRY_PREFIX}{digest_name}:{key}"


# -- one scheduler per database ----------------------------------------------

def database_label(url: str) -> str:
    """The database for messages: the SQLite file path, else the URL without its password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def lock_path(config: Config) -> Path:
    """Beside a SQLite file `<db>.scheduler.lock`; for other databases but PostgreSQL (which locks in the
    database), in the config folder, named by URL hash."""
    from newsletter.pipeline import state_path

    return state_path(config, "scheduler.lock")


class SchedulerLock:
    """An exclusive flock on a lock file: the kernel drops it when the process ends, even by kill -9."""

    def __init__(self, path: Path, label: str):
        self.path, self.label = path, label
        self.fd: int | None = None
        self.on_lost = None  # as LeaderLock's; never called: the kernel keeps a flock until the process ends

    @classmethod
    def for_config(cls, config: Config) -> "SchedulerLock":
        return cls(lock_path(config), database_label(config.database))

    def acquire(self, *, standby: bool = False, stop: threading.Event | None = None,
                on_wait=None, poll: float = 0.5) -> "SchedulerLock | None":
        """Take the lock; without `standby` a NewsletterError names the holder, with it wait (None if stopped)."""
        stop = stop or threading.Event()
        try:
            # O_NOFOLLOW: a link planted at the lock's name must not make us lock (or chmod) its target.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise NewsletterError(f"cannot create the scheduler lock file: {exc.strerror}", where=str(self.path),
                                  hint="the folder of the database must be writable") from None
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise NewsletterError(f"cannot lock {self.path}: {exc.strerror}") from None
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            holder = holder if " on " in holder else f"pid {holder}"  # a lock file of an earlier release
            if not standby:
                os.close(fd)
                raise NewsletterError(f"a scheduler ({holder}) is already running on {self.label}",
                                      hint="only one scheduler may use a database: stop it first, or add --standby "
                                           "to take over when it stops") from None
            if not announced and on_wait is not None:
                on_wait(holder)
                announced = True
            if stop.wait(poll):
                os.close(fd)
                return None
        # The file is never deleted: unlinking a lock file lets two processes lock two different files.
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)  # one made by an earlier release was readable by all
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode("utf-8"), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor drops the lock
            self.fd = None

    def __enter__(self) -> "SchedulerLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


# -- the scheduler ------------------------------------------------------------

def _job_engine(url: str):
    import sqlalchemy as sa

    if sa.engine.make_url(url).get_backend_name() == "sqlite":
        # The job thread writes the same file; wait for its lock instead of failing at once.
        return sa.create_engine(url, connect_args={"timeout": 30})
    return sa.create_engine(url)


def make_scheduler(config: Config, *, scheduler_class=None, now: datetime | None = None):
    """A scheduler (BlockingScheduler by default) whose job store holds one job per digest with a cadence.

    Jobs are keyed `digest:<name>` and replaced from the config; jobs of digests that are gone
    or have no cadence are removed. A job whose trigger is unchanged keeps its stored next run
    time, so runs missed while no scheduler was running are made up (coalesced into one).
    """
    from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    from newsletter.pipeline import open_store

    # Our store first: a database that is not ours fails here, before the job table goes into it,
    # and a new SQLite file is made by us (WAL mode), not by the job store, whose connections
    # would then keep the first run from switching it to WAL ("database is locked").
    open_store(config).close()
    if scheduler_class is None:
        from apscheduler.schedulers.blocking import BlockingScheduler as scheduler_class
    now = now or clock()
    store = SQLAlchemyJobStore(engine=_job_engine(config.database), tablename=JOB_TABLE)
    # job_defaults: APScheduler's default grace of 1 s would skip any run that starts late.
    scheduler = scheduler_class(jobstores={"default": store}, timezone=timezone.utc,
                                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    store.start(scheduler, "default")  # opened now, so the stored jobs are read before the scheduler starts
    stored = {job.id: job for job in store.get_all_jobs()}
    wanted = set()
    for digest in config.digests.values():
        trigger = trigger_for(digest)
        if trigger is None:
            continue
        jid = job_id(digest.name)
        wanted.add(jid)
        scheduler.add_job(JOB_FUNC, trigger, args=[str(config.path), digest.name], id=jid,
                          name=f"digest {digest.name}", replace_existing=True, coalesce=True, max_instances=1,
                          misfire_grace_time=int(digest.misfire_grace.total_seconds()),
                          next_run_time=_next_run_time(digest, trigger, stored.get(jid), now))
    for jid in sorted(set(stored) - wanted):
        if jid.startswith(RETRY_PREFIX) and jid.split(":")[1] in config.digests:
            continue  # a pending retry of an issue: it runs (or is dropped) in its own time
        store.remove_job(jid)
        log.info("removed the job of %s: no such digest with a cadence in %s", jid, config.path)
    if not wanted:
        raise ConfigError("no digest has a cadence: there is nothing to schedule", where=str(config.path),
                          hint='add e.g. cadence = "0 7 * * mon-fri" to a [digests.NAME] table')
    scheduler.add_listener(_missed_listener(config), EVENT_JOB_MISSED)
    scheduler.add_listener(lambda event: schedule_retry(scheduler, config, event.retval), EVENT_JOB_EXECUTED)
    return scheduler


def schedule_retry(scheduler, config: Config, outcome) -> str | None:
    """Add the one-off retry job a run asked for (its RunOutcome.retry_at), in the same job store; its id or None.

    The job calls the same function with the run's scheduled time and the retry's number, so
    it works on the same issue; its own grace ends where the digest's misfire_grace does.
    """
    from apscheduler.triggers.date import DateTrigger

    retry_at = getattr(outcome, "retry_at", None)
    digest = config.digests.get(getattr(outcome, "digest", ""))
    if retry_at is None or digest is None:
        return None
    grace = (outcome.scheduled + digest.misfire_grace - retry_at).total_seconds()
    jid = retry_job_id(digest.name, outcome.key)
    scheduler.add_job(JOB_FUNC, DateTrigger(run_date=retry_at), id=jid, name=f"retry {outcome.attempt + 1} of "
                      f"{digest.name} {outcome.key}", args=[str(config.path), digest.name,
                                                            outcome.scheduled.isoformat(), outcome.attempt + 1],
                      replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=max(int(grace), 1))
    return jid


def _next_run_time(digest: Digest, trigger, stored_job, now: datetime) -> datetime:
    """The stored next run time when the trigger is unchanged (so missed runs are made up), else the next one."""
    kept = getattr(stored_job, "next_run_time", None)
    # repr holds every field, the zone and (for intervals) the fixed anchor: equal repr, equal run times.
    if kept is None or repr(stored_job.trigger) != repr(trigger):
        return trigger.get_next_fire_time(None, now)
    if kept > now:
        return kept
    missed = fire_times(trigger, kept, now)
    if len(missed) > 1:
        # Coalescing drops all but the latest without a word; say which runs will never happen.
        earlier = missed[:-1]
        if len(missed) >= MISSED_COUNT_LIMIT:  # counting stopped: APScheduler finds the true latest itself
            what, latest = f"{len(earlier)}+ earlier runs (from {_local(earlier[0], digest)})", "the latest run"
        else:
            span = _local(earlier[0], digest) + (f" to {_local(earlier[-1], digest)}" if len(earlier) > 1 else "")
            what = f"{len(earlier)} earlier run{'s' if len(earlier) > 1 else ''} ({span})"
            latest = f"the latest ({_local(missed[-1], digest)})"
        log.warning("digest %s: %s passed while no scheduler was running; missed runs are coalesced, so only %s "
                    "is made up, if within misfire_grace %s", digest.name, what, latest, digest.misfire_grace)
    return missed[-1] if missed else trigger.get_next_fire_time(None, now)


def _local(moment: datetime, digest: Digest) -> str:
    return wall_time(moment, digest.timezone).isoformat()


def _missed_listener(config: Config):
    def on_missed(event) -> None:
        name = event.job_id.removeprefix(JOB_PREFIX)
        digest = config.digests.get(name)
        when = event.scheduled_run_time
        late = datetime.now(timezone.utc) - when  # APScheduler measures against the real clock too
        log.warning("digest %s: the run of %s was missed by %s, more than misfire_grace %s; it is not made up",
                    name, _local(when, digest) if digest else when.isoformat(), str(late).split(".")[0],
                    digest.misfire_grace if digest else "?")
    return on_missed


# -- the run loop -----------------------------------------------------------------

def run_scheduler(config: Config, *, standby: bool = False) -> None:
    """The scheduler in the foreground: one per database, jobs from the config, until SIGTERM or Ctrl-C.

    With `standby`, a second one waits for the leader to stop (or die) and then takes over.
    On PostgreSQL, a leader that loses its lock connection stops scheduling and raises.
    """
    from newsletter import masking
    from newsletter.pipeline import leader_lock
    from newsletter.pipeline import run as runs
    from newsletter.pipeline.compliance import require_way_out

    masking.install_log_filter()
    if any(d.delivery == "smtp" and d.cadence is not None for d in config.digests.values()):
        require_way_out(config)  # now, not at each run: the first run may be hours away
    lock = leader_lock(config) or SchedulerLock.for_config(config)
    label = database_label(config.database)
    with _stopped_by_signals() as stop:
        got = lock.acquire(standby=standby, stop=stop, on_wait=lambda holder: log.info(
            "standby: a scheduler (%s) leads on %s; taking over when it stops", holder, label))
    if not got:
        log.info("scheduler stopped while on standby")
        return
    fenced = threading.Event()

    def on_lost() -> None:
        # Fencing: another scheduler may be about to take over; this one must stop scheduling now.
        fenced.set()
        os.kill(os.getpid(), signal.SIGTERM)

    lock.on_lost = on_lost
    try:
        if standby:
            log.info("standby: now the scheduler of %s", label)
        scheduler = make_scheduler(config)
        runs.STOP.clear()
        _serve(config, scheduler, runs)
    finally:
        lock.release()
    if fenced.is_set():
        raise NewsletterError(f"the scheduler lost its lock on {label} (the database connection broke), so it "
                              "stopped scheduling: another scheduler may lead now",
                              hint="check the database; run it again (with --standby beside a leader)")


@contextmanager
def _stopped_by_signals():
    """An event that Ctrl-C or SIGTERM sets (while a standby waits)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class _Stopping(BaseException):
    """Raised by the signal handler to leave the scheduler's loop; not an Exception, so nothing swallows it."""


def _serve(config: Config, scheduler, runs) -> None:
    """Run the scheduler until SIGTERM or Ctrl-C; a run in progress finishes its current message first."""
    stop, looping = runs.STOP, False

    def on_signal(signum, frame):
        if stop.is_set():  # a second Ctrl-C: stop waiting for the run in progress
            raise KeyboardInterrupt
        stop.set()
        log.info("stopping (%s): a run in progress finishes its current message first", signal.Signals(signum).name)
        if looping:
            raise _Stopping

    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        now = clock()
        for digest in sorted(config.digests.values(), key=lambda d: d.name):
            if digest.cadence is not None:
                first = next_runs(digest, now, 1)
                log.info("digest %s: %s (%s), %s, next run %s", digest.name, digest.cadence.text, digest.timezone.key,
                         digest.delivery, first[0].isoformat() if first else "never")
        runs.resume_interrupted(config)
        try:
            looping = True
            if not stop.is_set():
                log.info("scheduler running on %s (pid %d on %s); Ctrl-C or SIGTERM stops it",
                         database_label(config.database), os.getpid(), socket.gethostname())
                scheduler.start()  # blocks until the signal handler raises _Stopping
        except _Stopping:
            pass
        finally:
            looping = False
            if scheduler.running:
                scheduler.shutdown(wait=True)  # waits for a run in progress; STOP makes a send end soon
    except _Stopping:  # the signal landed between the inner try and its finally
        if scheduler.running:
            scheduler.shutdown(wait=True)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    log.info("scheduler stopped")
