"""The delivery promise under pressure, with real processes, real SMTP servers and real databases:
concurrent sends, a scheduled run beside a send, SIGKILL at random points, subscribers joining
mid-send, and a ledger that cannot be written (locked by another process, or on a full disk)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.pipeline import open_store
from newsletter.pipeline.subscribers import add_subscriber
from newsletter.store import engine as engine_module
from tests.conftest import REPO
from tests.smtpd import Recorder
from tests.test_send import _many_subscribers, project, run

SEND = ["send", "--subscribers", "--yes", "--date", "2024-10-11"]


def start(config: Path, *args: str, code: str | None = None) -> subprocess.Popen:
    """A `newsletter` command (or, with code, a Python snippet) in a child process of its own."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "newsletter", "--config", str(config),
                                                         *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def finished(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    outs = [p.communicate(timeout=120) for p in procs]
    return [(p.returncode, *out) for p, out in zip(procs, outs)]


def issue_counts(config: Path) -> dict:
    (issue,) = json.loads(run("--config", config, "issues", "--json").stdout)
    return {k: issue[k] for k in ("sent", "failed", "skipped", "pending", "claimed", "unknown")}


def assert_once_each(handler: Recorder, addresses: list[str]) -> None:
    counts = handler.by_recipient()
    assert sorted(counts) == addresses
    assert Counter(counts.values()) == {1: len(addresses)}, {a: n for a, n in counts.items() if n != 1}


# -- several senders at once -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("senders", [2, 3])
def test_concurrent_sends_share_the_issue_and_each_address_gets_one_copy(tmp_path, start_smtp, children, senders):
    server = start_smtp(Recorder())
    config = project(tmp_path, server, connections=2)
    addresses = _many_subscribers(config, 240, build=False)  # every sender also races to build the issue
    children.extend(start(config, *SEND) for _ in range(senders))
    results = finished(children)
    for code, out, err in results:
        assert code == 0, err
        assert "Traceback" not in err and "IntegrityError" not in err
    assert_once_each(server.handler, addresses)
    sent = sum(int(out.split(" sent,")[0].split()[-1]) for _, out, _ in results if " sent," in out)
    assert sent == len(addresses)  # what the senders report adds up: none claims another's message
    assert issue_counts(config) == dict(sent=240, failed=0, skipped=0, pending=0, claimed=0, unknown=0)
    # Whichever sender made the token key first, all signed with the one that is kept.
    from newsletter.pipeline.send import secret_key
    from newsletter.tokens import read_token

    with open_store(load_config(config)) as store:
        key = secret_key(store)
        for message in server.messages:
            token = message.data.split(b"unsubscribe?token=")[1].split(b">")[0].decode()
            assert read_token(key, token, store.subscribers.salt) is not None, message.rcpt_tos


@pytest.mark.slow
def test_a_send_beside_a_scheduled_run_of_the_same_issue(tmp_path, start_smtp, children):
    server = start_smtp(Recorder())
    config = project(tmp_path, server, connections=2)
    config.write_text(config.read_text().replace('delivery = "outbox"', 'delivery = "smtp"'))
    addresses = _many_subscribers(config, 200, build=False)
    scheduled = (f"from newsletter.pipeline.run import run_digest; "
                 f"print(run_digest({str(config)!r}, 'daily', '2024-10-11T07:00:00+00:00').status)")
    children.append(start(config, code=scheduled))
    children.append(start(config, *SEND))
    (run_code, run_out, run_err), (send_code, _, send_err) = finished(children)
    assert run_code == 0 and run_out.strip().splitlines()[-1] in ("sent", "already"), run_err
    assert send_code == 0 and "Traceback" not in send_err + run_err, send_err
    assert_once_each(server.handler, addresses)


# -- SIGKILL -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sigkill_at_random_points_costs_at_most_one_copy_per_connection(tmp_path, start_smtp, children):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    handler = Recorder()
    server = start_smtp(handler)
    connections = 2
    config = project(tmp_path, server, connections=connections)
    addresses = _many_subscribers(config, 300)
    kills = 0
    for _ in range(3):
        before = handler.count
        proc = start(config, *SEND, "--no-sync")
        children.append(proc)
        # Anywhere: before the first message (while it claims), or once some have gone out.
        if rng.random() < 0.8:
            assert handler.wait_for(before + rng.randrange(1, 60), timeout=60), (seed, proc.poll())
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        kills += 1
    # The claims of the killed processes (on this machine, and gone) are taken over at once.
    result = run("--config", config, *SEND, "--no-sync")
    assert result.exit_code == 0, (seed, result.output)
    counts = handler.by_recipient()
    assert sorted(counts) == addresses, seed  # nobody missed
    extra = sum(n - 1 for n in counts.values())
    assert extra <= kills * connections and max(counts.values()) <= 1 + kills, (seed, extra)
    assert issue_counts(config) == dict(sent=300, failed=0, skipped=0, pending=0, claimed=0, unknown=0)
    journals = tmp_path / "digest" / "newsletter.db.unrecorded"
    assert not list(journals.glob("*.journal")) if journals.is_dir() else True  # the dead ones' were cleared


# -- subscribers joining ------------------------------------------------------------------------

def test_a_subscriber_added_mid_send_gets_it_once_and_recorded(tmp_path, start_smtp):
    def join(recorder: Recorder) -> None:
        if recorder.count == 5:  # while the send runs, through the real pipeline and database
            add_subscriber(load_config(config), "late@example.org", name=None, digests=[], topics=[])

    server = start_smtp(Recorder(on_message=join))
    config = project(tmp_path, server)
    addresses = _many_subscribers(config, 20)
    result = run("--config", config, *SEND, "--no-sync")
    assert result.exit_code == 0, result.output
    assert_once_each(server.handler, sorted(addresses + ["late@example.org"]))
    assert issue_counts(config)["sent"] == 21
    again = run("--config", config, *SEND, "--no-sync")
    assert "fully sent (21 recipients)" in again.stdout and len(server.messages) == 21


# -- a ledger that cannot be written ---------------------------------------------------------------

class LockHolder:
    """Another process holding the database's write lock (BEGIN EXCLUSIVE) until told to let go."""

    def __init__(self, path: Path, seconds: float | None = None):
        code = ("import sqlite3, sys, time\n"
                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                "c.execute('BEGIN EXCLUSIVE')\n"
                "print('locked', flush=True)\n"
                "time.sleep(float(sys.argv[2])) if sys.argv[2] != 'stdin' else sys.stdin.readline()\n"
                "c.execute('ROLLBACK')\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(seconds or "stdin")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.proc.poll() is None and self.proc.stdin:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        self.proc.wait(30)


@pytest.mark.sqlite_only
def test_a_ledger_locked_for_seconds_mid_send_records_every_result_once_the_lock_goes(tmp_path, start_smtp,
                                                                                     monkeypatch, caplog):
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)  # so the retries, not SQLite's own wait, carry it
    holders = []

    def lock(recorder: Recorder) -> None:
        if recorder.count == 10:  # the 10th message is kept by the server, its result cannot be written
            holders.append(LockHolder(config.parent / "newsletter.db", seconds=3))

    server = start_smtp(Recorder(on_message=lock))
    config = project(tmp_path, server, connections=2)
    addresses = _many_subscribers(config, 40)
    result = run("--config", config, *SEND, "--no-sync")
    holders[0].proc.wait(30)
    assert result.exit_code == 0, result.output
    assert "40 sent" in result.stdout
    assert "retrying for up to 60 s" in caplog.text and "is locked by another process" in caplog.text
    assert_once_each(server.handler, addresses)
    assert issue_counts(config)["sent"] == 40


@pytest.mark.sqlite_only
def test_a_ledger_locked_too_long_keeps_the_results_in_the_journal_and_the_next_send_records_them(
        tmp_path, start_smtp, monkeypatch):
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    holders = []

    def lock(recorder: Recorder) -> None:
        if recorder.count == 10:
            holders.append(LockHolder(config.parent / "newsletter.db"))

    server = start_smtp(Recorder(on_message=lock))
    config = project(tmp_path, server, connections=2, ledger_timeout=1)
    addresses = _many_subscribers(config, 40)
    try:
        result = run("--config", config, *SEND, "--no-sync")
    finally:
        for holder in holders:
            holder.release()
    assert result.exit_code == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ") and "could not record the results of messages already sent" in error
    assert ".journal and the next send records them" in error and "Traceback" not in result.stderr
    sent_before = server.handler.count
    assert 10 <= sent_before <= 10 + 2  # at most one more per connection after the lock
    rerun = run("--config", config, *SEND, "--no-sync")
    assert rerun.exit_code == 0, rerun.output
    assert f"{40 - sent_before} sent" in rerun.stdout and f"{sent_before} had it already" in rerun.stdout
    assert_once_each(server.handler, addresses)
    assert not list((config.parent / "newsletter.db.unrecorded").glob("*.journal"))


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MB tmpfs mounted for the test (root only): a disk that can really fill up."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full; the file (remove it to free the space). Unbuffered: a buffered
    file keeps what did not fit and raises ENOSPC again when it is closed."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


@pytest.mark.sqlite_only
def test_a_full_disk_mid_send_keeps_the_results_in_the_reserved_journal(tmp_path, start_smtp, small_disk,
                                                                        monkeypatch):
    monkeypatch.delenv("NEWSLETTER_DATABASE", raising=False)
    fillers = []

    def full(recorder: Recorder) -> None:
        if recorder.count == 10:
            fillers.append(fill(small_disk))

    server = start_smtp(Recorder(on_message=full))
    config = project(tmp_path, server, connections=2, ledger_timeout=1)
    config.write_text(config.read_text().replace('database = "newsletter.db"', f'database = "{small_disk}/news.db"'))
    addresses = _many_subscribers(config, 60)
    result = run("--config", config, *SEND, "--no-sync")
    assert result.exit_code == 1 and fillers
    error = result.stderr.strip().splitlines()[-1]
    assert "disk is full" in error and ".journal and the next send records them" in error, error
    fillers[0].unlink()
    rerun = run("--config", config, *SEND, "--no-sync")
    assert rerun.exit_code == 0, rerun.output
    assert_once_each(server.handler, addresses)
    assert issue_counts(config)["sent"] == 60
