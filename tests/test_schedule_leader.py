"""One scheduler leader per PostgreSQL database (issue 9): a second one refuses naming the leader or
waits as a standby; after SIGKILL of the leader the standby takes over and finishes the issue it
left half sent; a leader whose lock connection is cut stops scheduling (fencing). On SQLite, the
flock with a standby; and `send --workers` reporting a worker that died.

Real scheduler and worker processes, the real PostgreSQL server, a real aiosmtpd server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter import cadence
from newsletter.config import load_config
from tests.conftest import REPO, wait_for, write_markdown
from tests.test_schedule_run import make_project
from tests.test_schedule_scheduler import store_job_due_at
from tests.test_send import _many_subscribers, run
from tests.test_send_workers import Addresses

pytestmark = pytest.mark.slow  # real processes, seconds each


def start(config: Path, log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "newsletter", "--config", str(config), "schedule", "run", *extra]
    with open(log, "w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)})


def scheduled_project(tmp_path: Path, server, subscribers: int) -> Path:
    """An hourly SMTP digest with one new article, `subscribers` readers, and a run due now."""
    config = make_project(tmp_path, cadence="every 1h", window="1d", delivery="smtp", digest='misfire_grace = "3h"',
                          newsletter='unsubscribe_url = "https://example.org/unsubscribe?token={token}"',
                          smtp={"host": server.host, "port": server.port, "security": "none", "timeout": 10,
                                "connections": 2})
    now = datetime.now(timezone.utc)
    write_markdown(config.parent / "articles", "fresh.md", "Fresh Piece", date=(now - timedelta(hours=2)).isoformat())
    _many_subscribers(config, subscribers, build=False)
    trigger = cadence.trigger_for(load_config(config).digests["daily"])
    store_job_due_at(config, cadence.fire_times(trigger, now - timedelta(minutes=90), now)[-1])
    return config


def sent(config: Path) -> int:
    return sum(i["sent"] for i in json.loads(run("--config", config, "issues", "--json").stdout))


def test_one_leader_a_refused_second_and_a_standby_that_takes_over_after_sigkill(
        tmp_path, start_smtp, children, pg_url, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_DATABASE", pg_url)
    handler = Addresses(reply_delay=0.005)
    server = start_smtp(handler)
    config = scheduled_project(tmp_path, server, 800)
    leader_log, standby_log = tmp_path / "leader.log", tmp_path / "standby.log"
    leader = start(config, leader_log)
    children.append(leader)
    assert handler.wait_for(1, timeout=60), leader_log.read_text()

    me = f"pid {leader.pid} on {socket.gethostname()}"
    refused = subprocess.run([sys.executable, "-m", "newsletter", "--config", str(config), "schedule", "run"],
                             capture_output=True, text=True, cwd=REPO, timeout=60)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith(f"error: a scheduler ({me}) is already running on ")
    assert refused.stderr.strip().count("\n") == 0 and "--standby" in refused.stderr  # one line, with its fix

    standby = start(config, standby_log, "--standby")
    children.append(standby)
    wait_for(lambda: f"standby: a scheduler ({me}) leads" in standby_log.read_text(), what="the standby to wait")
    assert handler.wait_for(150, timeout=120)
    leader.send_signal(signal.SIGKILL)  # midway through the issue
    leader.wait(10)
    halfway = handler.count
    assert halfway < 800, "the leader finished before it was killed: make the issue bigger"

    wait_for(lambda: "standby: now the scheduler" in standby_log.read_text(), timeout=30, what="the takeover")
    wait_for(lambda: sent(config) == 800, timeout=180, what="the standby to finish the issue")
    counts = handler.by_recipient()
    assert len(counts) == 800 and sum(n - 1 for n in counts.values()) <= 2  # at most the leader's connections
    standby.send_signal(signal.SIGTERM)
    assert standby.wait(60) == 0
    text = standby_log.read_text()
    assert "resumed" in text and "Traceback" not in text, text


def test_a_leader_that_loses_its_lock_connection_stops_scheduling(tmp_path, children, pg_url, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_DATABASE", pg_url)
    config = make_project(tmp_path, cadence="every 1h")
    log = tmp_path / "leader.log"
    leader = start(config, log)
    children.append(leader)
    wait_for(lambda: "scheduler running on" in log.read_text(), what="the leader to start")
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:  # as the server does when the leader's machine drops off the network
        cut = conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
                                   ":name"), {"name": f"newsletter scheduler pid {leader.pid} on {socket.gethostname()}"
                                              [:63]}).scalars().all()
    admin.dispose()
    assert cut == [True]
    assert leader.wait(30) == 1
    text = log.read_text()
    assert "error: the scheduler lost its lock on " in text and "stopped scheduling" in text, text
    # Free for another leader at once.
    other = start(config, tmp_path / "other.log")
    children.append(other)
    wait_for(lambda: "scheduler running on" in (tmp_path / "other.log").read_text(), what="a new leader")
    other.send_signal(signal.SIGTERM)
    assert other.wait(30) == 0


@pytest.mark.sqlite_only
def test_a_standby_on_sqlite_waits_for_the_flock_and_takes_over(tmp_path, children):
    config = make_project(tmp_path, cadence="every 1h")
    logs = [tmp_path / "leader.log", tmp_path / "standby.log", tmp_path / "stopped.log"]
    leader = start(config, logs[0])
    children.append(leader)
    wait_for(lambda: "scheduler running on" in logs[0].read_text(), what="the leader to start")
    standby, idle = start(config, logs[1], "--standby"), start(config, logs[2], "--standby")
    children.extend([standby, idle])
    me = f"pid {leader.pid} on {socket.gethostname()}"
    for log in logs[1:]:
        wait_for(lambda: f"standby: a scheduler ({me}) leads" in log.read_text(), what="the standbys to wait")
    idle.send_signal(signal.SIGTERM)  # a standby stops at once when told to
    assert idle.wait(30) == 0 and "stopped while on standby" in logs[2].read_text()
    leader.send_signal(signal.SIGKILL)
    leader.wait(10)
    wait_for(lambda: "scheduler running on" in logs[1].read_text(), timeout=30, what="the takeover")
    standby.send_signal(signal.SIGTERM)
    assert standby.wait(30) == 0
    assert "Traceback" not in logs[1].read_text()


@pytest.mark.sqlite_only
def test_send_workers_reports_a_worker_that_died_and_the_others_finish_its_rows(tmp_path, start_smtp):
    from collections import Counter

    from tests.test_send import project

    handler = Addresses(reply_delay=0.005)
    server = start_smtp(handler)
    config = project(tmp_path, server, connections=2)
    addresses = sorted(_many_subscribers(config, 600))
    parent = subprocess.Popen([sys.executable, "-m", "newsletter", "--config", str(config), "send", "--subscribers",
                               "--yes", "--no-sync", "--date", "2024-10-11", "--workers", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert handler.wait_for(60, timeout=120), parent.poll()
        task = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
        workers = [int(pid) for pid in task.read_text().split()]
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        out, err = parent.communicate(timeout=300)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.communicate()
    assert parent.returncode == 1, err
    assert f"(pid {workers[0]}): died (killed by SIGKILL)" in out, out
    assert "error: 1 of 2 workers died" in err and "Traceback" not in err, err
    if "not sent yet" in err:  # the other worker had finished before the rows were free: the next run sends them
        assert run("--config", config, "send", "--subscribers", "--yes", "--no-sync", "--date",
                   "2024-10-11").exit_code == 0
    counts = handler.by_recipient()
    assert sorted(counts) == addresses and sum(n - 1 for n in counts.values()) <= 2, Counter(counts.values())
