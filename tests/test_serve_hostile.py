"""Hostile cases against a real `newsletter serve` (uvicorn on 127.0.0.1): one-click variants, sign-up abuse,
concurrent clicks, a locked database (SQLite and PostgreSQL), odd headers and paths, and odd config."""

from __future__ import annotations

import email
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import timedelta
from email import policy

import pytest
import sqlalchemy as sa

from newsletter.pipeline import open_store, sync
from newsletter.pipeline.send import secret_key
from newsletter.pipeline.subscribers import add_subscriber, list_subscribers, remove_subscriber, unsubscribe
from newsletter.tokens import make_token

from tests.conftest import REPO, config_from, write_config, write_markdown
from tests.smtpd import Recorder
from tests.test_serve import HOST, browser, make_project, status_of, token_of
from tests.webserver import Browser, raw_request, running


def queued_links(config) -> list[tuple[str, str]]:
    """(recipient, confirmation token) of each queued mail (claimed here, so none goes out)."""
    with open_store(config) as store:
        mails = store.web.claim_mail("test", 10, timedelta(minutes=5))
    return [(m.recipient, re.search(rb"/confirm/([A-Za-z0-9_=-]+)", m.data.replace(b"=\r\n", b""))[1].decode())
            for m in mails]


def test_one_click_variants_answer_200_and_leave_once(tmp_path):
    config = config_from(make_project(tmp_path))
    for n in range(6):
        add_subscriber(config, f"r{n}@example.org", name=None, digests=[], topics=[])
    with running(config, mail=False) as server:
        h, p = server.host, server.port
        bodies = [
            ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click&x=1"),
            ("application/x-www-form-urlencoded; charset=UTF-8", b"List-Unsubscribe=One-Click"),
            ("text/plain", b"List-Unsubscribe=One-Click"),
            (None, b"List-Unsubscribe=One-Click"),
            ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click\r\n"),
            ("Application/X-WWW-Form-Urlencoded", b"List-Unsubscribe=One-Click"),
        ]
        for n, (ctype, body) in enumerate(bodies):
            token = token_of(config, f"r{n}@example.org")
            headers = {"Host": HOST, "Content-Length": str(len(body))}
            if ctype:
                headers["Content-Type"] = ctype
            for _ in range(2):
                assert raw_request(h, p, "POST", f"/unsubscribe/{token}", headers, body) == (200, "Unsubscribed.\n"), \
                    (ctype, body)
            assert status_of(config, f"r{n}@example.org") == ("active", ()), (ctype, body)


def test_one_click_odd_requests_never_fail_nor_change_on_get_or_head(tmp_path):
    config = config_from(make_project(tmp_path))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    add_subscriber(config, "gone@example.org", name=None, digests=[], topics=[])
    token = token_of(config, "ada@example.org")
    gone = token_of(config, "gone@example.org")
    remove_subscriber(config, "gone@example.org")
    with open_store(config) as store:
        other_digest = make_token(secret_key(store), store.subscribers.get("ada@example.org").id, "weekly",
                                  store.subscribers.salt(store.subscribers.get("ada@example.org").id))
    one = {"Host": HOST, "Content-Type": "application/x-www-form-urlencoded"}
    with running(config, mail=False) as server:
        h, p = server.host, server.port
        for method in ("HEAD", "GET", "OPTIONS"):
            status, _ = raw_request(h, p, method, f"/unsubscribe/{token}", {"Host": HOST})
            assert status in (200, 405), (method, status)
        assert status_of(config, "ada@example.org") == ("active", ("daily",))
        for bad in ("0.daily.AAAAAAAAAAAAAAAAAAAAAA", "999999999999999999.daily.AAAAAAAAAAAAAAAAAAAAAA",
                    "2147483648.daily.AAAAAAAAAAAAAAAAAAAAAA",
                    "-1.daily.AAAAAAAAAAAAAAAAAAAAAA", "1.daily." + "A" * 5000, "%E2%80%AE1.daily.x", gone,
                    token.replace(".daily.", ".DAILY."), "1%2Edaily%2EAAAAAAAAAAAAAAAAAAAAAA", other_digest):
            body = b"List-Unsubscribe=One-Click"
            answer = raw_request(h, p, "POST", f"/unsubscribe/{bad}", {**one, "Content-Length": str(len(body))}, body)
            assert answer == (200, "Unsubscribed.\n"), bad
            for page in ("unsubscribe", "preferences"):
                if bad != other_digest:  # a genuine token of ours, for a digest Ada never had
                    assert raw_request(h, p, "GET", f"/{page}/{bad}", {"Host": HOST})[0] == 404, (page, bad)
        # An empty body is no one-click and no genuine form: refused, nothing changed, no error.
        assert raw_request(h, p, "POST", f"/unsubscribe/{token}", {**one, "Content-Length": "0"})[0] == 403
        # Percent-encoded, the path is the same token.
        encoded = token.replace(".", "%2E")
        body = b"List-Unsubscribe=One-Click"
        assert raw_request(h, p, "POST", f"/unsubscribe/{encoded}", {**one, "Content-Length": str(len(body))},
                           body) == (200, "Unsubscribed.\n")
    assert status_of(config, "ada@example.org") == ("active", ())


