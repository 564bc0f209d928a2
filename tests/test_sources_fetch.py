"""Feeds fetched as feed readers do, against a real HTTP server on 127.0.0.1 (tests/httpd.py).

Conditional GET, gzip (and a gzip bomb), the Content-Type handed to feedparser, permanent
redirects, 410 Gone, a server that does not answer, `every`, and fetches that overlap.
"""

from __future__ import annotations

import gzip
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

from newsletter import sources
from newsletter.pipeline import open_store, sync

from tests.conftest import config_from, write_config

NOW = datetime(2024, 10, 11, 7, 0, tzinfo=timezone.utc)


def feed(title: str = "Desk", items: int = 2, bad: bool = False) -> bytes:
    """An RSS feed of `items` dated entries (and one with an unreadable link when `bad`)."""
    entries = "".join(f"<item><title>{title} item {n}</title><link>https://desk.example.org/{title}/{n}</link>"
                      f"<pubDate>Fri, 11 Oct 2024 0{n % 10}:00:00 GMT</pubDate></item>" for n in range(1, items + 1))
    if bad:
        entries += "<item><title>Bad link</title><link>javascript:alert(1)</link></item>"
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"{entries}</channel></rss>").encode()


def project_with(tmp_path: Path, *urls: str, extra: str = "", newsletter: str = "") -> Path:
    tables = "".join(f'\n[[sources]]\nurl = "{url}"\n{extra}\n' for url in urls)
    return write_config(tmp_path / "project", newsletter + tables)


def run_sync(path: Path, now: datetime = NOW):
    config = config_from(path)
    with open_store(config) as store:
        report = sync(config, store, now=now)
        return report, store.find_articles(), store.sync_state.sources()


def test_a_conditional_get_answered_304_reads_nothing_again(tmp_path, feed_server):
    url = feed_server.route("/feed.xml", body=feed(), etag='"v1"', last_modified="Fri, 11 Oct 2024 07:00:00 GMT",
                            headers={"Content-Type": "application/rss+xml; charset=utf-8"})
    path = project_with(tmp_path, url)
    first, stored, _ = run_sync(path)
    assert (first.new, first.rejected, first.notes) == (2, [], [])
    second, stored_again, states = run_sync(path, NOW + timedelta(minutes=5))
    sent = feed_server.hits("/feed.xml")[1]
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == "Fri, 11 Oct 2024 07:00:00 GMT"
    assert (second.new, second.updated, second.inputs_unchanged) == (0, 0, 1)
    assert states[url].status == 304 and states[url].etag == '"v1"' and states[url].articles == 2
    assert states[url].last_read == NOW + timedelta(minutes=5)
    assert stored_again == stored


def test_a_body_seen_before_is_not_parsed_or_reported_again(tmp_path, feed_server):
    # No validators: the server sends the whole feed each time, with a rejected item in it.
    url = feed_server.route("/plain.xml", body=feed(bad=True))
    path = project_with(tmp_path, url)
    first, _, _ = run_sync(path)
    assert [r.item for r in first.rejected] == ["item 3 'Bad link'"]
    second, _, states = run_sync(path)
    assert second.rejected == [] and second.inputs_unchanged == 1 and second.known_problems == 1
    assert states[url].error == "item 3 'Bad link': link 'javascript:alert(1)' is not an absolute http(s) URL"


def test_gzip_is_asked_for_and_decompressed(tmp_path, feed_server):
    url = feed_server.route("/gz.xml", body=feed("Zipped"), gzip=True)
    report, stored, _ = run_sync(project_with(tmp_path, url))
    assert feed_server.hits("/gz.xml")[0]["accept-encoding"] == "gzip"
    assert report.new == 2 and {a.source for a in stored} == {"Zipped"}


