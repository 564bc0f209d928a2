"""`newsletter schedule list` and `newsletter schedule run`: the digests' cadences and the scheduler itself."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from newsletter.cli.app import AsCsv, AsJson, app, emit_rows, state

log = logging.getLogger(__name__)

schedule_app = typer.Typer(help="Scheduled digests: see the next run times, run the scheduler.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")

NOT_SCHEDULED = "not scheduled"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@schedule_app.command("list")
def schedule_list(as_json: AsJson = False, as_csv: AsCsv = False) -> None:
    """Show each digest's cadence, time zone, delivery and next three run times (no scheduler needed).

    Keys (--json, --csv): digest, cadence (null when not scheduled), timezone, delivery,
    next_runs (ISO 8601 times in the digest's zone; [] when not scheduled).
    Example: newsletter schedule list --json
    """
    from newsletter import cadence, schedule

    config = state.config()
    now = schedule.clock()
    digests = [config.digests[name] for name in sorted(config.digests)]
    rows = [{"digest": d.name, "cadence": d.cadence.text if d.cadence else None, "timezone": d.timezone.key,
             "delivery": d.delivery, "next_runs": [t.isoformat() for t in cadence.next_runs(d, now, 3)]}
            for d in digests]
    emit_rows(rows, ("digest", "cadence", "timezone", "delivery", "next_runs"), as_json=as_json, as_csv=as_csv,
              show={"cadence": _cadence, "next_runs": _runs})


def _cadence(text: str | None, row: dict) -> str:
    return text or NOT_SCHEDULED


def _runs(times: list[str], row: dict) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(row["timezone"])
    return "; ".join(_when(datetime.fromisoformat(t).astimezone(zone)) for t in times) or "-"


def _when(moment) -> str:
    """A run time for people: weekday, date, time (seconds only when they matter) and zone abbreviation."""
    return moment.strftime("%a %Y-%m-%d %H:%M" + (":%S" if moment.second else "") + " %Z")


@schedule_app.command("run")
def schedule_run(
    standby: Annotated[bool, typer.Option("--standby", help="When another scheduler leads on this database, wait "
                                          "and take over when it stops or dies (instead of exiting with 1).")] = False,
) -> None:
    """Run the scheduler in the foreground: each digest with a cadence is built or sent on time.

    Jobs are kept in the database, so runs missed while it was stopped are made up on start
    (within the digest's misfire_grace, once). One scheduler per database (on PostgreSQL across
    machines); a second one exits naming the leader's pid and host, or with --standby waits and
    takes over, resuming a half-sent issue. Ctrl-C or SIGTERM lets a send in progress finish
    its current message, then exits with 0.
    Example: newsletter --config /srv/digest/newsletter.toml schedule run --standby
    """
    from newsletter import schedule

    config = state.config()
    _show_run_logs()
    schedule.run_scheduler(config, standby=standby)


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
