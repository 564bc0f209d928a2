"""`newsletter serve` against a real uvicorn on 127.0.0.1, real HTTP, a real SMTP server (aiosmtpd) and a
real database: one-click unsubscribe, double opt-in, preferences, and the guard (CSRF, Host, XFF, limits)."""

from __future__ import annotations

import email
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.pipeline import open_store, sync
from newsletter.pipeline.send import secret_key, send_to_subscribers
from newsletter.pipeline.subscribers import add_subscriber, list_subscribers
from newsletter.tokens import make_token

from tests.conftest import REPO, config_from, write_config, write_markdown
from tests.smtpd import Recorder
from tests.webserver import Browser, raw_request, running

HOST = "news.example.org"
DAY = date(2024, 10, 11)


def make_project(tmp_path: Path, smtp=None, serve: str = "", public_url: str | None = f"https://{HOST}",
                 smtp_extra: str = "") -> Path:
    body = f'public_url = "{public_url}"\n' if public_url else ""
    if smtp is not None:
        body += (f'\n[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\nsecurity = "none"\ntimeout = 10\n'
                 'retries = 0\ngive_up_after = 0\n' + smtp_extra)
    if serve:
        body += "\n[serve]\n" + serve + "\n"
    path = write_config(tmp_path / "project", body)
    articles = path.parent / "articles"
    write_markdown(articles, "iran.md", "Tehran Decides", date="2024-10-11 06:00", topics=("Iran",))
    write_markdown(articles, "russia.md", "Moscow Watches", date="2024-10-11 06:15", topics=("Russia",))
    config = config_from(path)
    with open_store(config) as store:  # the topics the forms offer are those the store knows
        sync(config, store)
    return path


def browser(server) -> Browser:
    return Browser(server.url, host=HOST)


def send(config, day=DAY):
    return send_to_subscribers(config, "daily", day, sync_first=True)


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def to(smtp, address: str) -> list:
    return [parse(m.data) for m in smtp.messages if address in m.rcpt_tos]


def status_of(config, address: str) -> tuple[str, tuple[str, ...]]:
    found = {s.email: s for s in list_subscribers(config)}[address]
    return found.status, found.digests


def token_of(config, address: str, digest: str = "daily") -> str:
    """The token the emails to `address` carry."""
    with open_store(config) as store:
        sid = store.subscribers.get(address).id
        return make_token(secret_key(store), sid, digest, store.subscribers.salt(sid))


def link_in(message, path: str) -> str:
    text = message.get_body(("plain",)).get_content()
    found = re.search(r"https?://\S+" + re.escape(path) + r"\S+", text)
    assert found, text
    return urlsplit(found[0]).path