def test_signup_addresses_hostile_and_international(tmp_path, start_smtp):
    smtp_server = start_smtp(smtputf8=True)
    config = config_from(make_project(tmp_path, smtp_server, serve="client_limit = 100"))
    with running(config) as server:
        b = browser(server)
        csrf = b.csrf("/subscribe")
        for bad in ("victim@example.org\r\nBcc: many@example.org", "victim@example.org\nBcc: x@example.org",
                    "a@b", "x" * 400 + "@example.org", "a" * 300, "<script>@example.org", "\x00@example.org",
                    "ada@example.org, eve@example.org", '"Eve" <eve@example.org>'):
            answer = b.post("/subscribe", {"csrf": csrf, "email": bad})
            assert answer.status == 400, (bad, answer.status)
        with open_store(config) as store:
            assert store.web.mail_counts() == {}
        answer = b.post("/subscribe", {"csrf": csrf, "email": "José@Exämple.org"})
        assert answer.status == 200
        assert smtp_server.handler.wait_for(1)
    message = email.message_from_bytes(smtp_server.messages[0].data, policy=policy.default)
    assert [k for k in message.keys() if k.lower() == "bcc"] == []
    assert smtp_server.messages[0].rcpt_tos == ("josé@xn--exmple-cua.org",)
    assert str(message["To"]) == "josé@xn--exmple-cua.org"


@pytest.mark.sqlite_only
def test_a_locked_database_answers_503_not_a_traceback(tmp_path):
    config = config_from(make_project(tmp_path))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    token = token_of(config, "ada@example.org")
    with running(config, mail=False) as server:
        b = browser(server)
        csrf = b.csrf("/subscribe")
        prefs = f"/preferences/{token}"
        prefs_csrf = b.csrf(prefs)
        # What a long `subscribers import` holds.
        lock = sqlite3.connect(config.database.removeprefix("sqlite:///"), timeout=0)
        lock.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            answers = [b.post("/subscribe", {"csrf": csrf, "email": "bob@example.org"}),
                       b.post(prefs, {"csrf": prefs_csrf, "digest": "daily"}),
                       b.post(f"/unsubscribe/{token}", {"csrf": prefs_csrf, "scope": "everything"}),
                       b.post(f"/confirm/{'x' * 32}", {"csrf": csrf})]
            elapsed = time.monotonic() - started
        finally:
            lock.rollback()
            lock.close()
        for answer in answers:
            assert answer.status in (503, 404), (answer.status, answer.text[:300])
            assert "Traceback" not in answer.text and "Internal Server Error" not in answer.text
        assert [a.status for a in answers][:3] == [503, 503, 503]
        assert answers[0].headers.get("retry-after")
    assert status_of(config, "ada@example.org") == ("active", ("daily",))
    print(f"four requests against a locked database took {elapsed:.1f} s")


