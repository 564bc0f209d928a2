"""Several sends of one issue: `send --workers N`, and worker processes on one PostgreSQL database (issue 9).

Real processes, a real aiosmtpd sink, real SQLite files and the real PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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


def issue_counts(config: Path) -> dict:
    (issue,) = json.loads(run("--config", config, "issues", "--json").stdout)
    return {k: issue[k] for k in ("sent", "failed", "skipped", "pending", "claimed", "unknown")}


@pytest.mark.sqlite_only
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


# -- on PostgreSQL: worker processes as on several machines ------------------------------------------

class Addresses(Recorder):
    """Keeps who got how many messages, not the messages (thousands of them)."""

    def __init__(self, **options):
        super().__init__(count_only=True, **options)
        self.got: Counter = Counter()

    def _store(self, envelope, rcpts, session) -> None:
        with self.lock:
            self.got.update(rcpts)
        super()._store(envelope, rcpts, session)

    def by_recipient(self) -> Counter:
        with self.lock:
            return Counter(self.got)


def sent_by(out: str) -> int:
    """The count a `send` reports as its own: "daily 2024-10-11: N sent, ..." (0 when it found nothing)."""
    for line in out.splitlines():
        if line.startswith("daily 2024-10-11: "):
            return int(line.split(": ")[1].split(" sent")[0])
    assert "nothing sent" in out, out
    return 0


@pytest.fixture
def on_postgres(pg_url, monkeypatch) -> str:
    """Every config of the test (and its child processes) on a fresh PostgreSQL database."""
    monkeypatch.setenv("NEWSLETTER_DATABASE", pg_url)
    return pg_url


@pytest.mark.slow
def test_three_workers_share_an_issue_of_3000_on_postgresql(tmp_path, start_smtp, children, on_postgres):
    handler = Addresses()
    server = start_smtp(handler)
    config = project(tmp_path, server, connections=2)
    addresses = sorted(_many_subscribers(config, 3000))
    children.extend(start(config, *SEND) for _ in range(3))
    outputs = [p.communicate(timeout=300) for p in children]
    results = [(p.returncode, out, err) for p, (out, err) in zip(children, outputs)]
    for code, out, err in results:
        assert code == 0 and "Traceback" not in err, err
    counts = handler.by_recipient()
    assert sorted(counts) == addresses
    assert set(counts.values()) == {1}, {a: n for a, n in counts.items() if n != 1}
    each = [sent_by(out) for _, out, _ in results]
    assert sum(each) == 3000 and all(n > 0 for n in each), each  # every worker sent some, none another's
    said = [out for _, out, _ in results if "is complete" in out]
    assert len(said) == 1 and "issue daily 2024-10-11 is complete: 3000 recipients have it" in said[0]
    assert issue_counts(config) == dict(sent=3000, failed=0, skipped=0, pending=0, claimed=0, unknown=0)


@pytest.mark.slow
def test_a_worker_killed_midway_costs_at_most_its_connections_in_copies(tmp_path, start_smtp, children,
                                                                         on_postgres):
    handler = Addresses()
    server = start_smtp(handler)
    connections = 3
    config = project(tmp_path, server, connections=connections)
    addresses = sorted(_many_subscribers(config, 1500))
    children.extend(start(config, *SEND) for _ in range(3))
    assert handler.wait_for(500, timeout=120), [p.poll() for p in children]
    victim = children[0]
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(10) == -signal.SIGKILL
    for proc in children[1:]:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    # The others took its claims over (its process is gone); a re-run finds anything left.
    result = run("--config", config, *SEND)
    assert result.exit_code == 0, result.output
    counts = handler.by_recipient()
    assert sorted(counts) == addresses  # nobody missed
    assert max(counts.values()) <= 1 + connections
    assert sum(n - 1 for n in counts.values()) <= connections, Counter(counts.values())
    assert issue_counts(config) == dict(sent=1500, failed=0, skipped=0, pending=0, claimed=0, unknown=0)


@pytest.mark.slow
def test_send_workers_on_postgresql_and_progress_in_issues(tmp_path, start_smtp, children, on_postgres):
    handler = Addresses(reply_delay=0.002)
    server = start_smtp(handler)
    config = project(tmp_path, server, connections=2)
    addresses = sorted(_many_subscribers(config, 1200))
    parent = start(config, *SEND, "--workers", "3")
    children.append(parent)
    assert handler.wait_for(200, timeout=120), parent.poll()
    midway = issue_counts(config)  # while the workers send: some sent, some still to do
    assert midway["sent"] > 0 and midway["pending"] + midway["claimed"] > 0, midway
    out, err = parent.communicate(timeout=300)
    assert parent.returncode == 0, err
    assert out.count("  worker ") == 3 and "daily 2024-10-11: 1200 sent" in out, out
    assert "is complete: 1200 recipients have it" in out
    assert sorted(handler.by_recipient()) == addresses and set(handler.by_recipient().values()) == {1}


def test_send_workers_stopped_by_sigterm_stops_them_all_and_says_what_is_left(tmp_path, start_smtp, children):
    handler = Addresses(reply_delay=0.01)
    server = start_smtp(handler)
    config = project(tmp_path, server, connections=1)
    _many_subscribers(config, 400)
    parent = start(config, *SEND, "--workers", "2")
    children.append(parent)
    assert handler.wait_for(20, timeout=120), parent.poll()
    parent.send_signal(signal.SIGTERM)
    out, err = parent.communicate(timeout=60)
    assert parent.returncode == 130, (parent.returncode, err)
    assert "interrupted: " in err and "Traceback" not in err, err
    counts = issue_counts(config)
    assert counts["claimed"] == 0 and counts["sent"] + counts["pending"] == 400, counts  # all given back
    assert set(handler.by_recipient().values()) == {1}
