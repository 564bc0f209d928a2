"""The scheduler itself: stored jobs from the config, missed runs, one scheduler per database, a real process."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter import cadence, schedule
from newsletter.cli import app
from newsletter.config import load_config
from newsletter.errors import ConfigError, NewsletterError
from newsletter.pipeline import open_store
from newsletter.pipeline import run as runs
from tests.conftest import REPO, wait_for, write_markdown
from tests.test_schedule_run import make_project

UTC = timezone.utc
runner = CliRunner()


@pytest.fixture(autouse=True)
def _logs(caplog):
    caplog.set_level(logging.INFO, logger="newsletter")
    runs.STOP.clear()


def background(config_path: Path):
    """make_scheduler with a BackgroundScheduler, so a test can start it and wait on events."""
    from apscheduler.schedulers.background import BackgroundScheduler

    return schedule.make_scheduler(load_config(config_path), scheduler_class=BackgroundScheduler)


def stored_jobs(config_path: Path) -> dict:
    scheduler = background(config_path)
    scheduler.start(paused=True)  # paused: the jobs are written to the store, none runs
    try:
        return {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown()


def test_jobs_follow_the_config(tmp_path):
    config = make_project(tmp_path, digest='misfire_grace = "2h"\n\n[digests.weekly]\ncadence = "0 8 * * mon"\n'
                                            'timezone = "Europe/London"\n\n[digests.manual]\ntitle = "By hand"\n')
    jobs = stored_jobs(config)
    assert sorted(jobs) == ["digest:daily", "digest:weekly"]
    daily = jobs["digest:daily"]
    assert daily.func_ref == "newsletter.pipeline.run:run_digest" and daily.args == (str(config), "daily")
    assert (daily.misfire_grace_time, daily.coalesce, daily.max_instances) == (7200, True, 1)
    assert jobs["digest:weekly"].misfire_grace_time == 3600
    weekly = repr(jobs["digest:weekly"].trigger)
    assert "day_of_week='mon'" in weekly and "Europe/London" in weekly
    # Weekly is removed from the config, daily changes its cadence: the store follows at the next start.
    text = config.read_text().replace('cadence = "0 8 * * mon"', "").replace('"0 7 * * mon-fri"', '"every 6h"')
    config.write_text(text)
    jobs = stored_jobs(config)
    assert sorted(jobs) == ["digest:daily"] and "interval" in str(jobs["digest:daily"].trigger)
    with open_store(load_config(config)) as store:  # the job table lives beside ours without upsetting the store
        assert store.find_articles() == []


def test_no_cadence_anywhere_is_a_config_error(tmp_path):
    config = make_project(tmp_path)
    config.write_text(config.read_text().replace('cadence = "0 7 * * mon-fri"', ""))
    with pytest.raises(ConfigError, match="no digest has a cadence"):
        background(config)


def store_job_due_at(config_path: Path, when: datetime) -> None:
    """Simulate downtime: the stored job was due at `when` and no scheduler was running then."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    stored_jobs(config_path)
    # Through the job store, not a scheduler: a paused BackgroundScheduler that is shut down
    # still makes one pass over the due jobs (an APScheduler quirk) and would move the time on.
    store = SQLAlchemyJobStore(url=load_config(config_path).database, tablename=schedule.JOB_TABLE)
    store.start(background(config_path), "default")  # a scheduler never started: only its time zone is used
    job = store.lookup_job("digest:daily")
    job._modify(next_run_time=when)
    store.update_job(job)
    store.shutdown()


def start_and_wait(config_path: Path, mask_name: str):
    """Start a scheduler as `schedule run` would; return the first event of the kind asked for, and all events."""
    from apscheduler import events

    seen, first = [], threading.Event()
    scheduler = background(config_path)

    def listener(event):
        seen.append(event)
        first.set()

    scheduler.add_listener(listener, getattr(events, mask_name))
    scheduler.start()
    try:
        assert first.wait(20), f"no {mask_name} within 20 s"
    finally:
        scheduler.shutdown(wait=True)
    return seen


def test_runs_missed_within_the_grace_are_made_up_once(tmp_path, caplog):
    config = make_project(tmp_path, cadence="every 1h", window="1d", digest='misfire_grace = "3h"')
    now = datetime.now(UTC)
    write_markdown(config.parent / "articles", "a.md", "Missed Piece", date=(now - timedelta(hours=2)).isoformat())
    trigger = cadence.trigger_for(load_config(config).digests["daily"])
    due = cadence.fire_times(trigger, now - timedelta(hours=2, minutes=30), now)
    assert len(due) >= 2
    store_job_due_at(config, due[0])
    executed = start_and_wait(config, "EVENT_JOB_EXECUTED")
    assert len(executed) == 1  # coalesced: one run for all the missed ones
    keys = sorted(p.name for p in (config.parent / "outbox" / "daily").iterdir())
    assert len(keys) == 1 and keys[0] in {due[-1].strftime("%Y-%m-%dT%H%M%S"),
                                          (due[-1] + timedelta(hours=1)).strftime("%Y-%m-%dT%H%M%S")}
    assert f"digest daily: {len(due) - 1} earlier run" in caplog.text
    assert "passed while no scheduler was running; missed runs are coalesced, so only the latest" in caplog.text
    assert "1 article, built" in caplog.text