def test_signup_answers_the_same_bytes_whatever_the_address(tmp_path):
    config = config_from(make_project(tmp_path, serve="client_limit = 100"))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    add_subscriber(config, "gone@example.org", name=None, digests=[], topics=[])
    unsubscribe(config, email="gone@example.org")
    with running(config, mail=False) as server:
        b = browser(server)
        csrf = b.csrf("/subscribe")
        answers = set()
        for address in ("new@example.org", "ada@example.org", "ADA@Example.org", "gone@example.org",
                        "new@example.org", "new@example.org", "New@example.org"):  # the last two over the cap
            answer = b.post("/subscribe", {"csrf": csrf, "email": address, "digest": "nope", "topic": "forged"})
            answers.add((answer.status, answer.text, answer.headers.get("set-cookie")))
        assert len(answers) == 1, answers
        b.post("/subscribe", {"csrf": csrf, "email": "x@example.org", "website": "bot"})
    with open_store(config) as store:
        assert store.web.mail_counts() == {"queued": 6}  # new@ 3 times (its cap), ada@ twice, gone@ once


def test_the_address_cap_holds_under_concurrent_signups(tmp_path):
    config = config_from(make_project(tmp_path, serve="client_limit = 1000"))
    with running(config, mail=False) as server:
        sessions = [browser(server) for _ in range(10)]
        fields = [{"csrf": s.csrf("/subscribe"), "email": "Victim@Example.org" if n % 2 else "victim@example.org"}
                  for n, s in enumerate(sessions)]
        start = threading.Barrier(10)
        statuses = []

        def post(n):
            start.wait()
            statuses.append(sessions[n].post("/subscribe", fields[n]).status)

        threads = [threading.Thread(target=post, args=(n,)) for n in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(statuses) == [200] * 10
    with open_store(config) as store:
        assert store.web.mail_counts() == {"queued": 3}


def test_forwarded_for_over_several_header_lines_is_read_whole(tmp_path):
    """A proxy that adds a header line of its own (HAProxy's forwardfor) leaves the client's line first."""
    config = config_from(make_project(tmp_path, serve='client_limit = 1\ntrusted_proxies = ["127.0.0.1/32"]'))
    with running(config, mail=False) as server:
        b = browser(server)
        csrf = b.csrf("/subscribe")
        cookie = "; ".join(f"{k}={v}" for k, v in b.cookies.items())
        for n in range(3):
            body = urllib.parse.urlencode({"csrf": csrf, "email": f"r{n}@example.org"}).encode()
            with socket.create_connection((server.host, server.port), timeout=20) as s:
                s.sendall(b"POST /subscribe HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nCookie: " + cookie.encode()
                          + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n"
                          + f"X-Forwarded-For: 203.0.113.{n}\r\nX-Forwarded-For: 198.51.100.7\r\n".encode()
                          + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                assert s.recv(12) == b"HTTP/1.1 200"
        with open_store(config) as store:
            assert store.web.mail_counts() == {"queued": 1}


def test_head_is_a_get_that_changes_nothing(tmp_path):
    """Link scanners and proxies send HEAD: it answers as GET does, never as a (forged) form."""
    config = config_from(make_project(tmp_path))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    token = token_of(config, "ada@example.org")
    with running(config, mail=False) as server:
        h, p = server.host, server.port
        for path in ("/subscribe", f"/unsubscribe/{token}", f"/preferences/{token}", "/archive/", "/healthz"):
            assert raw_request(h, p, "HEAD", path, {"Host": HOST})[0] == 200, path
        assert raw_request(h, p, "HEAD", "/confirm/" + "x" * 32, {"Host": HOST})[0] == 404
    assert status_of(config, "ada@example.org") == ("active", ("daily",))


def test_a_confirmation_link_used_at_once_twice_makes_one_subscriber(tmp_path):
    config = config_from(make_project(tmp_path))
    with running(config, mail=False) as server:
        b = browser(server)
        b.post("/subscribe", {"csrf": b.csrf("/subscribe"), "email": "bob@example.org"})
        b.post("/subscribe", {"csrf": b.csrf("/subscribe"), "email": "bob@example.org"})
        links = [token for _, token in queued_links(config)]
        assert len(links) == 2
        sessions = [browser(server) for _ in range(8)]
        fields = [{"csrf": s.csrf(f"/confirm/{links[n % 2]}")} for n, s in enumerate(sessions)]
        start = threading.Barrier(len(sessions))
        statuses = []

        def post(n):
            start.wait()
            statuses.append(sessions[n].post(f"/confirm/{links[n % 2]}", fields[n]).status)

        threads = [threading.Thread(target=post, args=(n,)) for n in range(len(sessions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(statuses) == [200] + [404] * (len(sessions) - 1), statuses
    assert [s.email for s in list_subscribers(config)] == ["bob@example.org"]


def test_preferences_saved_twice_at_once(tmp_path):
    """A double click on Save: two POSTs at once, both joining a digest the reader never had."""
    digests = ('\n[digests.daily]\ntitle = "Daily"\nwindow = "1d"\n'
               '\n[digests.weekly]\ntitle = "Weekly"\nwindow = "7d"\n')
    path = write_config(tmp_path / "project", f'public_url = "https://{HOST}"\n', digests=digests)
    write_markdown(path.parent / "articles", "iran.md", "Tehran Decides", topics=("Iran",))
    config = config_from(path)
    with open_store(config) as store:
        sync(config, store)
    add_subscriber(config, "ada@example.org", name=None, digests=["daily"], topics=[])
    token = token_of(config, "ada@example.org")
    prefs = f"/preferences/{token}"
    with running(config, mail=False) as server:
        sessions = [browser(server) for _ in range(6)]
        fields = [{"csrf": s.csrf(prefs), "digest": ["daily", "weekly"]} for s in sessions]
        start = threading.Barrier(len(sessions))
        statuses = []

        def post(n):
            start.wait()
            statuses.append(sessions[n].post(prefs, fields[n]).status)

        threads = [threading.Thread(target=post, args=(n,)) for n in range(len(sessions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert statuses == [200] * len(sessions)
    assert status_of(config, "ada@example.org") == ("active", ("daily", "weekly"))


def test_serve_on_ipv6_says_a_url_with_brackets(tmp_path):

    path = make_project(tmp_path, public_url=None)
    proc = subprocess.Popen([sys.executable, "-m", "newsletter", "--config", str(path), "serve", "--host", "::1",
                             "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(30)
    assert line.startswith("serving Editors' Picks on http://[::1]:"), (line, proc.stderr.read())


def test_two_host_headers_are_refused(tmp_path):
    config = config_from(make_project(tmp_path))
    with running(config, mail=False) as server:
        for hosts in ((HOST, "evil.example"), ("evil.example", HOST), (HOST, HOST)):
            with socket.create_connection((server.host, server.port), timeout=20) as s:
                s.sendall(b"GET /subscribe HTTP/1.1\r\n" + b"".join(f"Host: {h}\r\n".encode() for h in hosts)
                          + b"Connection: close\r\n\r\n")
                assert s.recv(12) == b"HTTP/1.1 400", hosts


def test_archive_paths_with_odd_bytes_are_404(tmp_path):
    config = config_from(make_project(tmp_path))
    with running(config, mail=False) as server:
        b = Browser(server.url, host=HOST)
        for path in ("/archive/%00/", "/archive/daily/%00/", "/archive/%00/feed.xml", "/archive/" + "d" * 5000 + "/",
                     "/archive/daily/" + "k" * 5000 + "/", "/archive/%C0%AE%C0%AE/", "/archive/%ff/",
                     "/archive/daily/..%2f..%2fnewsletter.db/", "/archive/%2e%2e/feed.xml"):
            assert b.get(path).status == 404, path


def test_pages_answer_while_the_mail_server_holds_a_confirmation(tmp_path, start_smtp):
    handler = Recorder(reply_delay=60)  # keeps the first mail and holds its reply: the mailer is mid-send
    smtp = start_smtp(handler)
    config = config_from(make_project(tmp_path, smtp, serve="client_limit = 100"))
    with running(config) as server:
        b = browser(server)
        csrf = b.csrf("/subscribe")
        assert b.post("/subscribe", {"csrf": csrf, "email": "first@example.org"}).status == 200
        assert handler.wait_for(1, timeout=30)
        # The client's timeout (20 s) is shorter than the held reply: these would fail if they waited for it.
        for n in range(3):
            assert b.post("/subscribe", {"csrf": csrf, "email": f"r{n}@example.org"}).status == 200
        assert b.get("/healthz").status == 200
        handler.reply_delay = 0


def test_served_under_a_path_the_pages_link_under_it(tmp_path):
    """public_url = https://host/news: the proxy strips /news; every link of the pages keeps it."""
    config = config_from(make_project(tmp_path, public_url=f"https://{HOST}/news"))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    token = token_of(config, "ada@example.org")
    with running(config, mail=False) as server:
        b = browser(server)
        for path in ("/subscribe", f"/unsubscribe/{token}", f"/preferences/{token}", "/confirm/" + "x" * 32):
            page = b.get(path)
            links = re.findall(r'(?:href|action)="([^"]+)"', page.text)
            assert links and all(link.startswith("/news/") for link in links), (path, links)


def test_an_empty_session_cookie_is_replaced_not_kept(tmp_path):
    """A browser holding `nl_session=` (emptied by hand, or by another app on the host) was refused every form."""
    config = config_from(make_project(tmp_path))
    with running(config, mail=False) as server:
        b = browser(server)
        b.cookies["nl_session"] = ""
        csrf = b.csrf("/subscribe")
        assert b.cookies["nl_session"]
        assert b.post("/subscribe", {"csrf": csrf, "email": "bob@example.org"}).status == 200


def test_a_digest_listed_twice_is_offered_once(tmp_path):
    config = config_from(make_project(tmp_path, serve='digests = ["daily", "daily"]'))
    with running(config, mail=False) as server:
        assert browser(server).get("/subscribe").text.count('value="daily"') == 1


def test_rows_locked_on_postgresql_answer_503_not_a_hang(tmp_path, monkeypatch, pg_url):
    """A long `subscribers import` holds its rows until it commits: the app must not wait it out."""
    monkeypatch.setenv("NEWSLETTER_DATABASE", pg_url)
    config = config_from(make_project(tmp_path))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    token = token_of(config, "ada@example.org")
    engine = sa.create_engine(pg_url)
    try:
        with running(config, mail=False) as server:
            b = browser(server)
            prefs = f"/preferences/{token}"
            csrf = b.csrf(prefs)
            with engine.connect() as importer:
                importer.execute(sa.text("UPDATE subscribers SET updated = updated"))
                importer.execute(sa.text("UPDATE subscriber_digests SET status = status"))
                answers = [b.post(prefs, {"csrf": csrf, "digest": "daily"}),
                           b.post(f"/unsubscribe/{token}", {"List-Unsubscribe": "One-Click"})]
                importer.rollback()
        assert [a.status for a in answers] == [503, 503], [(a.status, a.text[:200]) for a in answers]
    finally:
        engine.dispose()
    assert status_of(config, "ada@example.org") == ("active", ("daily",))


def test_removing_an_address_forgets_its_pending_signups_and_mails(tmp_path):
    """`subscribers remove` forgets an address: also a pending link (which would add it again) and the queue's rows."""
    config = config_from(make_project(tmp_path))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    with running(config, mail=False) as server:
        b = browser(server)
        b.post("/subscribe", {"csrf": b.csrf("/subscribe"), "email": "ada@example.org"})
        b.post("/subscribe", {"csrf": b.csrf("/subscribe"), "email": "bob@example.org"})
        links = dict(queued_links(config))
        remove_subscriber(config, "ada@example.org")
        path = f"/confirm/{links['ada@example.org']}"
        assert b.get(path).status == 404
    assert [s.email for s in list_subscribers(config)] == []
    with open_store(config) as store:
        assert store.web.mail_counts() == {"claimed": 1}  # Bob's; Ada's row, which names her, is gone
