"""The public archive: issues kept as sent to a real SMTP server's subscribers, their pages, feeds and static copy."""

from __future__ import annotations

import email
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import date, datetime, timezone
from email import policy
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import feedparser
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from newsletter import pipeline
from newsletter.cli import app
from newsletter.compose import TOKEN_MARK
from newsletter.config import load_config
from newsletter.errors import ArchiveNotFound
from newsletter.model import ArchivedIssue
from newsletter.pipeline import open_store

from tests.conftest import REPO, write_markdown

runner = CliRunner()
PUBLIC = "https://news.example.org"
NOW = datetime(2024, 10, 11, 7, 0, tzinfo=timezone.utc)


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def project(tmp_path: Path, server, public_url: str | None = PUBLIC) -> Path:
    """The sample project (articles on 2024-10-11) sending to `server`, with public_url when given."""
    root = tmp_path / "digest"
    assert run("init", root).exit_code == 0
    write_markdown(root / "articles", "russia-only.md", "Moscow Watches", date="2024-10-11 06:15", topics=("Russia",))
    config = root / "newsletter.toml"
    text = config.read_text()
    if public_url:
        text = text.replace("[newsletter]\n", f'[newsletter]\npublic_url = "{public_url}"\n', 1)
    else:
        text = text.replace('# unsubscribe_url = "https://example.org/unsubscribe?token={token}"',
                            'unsubscribe_url = "https://example.org/unsubscribe?token={token}"')
    options = {"host": server.host, "port": server.port, "security": "none", "timeout": 10, "retries": 2}
    text += "\n[smtp]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())
    config.write_text(text)
    return config


def add(config: Path, address: str, *extra: str) -> None:
    result = run("--config", config, "subscribers", "add", address, *extra)
    assert result.exit_code == 0, result.output


def send(config: Path, day: str) -> None:
    result = run("--config", config, "send", "--subscribers", "--yes", "--date", day)
    assert result.exit_code == 0, result.output


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def personal_strings(messages) -> set[str]:
    """Every address, name and token in the delivered messages (tokens from their unsubscribe links)."""
    found = set()
    for received in messages:
        message = parse(received.data)
        found.update(received.rcpt_tos)
        found.update(a.addr_spec for a in message["To"].addresses)
        found.update(a.display_name for a in message["To"].addresses if a.display_name)
        for link in re.findall(r"<([^>]+)>", message["List-Unsubscribe"]):
            found.add(link.rsplit("/", 1)[-1].split("token=")[-1])
    assert all(len(s) >= 8 for s in found), found
    return found


def test_archive_page_holds_no_reader_address_or_token(tmp_path: Path, smtp_server):
    config_path = project(tmp_path, smtp_server)
    add(config_path, "ada@example.org", "--name", "Ada Lovelace")
    add(config_path, "bob@example.org", "--topic", "Russia")
    send(config_path, "2024-10-11")
    assert len(smtp_server.messages) == 2
    personal = personal_strings(smtp_server.messages)
    assert {"ada@example.org", "bob@example.org", "Ada Lovelace"} <= personal and len(personal) == 5
    config = load_config(config_path)

    page = pipeline.archive_issue_html(config, "daily", "2024-10-11")
    index, digest_page = pipeline.archive_index_html(config), pipeline.archive_digest_html(config, "daily")
    feed = pipeline.archive_feed_xml(config, "daily")
    with open_store(config) as store:
        stored = store.archive.get("daily", "2024-10-11")
    for text in (page, stored.text, stored.subject, stored.preheader, index, digest_page, feed):
        leaked = [s for s in personal if s.lower() in text.lower()]
        assert not leaked, leaked
        assert TOKEN_MARK not in text
    # The whole issue (Ada's copy; Bob got only Russia), as a reader with no token sees it.
    assert "Moscow Watches" in page and "Iran Gives in to Spy Mania" in page and page == stored.html
    assert "Unsubscribe" not in page and "View in browser" not in page
    assert "/unsubscribe/" not in stored.text and "View in browser" not in stored.text
    for html in (page, index, digest_page):  # served later under a CSP that allows no script
        assert not re.search(r"<script|\son\w+\s*=|javascript:", html, re.I)


def sent_parts(config: Path, server) -> tuple[str, str]:
    """The HTML and text parts of the issue of 2024-10-11 as a subscriber gets it."""
    add(config, "ada@example.org")
    send(config, "2024-10-11")
    message = parse(server.messages[0].data)
    return (message.get_body(("html",)).get_content(),
            message.get_body(("plain",)).get_content().replace("\r\n", "\n"))