def test_a_run_missed_beyond_the_grace_is_logged_not_made_up(tmp_path, caplog):
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
    config = make_project(tmp_path, cadence=f"{two_hours_ago.minute} {two_hours_ago.hour} * * *",
                          digest='misfire_grace = "30m"')
    store_job_due_at(config, two_hours_ago)
    missed = start_and_wait(config, "EVENT_JOB_MISSED")
    assert missed[0].scheduled_run_time == two_hours_ago
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "newsletter.schedule" and r.levelno == logging.WARNING]
    assert warnings == [f"digest daily: the run of {two_hours_ago.isoformat()} was missed by "
                        f"{warnings[0].split(' was missed by ')[1].split(',')[0]}, more than misfire_grace 0:30:00; "
                        "it is not made up"]
    assert warnings[0].split(" was missed by ")[1].startswith("2:00:")
    assert not (config.parent / "outbox" / "daily").exists()


# -- one scheduler per database -------------------------------------------------

@pytest.mark.sqlite_only
def test_a_second_scheduler_on_the_same_database_is_refused(tmp_path):
    config = load_config(make_project(tmp_path))
    db = str(tmp_path / "project" / "newsletter.db")
    with schedule.SchedulerLock.for_config(config) as held:
        assert held.path == Path(db + ".scheduler.lock")
        me = f"pid {os.getpid()} on {socket.gethostname()}"
        assert held.path.read_text().strip() == me
        with pytest.raises(NewsletterError, match=rf"a scheduler \({me}\) is already running on {db}"):
            schedule.SchedulerLock.for_config(config).acquire()
        result = runner.invoke(app, ["--config", str(config.path), "schedule", "run"])
        assert result.exit_code == 1
        assert result.stderr.startswith(f"error: a scheduler ({me}) is already running on {db}")
        assert result.stderr.strip().count("\n") == 0
    schedule.SchedulerLock.for_config(config).acquire().release()  # free again once the first is gone


def test_the_lock_of_a_killed_scheduler_is_free_at_once(tmp_path):
    config = load_config(make_project(tmp_path))
    code = ("import time; from newsletter.config import load_config; from newsletter.schedule import SchedulerLock; "
            f"SchedulerLock.for_config(load_config({str(config.path)!r})).acquire(); print('locked', flush=True); "
            "time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(NewsletterError, match=rf"pid {holder.pid} on "):
            schedule.SchedulerLock.for_config(config).acquire()
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs
        holder.wait(10)
        holder.stdout.close()
    schedule.SchedulerLock.for_config(config).acquire().release()


def test_a_non_sqlite_database_locks_a_file_in_the_config_folder(tmp_path):
    config = load_config(make_project(tmp_path))
    from dataclasses import replace

    other = replace(config, database="postgresql://editor:secret@db.example.org/news")
    path = schedule.lock_path(other)
    assert path.parent == config.root and path.name.startswith(".newsletter-scheduler-")
    assert "secret" not in schedule.database_label(other.database)


# -- the real thing -------------------------------------------------------------

def built(outbox: Path) -> list[Path]:
    return sorted(p for p in outbox.glob("*/message.txt"))


@pytest.mark.slow
def test_schedule_run_in_a_real_process(tmp_path):
    # Driven by a run missed while no scheduler was running, which the process makes up as it
    # starts: nothing here depends on a cadence firing in real time.
    config = make_project(tmp_path, cadence="every 1h", window="1d", digest='misfire_grace = "3h"')
    articles, outbox, log = config.parent / "articles", config.parent / "outbox" / "daily", tmp_path / "run.log"
    now = datetime.now(UTC)
    write_markdown(articles, "first.md", "First Piece", date=(now - timedelta(hours=2)).isoformat())
    trigger = cadence.trigger_for(load_config(config).digests["daily"])
    latest = cadence.fire_times(trigger, now - timedelta(minutes=90), now)[-1]
    store_job_due_at(config, latest)
    command = [sys.executable, "-m", "newsletter", "--config", str(config), "schedule", "run"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    try:
        wait_for(lambda: len(built(outbox)) >= 1 and "built: written to" in log.read_text(), what="the made-up run")
        assert "First Piece" in built(outbox)[0].read_text()
        refused = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=30)
        assert refused.returncode == 1
        assert f"a scheduler (pid {proc.pid} on {socket.gethostname()}) is already running" in refused.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert text.count(", built: written to") == 1 and "digest daily issue " in text
    assert "stopping (SIGTERM)" in text and text.rstrip().endswith("scheduler stopped")
    assert "Traceback" not in text and " ERROR " not in text

    # Started again with the same run due: it is not built twice.
    store_job_due_at(config, latest)
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    try:
        wait_for(lambda: "already built" in log.read_text(), what="the run after the restart")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(built(outbox)) == 1 and "built: written to" not in log.read_text()