def test_a_gzip_bomb_is_refused_without_holding_it_in_memory(feed_server):
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), 9)  # 64 MB of zeros in about 64 KB
    url = feed_server.route("/bomb.xml", body=bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        got = sources.fetch(url, max_bytes=1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.data is None and got.error == "is larger than max_file_size (1 MB) when decompressed"
    assert peak < 8 * 1024 * 1024


def test_a_feed_over_the_size_cap_is_rejected_by_its_length(tmp_path, feed_server):
    url = feed_server.route("/big.xml", body=b"<rss>" + b" " * (2 * 1024 * 1024) + b"</rss>")
    report, _, _ = run_sync(project_with(tmp_path, url, newsletter='max_file_size = "1MB"\n'))
    (rejection,) = report.rejected
    assert rejection.reason == "is 2 MB, over max_file_size (1 MB) (raise max_file_size in [newsletter] to read it)"


def test_the_servers_content_type_reaches_feedparser(tmp_path, feed_server):
    # Without it every fetched feed had the note "no Content-type specified"; text/xml without a
    # charset (us-ascii by RFC 3023, which no server means) must not bring a note either.
    typed = feed_server.route("/typed.xml", body=feed("Typed"), headers={"Content-Type": "application/rss+xml"})
    plain = feed_server.route("/textxml.xml", body=feed("Text").replace(b"item 1", "Café".encode()),
                              headers={"Content-Type": "text/xml"})
    report, stored, _ = run_sync(project_with(tmp_path, typed, plain))
    assert report.notes == [] and report.new == 4
    assert "Text Café" in {a.title for a in stored}


def test_a_permanent_redirect_is_followed_and_reported_once_with_the_new_url(tmp_path, feed_server):
    new = feed_server.route("/new.xml", body=feed("Moved"))
    old = feed_server.route("/old.xml", status=301, location=new)
    temporary = feed_server.route("/tmp.xml", status=302, location=feed_server.route("/other.xml", body=feed("Other")))
    path = project_with(tmp_path, old, temporary)
    first, stored, states = run_sync(path)
    assert first.notes == [f'{old}: moved permanently to {new}; put url = "{new}" in its [[sources]] table']
    assert first.new == 4 and states[old].moved_to == new and states[temporary].moved_to is None
    second, _, _ = run_sync(path)
    assert second.notes == []


def test_410_gone_is_reported_once_and_not_fetched_until_the_config_changes(tmp_path, feed_server):
    gone = feed_server.route("/gone.xml", status=410)
    path = project_with(tmp_path, gone)
    first, _, states = run_sync(path)
    (rejection,) = first.rejected
    assert rejection.reason == ("answered 410 Gone: the feed was removed for good (remove it from newsletter.toml; "
                                "it is not fetched again while it is there)")
    assert states[gone].gone
    second, _, _ = run_sync(path)
    assert second.rejected == [] and second.known_problems == 1 and len(feed_server.hits("/gone.xml")) == 1
    # Taken out of the config, it is forgotten; put back, it is fetched again.
    run_sync(write_config(tmp_path / "project"))
    run_sync(project_with(tmp_path, gone))
    assert len(feed_server.hits("/gone.xml")) == 2


def test_a_server_that_does_not_answer_times_out_and_the_articles_stay(tmp_path, feed_server):
    url = feed_server.route("/slow.xml", body=feed("Slow"))
    path = project_with(tmp_path, url, extra="timeout = 0.3")
    first, stored, _ = run_sync(path)
    assert first.new == 2
    feed_server.route("/slow.xml", body=feed("Slow"), hold=True)
    second, still, states = run_sync(path)
    (rejection,) = second.rejected
    assert rejection.reason == ("timed out after 0.3 s; the 2 articles read from it before are kept "
                                "(check the URL in [[sources]] and the network)")
    assert still == stored and states[url].last_read == NOW
    third, _, _ = run_sync(path)  # the same failure is not said again
    assert third.rejected == [] and third.known_problems == 1


def test_feeds_are_fetched_side_by_side(tmp_path, feed_server):
    # Each request waits until all five are in flight; fetched one after another they never would be.
    urls = [feed_server.route(f"/f{n}.xml", body=feed(f"F{n}")) for n in range(5)]
    feed_server.together(5)
    report, stored, _ = run_sync(project_with(tmp_path, *urls))
    assert feed_server.max_in_flight == 5
    assert report.new == 10 and report.rejected == []


def test_every_keeps_a_feed_from_being_fetched_more_often(tmp_path, feed_server):
    url = feed_server.route("/hourly.xml", body=feed("Hourly"))
    path = project_with(tmp_path, url, extra='every = "1h"')
    run_sync(path, NOW)
    soon, _, states = run_sync(path, NOW + timedelta(minutes=59))
    assert len(feed_server.hits("/hourly.xml")) == 1 and soon.not_due == 1
    assert sources.next_look(config_from(path).sources[0], states[url]) == NOW + timedelta(hours=1)
    run_sync(path, NOW + timedelta(hours=1))
    assert len(feed_server.hits("/hourly.xml")) == 2


def test_failures_that_are_not_http_answers(feed_server):
    assert sources.fetch(feed_server.url("/missing.xml")).error == "answered 404 Not Found"
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"
    assert sources.fetch(closed).error == "cannot be fetched: connection refused"
    to_file = feed_server.route("/to-file.xml", status=302, location="file:///etc/passwd")
    assert sources.fetch(to_file).error.endswith("Redirection to url 'file:///etc/passwd' is not allowed")


def test_import_fetches_urls_side_by_side(project, feed_server):
    from newsletter.pipeline import import_inputs

    urls = [feed_server.route(f"/i{n}.xml", body=feed(f"I{n}")) for n in range(3)]
    feed_server.together(3)
    config = config_from(project)
    with open_store(config) as store:
        report = import_inputs(config, store, urls)
    assert feed_server.max_in_flight == 3 and report.new == 6
