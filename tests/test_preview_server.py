"""The preview server over real HTTP on a free port: routes, byte-equality with build, live reload, safety."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.pipeline.subscribers import add_subscriber
from newsletter.preview import make_server
from newsletter.store import Store

from tests.conftest import write_config, write_markdown

DAY = "2024-10-11"
PAGE = f"/daily/{DAY}/"


class Served:
    """A running preview server on a sample project, and ways to talk to it."""

    def __init__(self, config_path: Path, **kwargs):
        self.config_path = config_path
        self.root = config_path.parent
        self.server = make_server(config_path, "127.0.0.1", 0, interval=0.05, **kwargs)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.close()
        self.thread.join(5)

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def raw(self, request_line: str, host: str = "127.0.0.1") -> tuple[int, bytes]:
        """A request written by hand, so no client library normalises the path first."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(f"{request_line}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1"))
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body

    def version(self) -> int:
        return json.loads(self.get("/__version")[2])["version"]

    def wait_for_change(self, since: int, timeout: float = 5.0) -> int:
        """Poll /__version until it moves past `since` (the watcher polls every 50 ms here)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.version()
            if now != since:
                return now
            time.sleep(0.02)
        raise AssertionError(f"the version stayed at {since} for {timeout} s")


def sample_project(root: Path, newsletter_keys: str = "") -> Path:
    """Two articles on DAY (topics Iran, Russia) in a fresh project; extra lines go into [newsletter]."""
    config = write_config(root)
    # write_config's body lands after [[sources]]; keys of [newsletter] go after its timezone.
    config.write_text(config.read_text().replace('timezone = "UTC"\n', f'timezone = "UTC"\n{newsletter_keys}'))
    write_markdown(root / "articles", "one.md", "First Headline", topics=("Iran",))
    write_markdown(root / "articles", "two.md", "Second Headline", topics=("Russia",))
    return config


@pytest.fixture
def served(tmp_path: Path):
    # Links with the unsubscribe token marker and topic URLs: the bytes compared with build include them.
    running = Served(sample_project(tmp_path / "project", 'unsubscribe_url = "https://example.org/u/{token}"\n'
                                                          'topic_url = "https://example.org/t/{slug}"\n'))
    yield running
    running.stop()


def issues_recorded(config_path: Path) -> list:
    with Store(load_config(config_path).database) as store:
        return store.list_issues()


def test_routes_and_status_codes(served: Served):
    status, headers, body = served.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b'href="/daily/' in body
    status, _, body = served.get(PAGE)
    assert status == 200 and f'src="/daily/{DAY}/email.html"'.encode() in body
    status, headers, body = served.get(PAGE + "email.html")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8" and b"First Headline" in body
    status, headers, body = served.get(PAGE + "email.txt")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8" and b"First Headline" in body
    status, _, body = served.get(PAGE + "info.json")
    info = json.loads(body)
    assert status == 200 and info["subject"] and sorted(info["titles"]) == ["First Headline", "Second Headline"]
    assert served.get("/__version")[0] == 200
    for missing in ("/nope/2024-10-11/", "/daily/2024-02-30/", "/daily/2024-02-30/email.html", "/daily/",
                    "/favicon.ico", PAGE + "email.html/", PAGE + "other.html"):
        assert served.get(missing)[0] == 404, missing
    assert served.get("/__go?digest=daily&date=2024-10-12")[1].get("Location") is None  # urllib follows the 303
    assert b"2024-10-12" in served.get("/__go?digest=daily&date=2024-10-12")[2]
    assert served.get("/__go?digest=daily&date=soon")[0] == 404


def test_head_and_other_methods(served: Served):
    status, body = served.raw(f"HEAD {PAGE}email.html HTTP/1.1")
    assert status == 200 and body == b""
    assert served.raw(f"POST {PAGE}email.html HTTP/1.1")[0] == 501


def test_the_email_is_the_bytes_build_writes_and_nothing_is_recorded(served: Served):
    html = served.get(PAGE + "email.html")[2]
    text = served.get(PAGE + "email.txt")[2]
    assert issues_recorded(served.config_path) == []
    assert not (served.root / "outbox" / "daily").exists()
    result = CliRunner().invoke(app, ["--config", str(served.config_path), "build", "--date", DAY, "--no-sync"])
    assert result.exit_code == 0, result.output
    written = served.root / "outbox" / "daily" / DAY
    assert (written / "index.html").read_bytes() == html
    assert (written / "message.txt").read_bytes() == text
    assert len(issues_recorded(served.config_path)) == 1


def test_a_recorded_issue_keeps_its_articles_as_build_does(served: Served):
    result = CliRunner().invoke(app, ["--config", str(served.config_path), "build", "--date", DAY])
    assert result.exit_code == 0, result.output
    since = served.version()
    write_markdown(served.root / "articles", "three.md", "Late Headline")
    served.wait_for_change(since)
    html = served.get(PAGE + "email.html")[2]
    assert b"Late Headline" not in html
    assert html == (served.root / "outbox" / "daily" / DAY / "index.html").read_bytes()
    assert json.loads(served.get(PAGE + "info.json")[2])["recorded"] is True
    # A date without a recorded issue is a fresh selection, and stays unrecorded.
    assert b"Late Headline" not in served.get("/daily/2024-10-12/email.html")[2]
    assert [i.key for i in issues_recorded(served.config_path)] == [DAY]


def test_the_email_route_carries_no_script_but_the_page_does(served: Served):
    html = served.get(PAGE + "email.html")[2]
    assert b"<script" not in html.lower() and b"__version" not in html
    page = served.get(PAGE)[2]
    assert b"<script" in page and b"__version" in page


@pytest.mark.parametrize("target", [
    "/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E/etc/passwd", "/daily/2024-10-11/../../../etc/passwd",
    "/daily/2024-10-11/%2e%2e/%2e%2e/newsletter.toml", "//etc/passwd", "/etc/passwd", "/newsletter.toml",
    "/articles/one.md", "/daily/2024-10-11/email.html%00", "http://127.0.0.1/etc/passwd", "/./",
    "/daily/2024-10-11/..%2f..%2fnewsletter.toml",
])
def test_paths_outside_the_routes_are_404(served: Served, target: str):
    status, body = served.raw(f"GET {target} HTTP/1.1")
    assert status == 404
    assert b"root:" not in body and b"[newsletter]" not in body and b"First Headline" not in body


def test_a_foreign_host_header_is_refused(served: Served):
    assert served.raw("GET / HTTP/1.1", host="attacker.example")[0] == 403
    assert served.raw("GET / HTTP/1.1", host=f"localhost:{served.port}")[0] == 200


def test_binds_loopback_by_default(tmp_path: Path):
    server = make_server(sample_project(tmp_path / "p"), port=0)
    try:
        assert server.server_address[0] == "127.0.0.1" and server.loopback
    finally:
        server.close()


def test_headers_and_size_info(tmp_path: Path):
    running = Served(sample_project(tmp_path / "p", 'unsubscribe_url = "https://example.org/u?t={token}"\n'))
    try:
        info = json.loads(running.get(PAGE + "info.json")[2])
        html = running.get(PAGE + "email.html")[2]
    finally:
        running.stop()
    headers = dict(info["headers"])
    assert headers["From"] == "Editors <editors@example.org>"
    assert headers["List-Unsubscribe"] == "<https://example.org/u?t=>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Id"].endswith("<daily.example.org>")
    assert info["html_bytes"] == len(html) and info["clip_bytes"] == 102 * 1024
    assert info["preheader"] and not any(kind == "warn" for kind, _ in info["notes"])


def test_topic_variants_of_active_subscribers(served: Served):
    config = load_config(served.config_path)
    add_subscriber(config, "ira@example.org", name=None, digests=[], topics=["Iran"])
    add_subscriber(config, "iris@example.org", name=None, digests=[], topics=["iran"])
    add_subscriber(config, "all@example.org", name=None, digests=[], topics=[])
    add_subscriber(config, "chess@example.org", name=None, digests=[], topics=["Chess"])
    info = json.loads(served.get(PAGE + "info.json")[2])
    variants = {v["key"]: (v["subscribers"], v["items"]) for v in info["variants"]}
    assert variants == {"": (1, 2), "iran": (2, 1), "chess": (1, 0)}
    only_iran = served.get(PAGE + "email.html?variant=iran")[2]
    assert b"First Headline" in only_iran and b"Second Headline" not in only_iran
    everyone = served.get(PAGE + "email.html")[2]
    assert b"First Headline" in everyone and b"Second Headline" in everyone
    assert b"Second Headline" not in served.get(PAGE + "email.txt?variant=iran")[2]
    assert served.get(PAGE + "email.html?variant=russia")[0] == 404
    assert issues_recorded(served.config_path) == []


def test_saving_an_article_rerenders(served: Served):
    assert b"First Headline" in served.get(PAGE + "email.html")[2]
    since = served.version()
    write_markdown(served.root / "articles", "one.md", "Rewritten Headline", topics=("Iran",))
    served.wait_for_change(since)
    html = served.get(PAGE + "email.html")[2]
    assert b"Rewritten Headline" in html and b"First Headline" not in html


def test_saving_the_draft_file_rerenders_in_its_order_with_its_intro(served: Served):
    def titles() -> list[str]:
        return json.loads(served.get(PAGE + "info.json")[2])["titles"]

    def soon(check) -> None:
        """Wait (5 s at most) until the preview shows what `check` looks for: saves are seen by polling."""
        deadline = time.monotonic() + 5
        while not check():
            assert time.monotonic() < deadline, "the preview did not show the saved draft within 5 s"
            time.sleep(0.02)

    result = CliRunner().invoke(app, ["--config", str(served.config_path), "draft", "--date", DAY])
    assert result.exit_code == 0, result.output
    draft = served.root / "drafts" / "daily" / f"{DAY}.md"
    soon(lambda: any("are the editor's, from" in text for _, text in
                     json.loads(served.get(PAGE + "info.json")[2])["notes"]))
    assert titles() == ["First Headline", "Second Headline"]
    lines = draft.read_text().split("\n")
    first, second = (i for i, line in enumerate(lines) if line.startswith("- "))
    lines[first], lines[second] = lines[second], lines[first]
    since = served.version()
    draft.write_text("\n".join(lines).replace("<!-- articles", "A word from the desk.\n\n<!-- articles"))
    served.wait_for_change(since)  # the page in the browser reloads itself on this
    soon(lambda: titles() == ["Second Headline", "First Headline"])
    assert b"A word from the desk." in served.get(PAGE + "email.html")[2]
    assert issues_recorded(served.config_path) == []  # the preview still records nothing


def test_a_broken_template_shows_its_error_until_fixed(tmp_path: Path):
    root = tmp_path / "p"
    theme = root / "theme"
    theme.mkdir(parents=True)
    running = Served(sample_project(root, 'templates = "theme"\n'))
    try:
        assert running.get(PAGE + "email.html")[0] == 200
        since = running.version()
        (theme / "item.html.j2").write_text("<tr><td>{% if item.title %}{{ item.title }}</td></tr>\n")
        since = running.wait_for_change(since)
        status, _, body = running.get(PAGE + "email.html")
        assert status == 500 and b"theme/item.html.j2:1" in body and b"endif" in body
        assert b"<script" not in body.lower()
        status, _, body = running.get(PAGE + "info.json")
        assert status == 500 and "item.html.j2:1" in json.loads(body)["error"]
        assert running.get(PAGE + "email.txt")[0] == 500
        (theme / "item.html.j2").write_text('<tr><td class="item">THEMED {{ item.title }}</td></tr>\n')
        running.wait_for_change(since)
        status, _, body = running.get(PAGE + "email.html")
        assert status == 200 and b"THEMED First Headline" in body
    finally:
        running.stop()


def test_a_broken_config_shows_its_error_until_fixed(served: Served):
    good = served.config_path.read_text()
    since = served.version()
    served.config_path.write_text(good.replace("[digests.daily]", "[digests.daily]\nwindoww = \"1d\""))
    since = served.wait_for_change(since)
    status, _, body = served.get(PAGE + "email.html")
    assert status == 500 and b"newsletter.toml" in body and b"windoww" in body
    status, _, body = served.get("/")
    assert status == 500 and b"windoww" in body
    assert served.get(PAGE)[0] == 200  # the page stays up, so it can show the fix
    served.config_path.write_text(good)
    served.wait_for_change(since)
    assert served.get(PAGE + "email.html")[0] == 200
