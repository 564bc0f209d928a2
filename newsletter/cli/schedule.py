"""`newsletter schedule list` and `newsletter schedule run`: the digests' cadences and the scheduler itself."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import typer

from newsletter.cli.app import AsJson, _emit_json, _table, app, state

log = logging.getLogger(__name__)

schedule_app = typer.Typer(help="Scheduled digests: see the next run times, run the scheduler.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")

NOT_SCHEDULED = "not scheduled"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@schedule_app.command("list")
def schedule_list(as_json: AsJson = False) -> None:
    """Show each digest's cadence, time zone, delivery and next three run times (no scheduler needed).

    JSON keys: digest, cadence (null when not scheduled), timezone, delivery,
    next_runs (ISO 8601 times in the digest's zone; [] when not scheduled).
    Example: newsletter schedule list --json
    """
    from newsletter import schedule

    config = state.config()
    now = schedule.clock()
    digests = [config.digests[name] for name in sorted(config.digests)]
    runs = {d.name: schedule.next_runs(d, now, 3) for d in digests}
    if as_json:
        _emit_json([{"digest": d.name, "cadence": d.cadence.text if d.cadence else None, "timezone": d.timezone.key,
                     "delivery": d.delivery, "next_runs": [t.isoformat() for t in runs[d.name]]} for d in digests])
        return
    _table(["digest", "cadence", "timezone", "delivery", "next runs"],
           [[d.name, d.cadence.text if d.cadence else NOT_SCHEDULED, d.timezone.key, d.delivery,
             "\n".join(_when(t) for t in runs[d.name]) or "-"] for d in digests])


def _when(moment) -> str:
    """A run time for people: weekday, date, time (seconds only when they matter) and zone abbreviation."""
    return moment.strftime("%a %Y-%m-%d %H:%M" + (":%S" if moment.second else "") + " %Z")


class _Stopping(BaseException):
    """Raised by the signal handler to leave the scheduler's loop; not an Exception, so nothing swallows it."""


@schedule_app.command("run")
def schedule_run() -> None:
    """Run the scheduler in the foreground: each digest with a cadence is built or sent on time.

    Jobs are kept in the database, so runs missed while it was stopped are made up on start
    (within the digest's misfire_grace, once). One scheduler per database. Ctrl-C or SIGTERM
    lets a send in progress finish its current message, then exits with 0.
    Example: newsletter --config /srv/digest/newsletter.toml schedule run
    """
    from newsletter import schedule
    from newsletter.pipeline import open_store
    from newsletter.pipeline import run as runs

    config = state.config()
    _show_run_logs()
    with schedule.SchedulerLock.for_config(config):
        open_store(config).close()  # a database that is not ours fails here, before the job table goes into it
        scheduler = schedule.make_scheduler(config)
        runs.STOP.clear()
        _serve(config, scheduler, runs)


def _serve(config, scheduler, runs) -> None:
    from newsletter import schedule

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
        now = schedule.clock()
        for digest in sorted(config.digests.values(), key=lambda d: d.name):
            if digest.cadence is not None:
                first = schedule.next_runs(digest, now, 1)
                log.info("digest %s: %s (%s), %s, next run %s", digest.name, digest.cadence.text, digest.timezone.key,
                         digest.delivery, first[0].isoformat() if first else "never")
        runs.resume_interrupted(config)
        try:
            looping = True
            if not stop.is_set():
                log.info("scheduler running on %s (pid in %s); Ctrl-C or SIGTERM stops it",
                         schedule.database_label(config.database), schedule.lock_path(config))
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


def _show_run_logs() -> None:
    """The one line per run shows without -v; with times, as a long-running process's log should."""
    for name in ("newsletter.pipeline.run", "newsletter.schedule", __name__):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        # Only the plain stderr handler of the CLI; pytest's capture handlers are subclasses and keep theirs.
        if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.__stderr__):
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