def test_one_click_with_the_token_of_a_delivered_message(tmp_path, smtp_server):
    config = config_from(make_project(tmp_path, smtp_server))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    assert send(config).sent == 1
    message = to(smtp_server, "ada@example.org")[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(https://[^>]+)>", message["List-Unsubscribe"])[1]
    assert urlsplit(url).netloc == HOST
    path = urlsplit(url).path
    with running(config) as server:
        b = browser(server)
        # A link scanner's GET (and a HEAD) change nothing; the page names the address masked.
        page = b.get(path)
        assert page.status == 200 and "a***@example.org" in page.text and "ada@example.org" not in page.text
        assert b.get(path.replace("/unsubscribe/", "/preferences/")).status == 200
        assert status_of(config, "ada@example.org") == ("active", ("daily",))
        # RFC 8058: no cookie, no form token; 200 with a short body; idempotent.
        anonymous = Browser(server.url, host=HOST)
        for _ in range(2):
            done = anonymous.post(path, {"List-Unsubscribe": "One-Click"})
            assert (done.status, done.text) == (200, "Unsubscribed.\n")
        assert status_of(config, "ada@example.org") == ("active", ())
        # Forged, altered, unknown tokens: the very same answer, and nothing changes.
        for bad in ("1.daily.AAAAAAAAAAAAAAAAAAAAAA", path.rsplit("/", 1)[1][:-1] + "x", "999.daily.x", "junk"):
            forged = anonymous.post(f"/unsubscribe/{bad}", {"List-Unsubscribe": "One-Click"})
            assert (forged.status, forged.text) == (200, "Unsubscribed.\n")
    write_markdown(config.root / "articles", "next.md", "Next Day", date="2024-10-14 06:00")
    assert send(config, date(2024, 10, 14)).sent == 0  # never sent that digest again


def test_signup_confirm_then_the_next_send_includes_the_reader(tmp_path, smtp_server):
    config = config_from(make_project(tmp_path, smtp_server))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    with running(config) as server:
        b = browser(server)
        csrf = b.csrf("/subscribe")
        answer = b.post("/subscribe", {"csrf": csrf, "email": "Bob@Example.org", "digest": "daily",
                                       "topic": "Russia"})
        assert answer.status == 200 and "Check your mailbox" in answer.text
        assert smtp_server.handler.wait_for(1), "no confirmation mail"
        confirmation = to(smtp_server, "bob@example.org")[0]
        assert confirmation["Subject"].startswith("Confirm your subscription")
        path = link_in(confirmation, "/confirm/")
        # Pending: not a subscriber, so no digest.
        assert send(config).sent == 1 and not [m for m in to(smtp_server, "bob@example.org")
                                               if "Confirm" not in m["Subject"]]
        assert "bob@example.org" not in {s.email for s in list_subscribers(config)}
        # The link's GET shows a button and changes nothing; its POST confirms.
        page = b.get(path)
        assert page.status == 200 and "Yes, subscribe me" in page.text
        assert "bob@example.org" not in {s.email for s in list_subscribers(config)}
        done = b.post(path, {"csrf": b.csrf(path)})
        assert done.status == 200 and "You are subscribed" in done.text
        assert b.get(path).status == 404  # spent
    bob = {s.email: s for s in list_subscribers(config)}["bob@example.org"]
    assert (bob.status, bob.digests, bob.topics) == ("active", ("daily",), ("Russia",))
    report = send(config)  # the same issue: only the new reader is left to get it
    assert report.sent == 1
    issue = [m for m in to(smtp_server, "bob@example.org") if "Confirm" not in m["Subject"]]
    assert len(issue) == 1 and "Moscow Watches" in issue[0].get_body(("plain",)).get_content()
    assert "Tehran Decides" not in issue[0].get_body(("plain",)).get_content()


def test_preferences_change_what_the_next_send_gives(tmp_path, smtp_server):
    config = config_from(make_project(tmp_path, smtp_server))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    assert send(config).sent == 1
    first = to(smtp_server, "ada@example.org")[0]
    token_path = re.search(r"<https://[^/]+(/unsubscribe/[^>]+)>", first["List-Unsubscribe"])[1]
    prefs = token_path.replace("/unsubscribe/", "/preferences/")
    with running(config, mail=False) as server:
        b = browser(server)
        page = b.get(prefs)
        assert "a***@example.org" in page.text and 'value="Iran"' in page.text
        saved = b.post(prefs, {"csrf": b.csrf(prefs), "digest": "daily", "topic": "Iran"})
        assert saved.status == 200 and "Saved." in saved.text
    write_markdown(config.root / "articles", "iran2.md", "Tehran Again", date="2024-10-14 06:00", topics=("Iran",))
    write_markdown(config.root / "articles", "russia2.md", "Moscow Again", date="2024-10-14 06:10", topics=("Russia",))
    assert send(config, date(2024, 10, 14)).sent == 1
    text = to(smtp_server, "ada@example.org")[1].get_body(("plain",)).get_content()
    assert "Tehran Again" in text and "Moscow Again" not in text


def test_forged_forms_are_refused_and_change_nothing(tmp_path, smtp_server):
    config = config_from(make_project(tmp_path, smtp_server))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=["Iran"])
    token = token_of(config, "ada@example.org")
    with running(config) as server:
        b = browser(server)
        b.csrf("/subscribe")  # the browser has a session cookie; the attacker's page cannot read its field
        other = browser(server)
        stolen = other.csrf("/subscribe")  # a genuine field of another session
        for fields in ({"email": "victim@example.org"}, {"email": "victim@example.org", "csrf": "x" * 24},
                       {"email": "victim@example.org", "csrf": stolen}):
            assert b.post("/subscribe", fields).status == 403
        assert b.post(f"/preferences/{token}", {"digest": "daily", "topic": "Russia"}).status == 403
        assert b.post(f"/unsubscribe/{token}", {"scope": "everything"}).status == 403
        assert b.post("/confirm/whatever", {}).status == 403
    ada = list_subscribers(config)[0]
    assert (ada.status, ada.digests, ada.topics) == ("active", ("daily",), ("Iran",))
    with open_store(config) as store:
        assert store.web.mail_counts() == {}


def test_the_unsubscribe_page_buttons(tmp_path):
    config = config_from(make_project(tmp_path, serve=""))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    token = token_of(config, "ada@example.org")
    with running(config, mail=False) as server:
        b = browser(server)
        path = f"/unsubscribe/{token}"
        done = b.post(path, {"csrf": b.csrf(path), "scope": "everything"})
        assert done.status == 200 and "nothing more" in done.text
    assert status_of(config, "ada@example.org")[0] == "unsubscribed"


def test_rate_limits_per_address_and_per_client(tmp_path):
    config = config_from(make_project(tmp_path, serve="client_limit = 6"))
    with running(config, mail=False) as server:
        b = browser(server)
        csrf = b.csrf("/subscribe")
        for _ in range(5):
            answer = b.post("/subscribe", {"csrf": csrf, "email": "victim@example.org"})
            assert answer.status == 200 and "Check your mailbox" in answer.text  # the same answer throughout
        with open_store(config) as store:
            assert store.web.mail_counts() == {"queued": 3}  # at most 3 mails to one address per day
        # The client has used 5 of its 6; the next is the last; then nothing more from it, whatever the address.
        for n in range(3):
            b.post("/subscribe", {"csrf": csrf, "email": f"reader{n}@example.org"})
        with open_store(config) as store:
            assert store.web.mail_counts() == {"queued": 4}
        # X-Forwarded-For from a peer that is no trusted proxy is ignored: still the same client.
        b.post("/subscribe", {"csrf": csrf, "email": "fresh@example.org"}, headers={"X-Forwarded-For": "203.0.113.9"})
        with open_store(config) as store:
            assert store.web.mail_counts() == {"queued": 4}


def test_forwarded_for_is_believed_from_trusted_proxies_only(tmp_path):
    config = config_from(make_project(tmp_path, serve='client_limit = 1\ntrusted_proxies = ["127.0.0.1/32"]'))
    with running(config, mail=False) as server:
        b = browser(server)
        csrf = b.csrf("/subscribe")
        for n in range(3):  # three clients behind the proxy, one sign-up each
            b.post("/subscribe", {"csrf": csrf, "email": f"r{n}@example.org"},
                   headers={"X-Forwarded-For": f"198.51.100.1, 203.0.113.{n}"})
        # A client cannot pose as another by adding its own X-Forwarded-For in front: the proxy appends.
        b.post("/subscribe", {"csrf": csrf, "email": "r9@example.org"},
               headers={"X-Forwarded-For": "203.0.113.77, 203.0.113.0"})
        with open_store(config) as store:
            assert store.web.mail_counts() == {"queued": 3}


def test_honeypot_gets_the_same_page_and_nothing(tmp_path):
    config = config_from(make_project(tmp_path))
    with running(config, mail=False) as server:
        b = browser(server)
        answer = b.post("/subscribe", {"csrf": b.csrf("/subscribe"), "email": "bot@example.org",
                                       "website": "http://spam.example"})
        assert answer.status == 200 and "Check your mailbox" in answer.text
        bad = b.post("/subscribe", {"csrf": b.csrf("/subscribe"), "email": "not an address"})
        assert bad.status == 400 and "not a valid email address" in bad.text
    with open_store(config) as store:
        assert store.web.mail_counts() == {}


def test_host_check_headers_body_limit_and_no_redirects(tmp_path):
    config = config_from(make_project(tmp_path, serve='max_body = "1KB"'))
    with running(config, mail=False) as server:
        h, p = server.host, server.port
        assert raw_request(h, p, "GET", "/subscribe", {"Host": "evil.example"})[0] == 421
        assert raw_request(h, p, "GET", "/subscribe", {})[0] == 421
        assert raw_request(h, p, "GET", "/healthz", {"Host": "10.0.0.5:8080"}) == (200, "ok\n")
        b = browser(server)
        page = b.get("/subscribe")
        assert page.status == 200
        csp = page.headers["content-security-policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer" and "<script" not in page.text
        assert " style=" not in page.text
        assert "httponly" in page.headers["set-cookie"].lower() and "secure" in page.headers["set-cookie"].lower()
        big = {"email": "a@example.org", "csrf": b.csrf("/subscribe"), "pad": "x" * 5000}
        assert b.post("/subscribe", big).status == 413
        # Chunked, without a Content-Length to refuse up front.
        status, _ = raw_request(h, p, "POST", "/subscribe", {
            "Host": HOST, "Transfer-Encoding": "chunked", "Content-Type": "application/x-www-form-urlencoded"},
            body=b"1388\r\n" + b"x" * 5000 + b"\r\n0\r\n\r\n")
        assert status == 413
        assert b.get("/subscribe/").status == 404  # no "add a slash" redirect, nor any other
        assert b.get("//evil.example/").status == 404


def test_confirmation_mail_is_retried_when_the_server_refuses(tmp_path, start_smtp):
    handler = Recorder(mail_reply="421 4.3.2 try later")
    smtp = start_smtp(handler)
    config = config_from(make_project(tmp_path, smtp, serve='mail_retry = "1s"'))
    with running(config) as server:
        b = browser(server)
        started = time.monotonic()
        answer = b.post("/subscribe", {"csrf": b.csrf("/subscribe"), "email": "ada@example.org"})
        assert answer.status == 200 and time.monotonic() - started < 5  # the page never waits for the mail
        deadline = time.monotonic() + 20
        while handler.tried("MAIL") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with open_store(config) as store:
            assert store.web.mail_counts().get("sent") is None
        handler.mail_reply = None
        assert handler.wait_for(1, timeout=30), "the mail was not retried"
    with open_store(config) as store:
        counts = store.web.mail_counts()
    assert counts == {"sent": 1} and len(smtp.messages) == 1


def _two_instances_send_each_confirmation_once(tmp_path, smtp_server, monkeypatch, url=None):
    if url:
        monkeypatch.setenv("NEWSLETTER_DATABASE", url)
    config = config_from(make_project(tmp_path, smtp_server, serve="client_limit = 100"))
    with running(config) as one, running(config) as two:
        for n in range(12):
            b = browser(one if n % 2 else two)
            b.post("/subscribe", {"csrf": b.csrf("/subscribe"), "email": f"r{n}@example.org"})
        assert smtp_server.handler.wait_for(12, timeout=30)
        deadline = time.monotonic() + 10
        with open_store(config) as store:
            while store.web.mail_counts() != {"sent": 12}:
                assert time.monotonic() < deadline, store.web.mail_counts()
                time.sleep(0.05)
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == sorted(f"r{n}@example.org" for n in range(12))


def test_two_instances_on_one_database(tmp_path, smtp_server, monkeypatch):
    _two_instances_send_each_confirmation_once(tmp_path, smtp_server, monkeypatch)


def test_two_instances_on_one_postgresql_database(tmp_path, smtp_server, monkeypatch, pg_url):
    _two_instances_send_each_confirmation_once(tmp_path, smtp_server, monkeypatch, pg_url)


def test_serve_command_says_in_one_line_when_the_port_is_taken(tmp_path):
    config = make_project(tmp_path)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        result = CliRunner().invoke(app, ["--config", str(config), "serve", "--port", str(taken.getsockname()[1])])
    finally:
        taken.close()
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot listen on 127.0.0.1" in lines[0] and "--port" in lines[0], result.stderr


def test_serve_config_errors_are_one_line(tmp_path):
    config = write_config(tmp_path / "a", '[serve]\ntrusted_proxies = ["10.0.0.0/33"]\n')
    result = CliRunner().invoke(app, ["--config", str(config), "serve"])
    assert result.exit_code == 1 and "serve.trusted_proxies" in result.stderr and "10.0.0.0/33" in result.stderr
    config = write_config(tmp_path / "b", '[serve]\ndelivery = "smtp"\n')
    result = CliRunner().invoke(app, ["--config", str(config), "serve"])
    assert result.exit_code == 1 and "[smtp]" in result.stderr
    # Durations past what a date can hold, or past what their use can add to a date or double.
    for n, (key, value) in enumerate((("confirm_expiry", "99999999999d"), ("confirm_expiry", "3000000d"),
                                      ("mail_retry", "900000000d"), ("confirm_expiry", "31d"), ("mail_retry", "2h"),
                                      ("confirm_expiry", "30m"))):
        config = write_config(tmp_path / f"d{n}", f'[serve]\n{key} = "{value}"\n')
        result = CliRunner().invoke(app, ["--config", str(config), "serve"])
        assert result.exit_code == 1 and f"serve.{key}" in result.stderr, (value, result.stderr or result.exception)
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.browser
def test_the_forms_in_chromium(tmp_path, smtp_server):
    from tests.chromium import chromium

    config = config_from(make_project(tmp_path, smtp_server, public_url=None))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    with running(config) as server, chromium() as launched:
        page = launched.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server.url + "/subscribe")
        assert page.evaluate("getComputedStyle(document.querySelector('.hp')).left") == "-10000px"  # honeypot hidden
        page.fill("#email", "cy@example.org")
        page.click("button[type=submit]")
        page.wait_for_selector("text=Check your mailbox")
        assert smtp_server.handler.wait_for(1)
        path = link_in(to(smtp_server, "cy@example.org")[0], "/confirm/")
        page.goto(server.url + path)
        page.click("text=Yes, subscribe me")
        page.wait_for_selector("text=You are subscribed")
        assert "cy@example.org" in {s.email for s in list_subscribers(config)}
        # The reader's own pages, by the token of their emails.
        token = token_of(config, "ada@example.org")
        page.goto(f"{server.url}/preferences/{token}")
        page.check("input[name=topic][value=Russia]")
        page.click("text=Save")
        page.wait_for_selector("text=Saved.")
        assert list_subscribers(config)[0].topics == ("Russia",)
        page.goto(f"{server.url}/unsubscribe/{token}")
        assert page.is_visible("text=a***@example.org")
        page.click("text=Unsubscribe from everything")
        page.wait_for_selector("text=You are unsubscribed")
        assert status_of(config, "ada@example.org")[0] == "unsubscribed"
        assert not errors, errors  # the CSP blocked nothing the pages need (the stylesheet)
        assert page.evaluate("getComputedStyle(document.querySelector('.sheet')).maxWidth") == "560px"


def test_hostile_requests_get_short_answers_and_change_nothing(tmp_path):
    config = config_from(make_project(tmp_path))
    add_subscriber(config, "ada@example.org", name=None, digests=[], topics=[])
    token = token_of(config, "ada@example.org")
    with running(config, mail=False) as server:
        h, p = server.host, server.port
        b = browser(server)
        for path in ("/unsubscribe/%00", "/unsubscribe/" + "9" * 5000 + ".daily." + "A" * 22, "/confirm/%ff%fe",
                     "/preferences/..%2f..%2fetc%2fpasswd", "/unsubscribe/" + token + "%0d%0aSet-Cookie:x=1"):
            answer = b.get(path)
            assert answer.status in (404, 414), (path, answer.status)
            assert "set-cookie" not in answer.headers or "x=1" not in answer.headers["set-cookie"]
        # One-click as multipart, with a file where text belongs, and with bytes that are not UTF-8.
        boundary = "b0undary"
        multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n"
                     f"--{boundary}--\r\n").encode()
        status, text = raw_request(h, p, "POST", "/unsubscribe/forged.daily.AAAAAAAAAAAAAAAAAAAAAA", {
            "Host": HOST, "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(multipart))}, multipart)
        assert (status, text) == (200, "Unsubscribed.\n")
        csrf = b.csrf("/subscribe")
        upload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
                  f"--{boundary}\r\nContent-Disposition: form-data; name=\"email\"; filename=\"x.txt\"\r\n"
                  f"Content-Type: text/plain\r\n\r\nada@example.org\r\n--{boundary}--\r\n").encode()
        answer = b.post("/subscribe", body=upload, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert answer.status == 400
        assert b.post(f"/unsubscribe/{token}", body=b"\xff\xfe=\x00").status == 403
        assert b.post("/subscribe", body=b"%%%&&&==").status == 403
    assert status_of(config, "ada@example.org") == ("active", ("daily",))
    with open_store(config) as store:
        assert store.web.mail_counts() == {}


def test_a_mail_claimed_by_a_killed_instance_is_sent_by_another(tmp_path, start_smtp):
    handler = Recorder(reply_delay=60)  # keeps the message, then holds its reply: the sender is mid-send
    smtp = start_smtp(handler)
    path = make_project(tmp_path, smtp, smtp_extra="lease = 1\n")
    config = config_from(path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "newsletter", "--config", str(path), "serve", "--port", str(port)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        b = Browser(f"http://127.0.0.1:{port}", host=HOST)
        deadline = time.monotonic() + 30
        while True:
            try:
                if b.get("/healthz").status == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        b.post("/subscribe", {"csrf": b.csrf("/subscribe"), "email": "ada@example.org"})
        assert handler.wait_for(1, timeout=30)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    handler.reply_delay = 0
    with open_store(config) as store:
        assert store.web.mail_counts() == {"claimed": 1}
    with running(config):
        deadline = time.monotonic() + 30
        with open_store(config) as store:
            while store.web.mail_counts() != {"sent": 1}:
                assert time.monotonic() < deadline, store.web.mail_counts()
                time.sleep(0.05)
    # At least once: the server had kept the first copy when the sender died.
    assert [m.rcpt_tos for m in smtp.messages] == [("ada@example.org",), ("ada@example.org",)]


def test_serve_without_its_extras_is_one_line(tmp_path):
    config = make_project(tmp_path)
    # The interpreter as it would be without the [serve] extras: the modules cannot be found.
    code = ("import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None; "
            "sys.argv = ['newsletter', '--config', sys.argv[1], 'serve']; from newsletter.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", code, str(config)], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: newsletter serve needs the 'starlette' module (install the web extras: pip install \"newsletter[serve]\")"]


def test_the_archive_as_served(tmp_path, smtp_server):
    import feedparser

    config = config_from(make_project(tmp_path, smtp_server))
    add_subscriber(config, "ada@example.org", name="Ada Lovelace", digests=[], topics=[])
    assert send(config).sent == 1
    message = to(smtp_server, "ada@example.org")[0]
    token = token_of(config, "ada@example.org")
    view = re.search(r"https://\S+/archive/daily/[^/\s]+/", message.get_body(("plain",)).get_content())[0]
    with running(config, mail=False) as server:
        b = browser(server)
        page = b.get(urlsplit(view).path)  # the email's own "View in browser" link
        assert page.status == 200 and "Tehran Decides" in page.text
        for secret in (token, "ada@example.org", "Ada Lovelace", "/unsubscribe/", "/preferences/"):
            assert secret not in page.text
        # The email's inline styles are allowed here; script, framing and forms still are not.
        csp = page.headers["content-security-policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp and "form-action 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        listing = b.get("/archive/daily/")
        assert listing.status == 200 and urlsplit(view).path.split("/")[-2] in listing.text
        assert "daily/" in b.get("/archive/").text
        feed = b.get("/archive/daily/feed.xml")
        assert feed.headers["content-type"].startswith("application/atom+xml")
        parsed = feedparser.parse(feed.text)
        assert parsed.bozo == 0 and [e.link for e in parsed.entries] == [view]
        moved = b.get("/archive")
        assert (moved.status, moved.headers["location"]) == (308, "archive/")  # relative: it stays under a proxy's path
        for missing in ("/archive/weekly/", "/archive/daily/1999-01-01/", "/archive/daily/feed.xml/",
                        "/archive/../unsubscribe/x/"):
            assert b.get(missing).status == 404, missing