def test_view_in_browser_link_with_public_url(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    html, text = sent_parts(config, smtp_server)
    link = f"{PUBLIC}/archive/daily/2024-10-11/"
    assert f'<a href="{link}"' in html and "View in browser</a>" in html
    assert f"View in browser: {link}\n" in text
    # The check stage stays clean for the default theme with the link.
    assert pipeline.check_issue(load_config(config), None, date(2024, 10, 11), now=NOW).report.findings == []


def test_no_view_in_browser_link_without_public_url(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server, public_url=None)
    html, text = sent_parts(config, smtp_server)
    assert "View in browser" not in html and "View in browser" not in text and "/archive/" not in html + text
    assert pipeline.check_issue(load_config(config), None, date(2024, 10, 11), now=NOW).report.findings == []


def test_issues_newest_first_one_feed_entry_each_and_no_duplicates(tmp_path: Path, smtp_server):
    config_path = project(tmp_path, smtp_server)
    articles = config_path.parent / "articles"
    write_markdown(articles, "ninth.md", "News of the Ninth & <Tenth>", date="2024-10-09 06:00")
    write_markdown(articles, "tenth.md", "News of the Tenth", date="2024-10-10 06:00")
    add(config_path, "ada@example.org")
    for day in ("2024-10-09", "2024-10-10", "2024-10-11"):  # each issue carries what is new since the last
        send(config_path, day)
    config = load_config(config_path)
    with open_store(config) as store:
        first = store.archive.get("daily", "2024-10-11")
        # An older issue archived last (sent late, by hand): listed by its date, not by when it went out.
        assert store.archive.keep(ArchivedIssue("daily", "2024-10-08", date(2024, 10, 8), "Late one",
                                                datetime.now(timezone.utc), "", "<p>late</p>", "late\n"))
    # A re-run, a send to a subscriber who joined since, and another worker: the copy stays as it was.
    send(config_path, "2024-10-11")
    add(config_path, "late@example.org")
    send(config_path, "2024-10-11")
    assert [m.rcpt_tos for m in smtp_server.messages[3:]] == [("late@example.org",)]
    with open_store(config) as store:
        assert not store.archive.keep(replace(first, html="changed", sent=datetime.now(timezone.utc)))
        assert store.archive.get("daily", "2024-10-11") == first
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM archived_issues")).scalar() == 4

    page = pipeline.archive_digest_html(config, "daily")
    hrefs = re.findall(r'<li><a href="([^"]+)"', page)
    days = ["2024-10-11", "2024-10-10", "2024-10-09", "2024-10-08"]
    assert hrefs == [f"{d}/" for d in days]
    with open_store(config) as store:  # a server's long-lived store gives the same pages
        assert pipeline.archive_digest_html(config, "daily", store=store) == page
        assert pipeline.archive_issue_html(config, "daily", "2024-10-11", store=store) == first.html
    parsed = feedparser.parse(pipeline.archive_feed_xml(config, "daily"))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert [e.link for e in parsed.entries] == [f"{PUBLIC}/archive/daily/{d}/" for d in days]
    assert [e.id for e in parsed.entries] == [e.link for e in parsed.entries]
    assert parsed.feed.id == f"{PUBLIC}/archive/daily/"
    assert any(link.rel == "self" and link.href == f"{PUBLIC}/archive/daily/feed.xml" for link in parsed.feed.links)
    assert all(e.updated_parsed and e.title for e in parsed.entries)
    assert "Ninth & <Tenth>" in parsed.entries[2].title  # escaped in the XML, read back whole
    index = pipeline.archive_index_html(config)
    assert 'href="daily/"' in index and "4 issues" in index


def test_two_workers_keep_one_copy(tmp_path: Path, smtp_server):
    config = load_config(project(tmp_path, smtp_server))
    entries = [ArchivedIssue("daily", "2024-10-11", date(2024, 10, 11), f"Worker {n}", NOW, "", f"<p>{n}</p>", f"{n}\n")
               for n in range(4)]
    stores = [open_store(config) for _ in entries]
    results: list[bool] = []
    barrier = threading.Barrier(len(entries))

    def keep(store, entry):
        barrier.wait(timeout=10)
        results.append(store.archive.keep(entry))

    threads = [threading.Thread(target=keep, args=pair) for pair in zip(stores, entries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for store in stores:
        store.close()
    assert sorted(results) == [False, False, False, True]
    with open_store(config) as store:
        kept = store.archive.get("daily", "2024-10-11")
    assert kept.html == f"<p>{kept.subject.split()[-1]}</p>"  # one worker's copy, whole


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def local_target(page: Path, out: Path, href: str) -> Path | None:
    """The file a relative link of a static page leads to (a folder: its index.html); None for other sites."""
    if urlsplit(href).scheme or href.startswith("//") or href.startswith("#"):
        return None
    base = "https://host.example/any/prefix/archive/"
    target = urljoin(base + page.relative_to(out).as_posix(), href)
    assert target.startswith(base), (page, href)  # stays inside the tree
    target = target[len(base):]
    path = out / unquote(target)
    return path / "index.html" if target.endswith("/") or target == "" else path


def test_static_archive_tree_and_links(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server, public_url=None)
    write_markdown(config.parent / "articles", "tenth.md", "News of the Tenth", date="2024-10-10 06:00")
    add(config, "ada@example.org")
    send(config, "2024-10-10")
    send(config, "2024-10-11")
    out = tmp_path / "site" / "archive"
    result = run("--config", config, "archive", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    expected = {"index.html", "daily/index.html", "daily/feed.xml", "daily/2024-10-10/index.html",
                "daily/2024-10-11/index.html"}
    assert {Path(p).relative_to(out).as_posix() for p in report["files"]} == expected and report["issues"] == 2
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == expected  # no temp files left
    for name in expected - {"daily/feed.xml"}:
        page = out / name
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for href in parser.links:
            target = local_target(page, out, href)
            assert target is None or target.is_file(), (name, href)
    index_links = Links()
    index_links.feed((out / "index.html").read_text())
    assert {"daily/", "daily/feed.xml"} <= set(index_links.links)
    # Without public_url: tag: ids, no rel=self, entry links relative to the feed's own URL.
    xml = (out / "daily" / "feed.xml").read_text()
    parsed = feedparser.parse(xml, response_headers={
        "content-location": "https://host.example/x/archive/daily/feed.xml", "content-type": "application/atom+xml"})
    assert parsed.bozo == 0 and len(parsed.entries) == 2
    assert parsed.feed.id == "tag:example.org,2024-10-10:archive/daily"
    assert [e.id for e in parsed.entries] == ["tag:example.org,2024-10-11:archive/daily/2024-10-11",
                                              "tag:example.org,2024-10-10:archive/daily/2024-10-10"]
    assert parsed.entries[0].link == "https://host.example/x/archive/daily/2024-10-11/"
    assert "rel=\"self\"" not in xml
    # Written again: every file replaced by a rename (a new inode), never rewritten in place under a reader.
    before = {name: (out / name).stat().st_ino for name in expected}
    with (out / "daily" / "index.html").open(encoding="utf-8") as reader:
        again = run("--config", config, "archive", "--out", out, "--digest", "daily")
        assert reader.read().rstrip().endswith("</html>")
    assert again.exit_code == 0 and "wrote 2 issues (5 files)" in again.stdout
    assert all((out / name).stat().st_ino != before[name] for name in expected)


def test_unknown_digest_or_issue_and_bad_out(tmp_path: Path, smtp_server):
    config_path = project(tmp_path, smtp_server)
    config = load_config(config_path)
    with pytest.raises(ArchiveNotFound, match="no digest named 'weekly'"):
        pipeline.archive_digest_html(config, "weekly")
    with pytest.raises(ArchiveNotFound, match="no digest named 'weekly'"):
        pipeline.archive_feed_xml(config, "weekly")
    with pytest.raises(ArchiveNotFound, match="no digest named '../etc'"):
        pipeline.archive_issue_html(config, "../etc", "passwd")
    with pytest.raises(ArchiveNotFound, match="no issue '2024-10-11' of 'daily' was sent"):
        pipeline.archive_issue_html(config, "daily", "2024-10-11")  # not sent yet
    assert "No issue of" in pipeline.archive_digest_html(config, "daily")  # a configured digest, nothing sent
    assert pipeline.archive_feed_xml(config, "daily").count("<entry>") == 0
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    for out, message, where in ((a_file, "is not a folder", a_file),
                                (a_file / "below", "cannot make the folder", a_file),
                                (dangling, "which does not exist", dangling)):
        result = run("--config", config_path, "archive", "--out", out)
        assert result.exit_code == 1 and message in result.stderr and str(where) in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert a_file.read_text() == "keep me"
    unknown = run("--config", config_path, "archive", "--out", tmp_path / "out", "--digest", "weekly")
    assert unknown.exit_code == 1 and "no digest named 'weekly'" in unknown.stderr


def test_issue_sent_before_the_archive_is_rendered_from_its_articles(tmp_path: Path, smtp_server):
    config_path = project(tmp_path, smtp_server)
    add(config_path, "ada@example.org", "--name", "Ada Lovelace")
    send(config_path, "2024-10-11")
    config = load_config(config_path)
    with open_store(config) as store, store.writer.begin() as conn:
        conn.execute(sa.text("DELETE FROM archived_issues"))  # as a database of the release before
    with open_store(config) as store:
        (entry,) = store.archive.issues("daily")
    assert not entry.stored and entry.subject.startswith("Editors' Picks")
    page = pipeline.archive_issue_html(config, "daily", "2024-10-11")
    assert "Moscow Watches" in page and "Unsubscribe" not in page
    assert not [s for s in personal_strings(smtp_server.messages) if s in page]
    assert feedparser.parse(pipeline.archive_feed_xml(config, "daily")).entries[0].link.endswith("/2024-10-11/")


def test_readers_never_see_half_a_file_while_writers_race_or_die(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    add(config, "ada@example.org")
    send(config, "2024-10-11")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "newsletter", "--config", str(config), "archive", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(3)]
    killed = writers[0]
    page = out / "daily" / "2024-10-11" / "index.html"
    reads, deadline = 0, time.monotonic() + 60
    while any(w.poll() is None for w in writers[1:]) and time.monotonic() < deadline:
        for path in (out / "index.html", out / "daily" / "index.html", page):
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            assert text.rstrip().endswith("</html>"), (path, len(text))
            reads += 1
        if page.exists() and killed.poll() is None:
            killed.send_signal(signal.SIGKILL)  # mid-run for the others, wherever it stands
    assert all(w.wait(timeout=60) == 0 for w in writers[1:]), [w.stderr.read() for w in writers]
    killed.wait(timeout=60)
    assert reads and page.read_text(encoding="utf-8").rstrip().endswith("</html>")
    feed = feedparser.parse((out / "daily" / "feed.xml").read_bytes(),
                            response_headers={"content-type": "application/atom+xml"})
    assert feed.bozo == 0 and len(feed.entries) == 1


def test_test_copies_dry_runs_and_builds_archive_nothing(tmp_path: Path, smtp_server):
    config_path = project(tmp_path, smtp_server)
    add(config_path, "ada@example.org")
    assert run("--config", config_path, "send", "--to", "me@example.org", "--date", "2024-10-11").exit_code == 0
    assert run("--config", config_path, "send", "--subscribers", "--dry-run", "--date", "2024-10-11").exit_code == 0
    assert run("--config", config_path, "build", "--date", "2024-10-11").exit_code == 0
    config = load_config(config_path)
    with open_store(config) as store:
        assert store.archive.issues() == []
    assert "No issue has been sent yet." in pipeline.archive_index_html(config)
    send(config_path, "2024-10-11")
    with open_store(config) as store:
        assert [(e.key, e.stored) for e in store.archive.issues()] == [("2024-10-11", True)]


def test_hostile_titles_keep_the_feed_well_formed_and_the_pages_inert(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    title = r'"</title><script>alert(1)</script> ]]> \u202eevil\u200f \u0000nul \u0007bell &amp; <b>x\ud800"'
    for path in (config.parent / "articles").iterdir():
        path.unlink()
    write_markdown(config.parent / "articles", "hostile.md", title, date="2024-10-11 06:00")
    add(config, "ada@example.org")
    send(config, "2024-10-11")
    loaded = load_config(config)
    xml = pipeline.archive_feed_xml(loaded, "daily")
    parsed = feedparser.parse(xml)
    assert parsed.bozo == 0, parsed.bozo_exception
    assert len(parsed.entries) == 1
    for page in (pipeline.archive_index_html(loaded), pipeline.archive_digest_html(loaded, "daily"),
                 pipeline.archive_issue_html(loaded, "daily", "2024-10-11")):
        assert "<script" not in page.lower() and "\x00" not in page
    out = tmp_path / "out"
    assert run("--config", config, "archive", "--out", out).exit_code == 0
    assert feedparser.parse((out / "daily" / "feed.xml").read_bytes()).bozo == 0
