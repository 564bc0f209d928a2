"""Several sends of one issue: `send --workers N`, and worker processes on one PostgreSQL database (issue 9).

Real processes, a real aiosmtpd sink, real SQLite files and the real PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.smtpd import Recorder
from tests.test_send import _many_subscribers, project, run

SEND = ["send", "--subscribers", "--yes", "--date", "2024-10-11", "--no-sync"]


def start(config: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """A `newsletter` command in a child process of its own."""
    return subprocess.Popen([sys.executable, "-m", "newsletter", "--config", str(config), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


@pytest.fixture
def children():
    """Processes a test starts; none is left running, whatever the outcome."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def wait_for(predicate, timeout: float = 60, what: str = "it"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling processes we do not control; bounded by the deadline


def issue_counts(config: Path) -> dict:
    (issue,) = json.loads(run("--config", config, "issues", "--json").stdout)
    return {k: issue[k] for k in ("sent", "failed", "skipped", "pending", "claimed", "unknown")}


def test_send_with_two_workers_on_sqlite(tmp_path, start_smtp):
    server = start_smtp(Recorder())
    config = project(tmp_path, server, connections=2)
    addresses = _many_subscribers(config, 300)
    result = run("--config", config, *SEND, "--workers", "2")
    assert result.exit_code == 0, result.output
    counts = server.handler.by_recipient()
    assert sorted(counts) == addresses and set(counts.values()) == {1}
    lines = [line for line in result.stdout.splitlines() if line.startswith("  worker ")]
    assert len(lines) == 2, result.stdout
    each = [int(line.split(": ")[1].split(" sent")[0]) for line in lines]
    assert sum(each) == 300, result.stdout
    assert "daily 2024-10-11: 300 sent" in result.stdout
    assert "issue daily 2024-10-11 is complete: 300 recipients have it" in result.stdout
    assert issue_counts(config) == dict(sent=300, failed=0, skipped=0, pending=0, claimed=0, unknown=0)
