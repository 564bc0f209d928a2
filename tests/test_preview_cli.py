"""`newsletter preview` as a user runs it: a real process, a real port, Ctrl-C."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app

from tests.conftest import write_config, write_markdown


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_config(root)
    write_markdown(root / "articles", "one.md", "First Headline")
    return root


class Preview:
    """`python -m newsletter preview ...` in a project folder, read line by line with a deadline."""

    def __init__(self, cwd: Path, *args: str):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "newsletter", "preview", *args], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match:
        """Read stdout and stderr until a line matches (the server prints its URL once it listens)."""
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ, self.out)
        selector.register(self.proc.stderr, selectors.EVENT_READ, self.err)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                for key, _ in selector.select(timeout=0.1):
                    line = key.fileobj.readline()
                    if line:
                        key.data.append(line)
                        if found := re.search(pattern, line):
                            return found
                if self.proc.poll() is not None and not selector.select(timeout=0):
                    break
        finally:
            selector.close()
        raise AssertionError(f"no line matching {pattern!r}; stdout={self.out} stderr={self.err}")

    def stop(self, sig=signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=20)
        self.out.append(out)
        self.err.append(err)
        return self.proc.returncode


def test_help_has_an_example():
    result = CliRunner().invoke(app, ["preview", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and "--port" in result.output


def test_serves_on_loopback_and_ctrl_c_exits_0(project_dir: Path):
    run = Preview(project_dir, "--date", "2024-10-11", "--port", "0")
    try:
        url = run.wait_for(r"(http://\S+/daily/2024-10-11/)").group(1)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "email.html", timeout=10) as response:
            assert b"First Headline" in response.read()
    finally:
        code = run.stop(signal.SIGINT)
    assert code == 0, (run.out, run.err)
    assert "stopped" in "".join(run.out) and "Traceback" not in "".join(run.err)
    assert not any("warning" in line for line in run.err)


def test_sigterm_stops_cleanly_too(project_dir: Path):
    run = Preview(project_dir, "--port", "0")
    run.wait_for(r"previewing daily at http://127\.0\.0\.1:\d+/daily/\d{4}-\d{2}-\d{2}/")
    assert run.stop(signal.SIGTERM) == 0


def test_another_host_gets_a_warning(project_dir: Path):
    run = Preview(project_dir, "--host", "0.0.0.0", "--port", "0")
    try:
        run.wait_for(r"warning: serving on 0\.0\.0\.0, not loopback")
        port = int(run.wait_for(r"http://127\.0\.0\.1:(\d+)/").group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__version", timeout=10) as response:
            assert response.status == 200
    finally:
        assert run.stop() == 0


def test_loopback_only_by_default(project_dir: Path):
    """The default bind refuses connections to this machine's other addresses."""
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
        address = probe.getsockname()[0]
        probe.close()
    except OSError:
        address = None
    if not address or address.startswith("127."):
        pytest.skip("this machine has no address other than loopback")
    run = Preview(project_dir, "--port", "0")
    try:
        port = int(run.wait_for(r"http://127\.0\.0\.1:(\d+)/").group(1))
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=3).close()
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
    finally:
        run.stop()


def test_port_in_use_is_one_line_and_exit_1(project_dir: Path, monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    monkeypatch.chdir(project_dir)
    try:
        result = CliRunner().invoke(app, ["preview", "--port", str(port)])
    finally:
        taken.close()
    assert result.exit_code == 1
    assert result.output.strip() == f"error: port {port} is in use; pass --port"


def test_unknown_digest_is_an_error_before_listening(project_dir: Path, monkeypatch):
    monkeypatch.chdir(project_dir)
    result = CliRunner().invoke(app, ["preview", "weekly", "--port", "0"])
    assert result.exit_code == 1 and "no digest named 'weekly'" in result.output
