"""Sending to subscribers through a real SMTP server on 127.0.0.1: personal messages, exactly once."""

from __future__ import annotations

import asyncio
import email
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import date
from email import policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.pipeline import open_store
from newsletter.pipeline.send import secret_key, send_to_subscribers
from newsletter.tokens import make_token, read_token

from tests.conftest import REPO, write_markdown
from tests.smtpd import Recorder, serve

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


def project(tmp_path: Path, server, **smtp) -> Path:
    """The sample project (two articles on 2024-10-11) sending to `server`."""
    root = tmp_path / "digest"
    assert run("init", root).exit_code == 0
    write_markdown(root / "articles", "russia-only.md", "Moscow Watches", date="2024-10-11 06:15", topics=("Russia",))
    config = root / "newsletter.toml"
    text = config.read_text().replace('# unsubscribe_url = "https://example.org/unsubscribe?token={token}"',
                                      'unsubscribe_url = "https://example.org/unsubscribe?token={token}"')
    options = {"host": server.host, "port": server.port, "security": "none", "timeout": 10, "retries": 2, **smtp}
    text += "\n[smtp]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())
    config.write_text(text)
    return config


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def add(config: Path, address: str, *extra: str):
    result = run("--config", config, "subscribers", "add", address, *extra)
    assert result.exit_code == 0, result.output


def test_subscribers_commands(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    add(config, "Ada@Example.ORG", "--name", "Ada Lovelace", "--topic", "Iran")
    add(config, "bob@example.org")
    rows = json.loads(run("--config", config, "subscribers", "list", "--json").stdout)
    assert rows == [
        {"email": "ada@example.org", "name": "Ada Lovelace", "status": "active", "digests": ["daily"], "topics": ["Iran"],
         "unsubscribed": []},
        {"email": "bob@example.org", "name": None, "status": "active", "digests": ["daily"], "topics": [],
         "unsubscribed": []},
    ]
    bad = run("--config", config, "subscribers", "add", "not-an-address")
    assert bad.exit_code == 1 and "is not a valid email address" in bad.stderr
    unknown = run("--config", config, "subscribers", "add", "c@example.org", "--digest", "weekly")
    assert unknown.exit_code == 1 and "no digest named 'weekly'" in unknown.stderr
    assert run("--config", config, "subscribers", "unsubscribe", "bob@example.org").exit_code == 0
    again = run("--config", config, "subscribers", "add", "bob@example.org")
    assert again.exit_code == 1 and "--resubscribe" in again.stderr
    assert run("--config", config, "subscribers", "add", "bob@example.org", "--resubscribe").exit_code == 0
    export = run("--config", config, "subscribers", "export").stdout
    assert export.splitlines() == ["email,name,digests,topics,status,unsubscribed",
                                   "ada@example.org,Ada Lovelace,daily,Iran,active,", "bob@example.org,,daily,,active,"]
    assert run("--config", config, "subscribers", "remove", "bob@example.org").exit_code == 0
    missing = run("--config", config, "subscribers", "remove", "bob@example.org")
    assert missing.exit_code == 1 and "is not a subscriber" in missing.stderr


def test_csv_import_reports_bad_rows_by_line(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text("email,name,digests,topics\n"
                        "ada@example.org,Ada,daily,Iran;Russia\n"
                        "not an address,Bad,daily,\n"
                        "cy@example.org,Cy,weekly,\n"
                        "ADA@example.org,Ada again,daily,\n"
                        "dee@example.org,\"Dee\r\nBcc: x@example.org\",,\n")
    result = run("--config", config, "subscribers", "import", csv_file)
    assert result.exit_code == 1
    assert "2 added, 0 updated, 3 rejected" in result.stdout
    assert "line 3: 'not an address' is not a valid email address" in result.stderr
    assert "line 4: unknown digest 'weekly'" in result.stderr
    assert "line 5: ada@example.org is a duplicate of line 2" in result.stderr
    rows = json.loads(run("--config", config, "subscribers", "list", "--json").stdout)
    assert [(r["email"], r["topics"]) for r in rows] == [("ada@example.org", ["Iran", "Russia"]), ("dee@example.org", [])]
    assert rows[1]["name"] == "Dee Bcc: x@example.org"  # a quoted line break cannot reach the To header
    header = tmp_path / "bad.csv"
    header.write_text("mail,name\nx@example.org,X\n")
    bad = run("--config", config, "subscribers", "import", header)
    assert bad.exit_code == 1 and "has no header row with an 'email' column" in bad.stderr


def test_test_send_is_marked_and_not_recorded(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    result = run("--config", config, "send", "--to", "me@example.org", "--date", "2024-10-11")
    assert result.exit_code == 0, result.output
    (received,) = smtp_server.messages
    message = parse(received.data)
    assert received.rcpt_tos == ("me@example.org",)
    assert message["Subject"].startswith("[TEST] Editors' Picks")
    # Nothing recorded, as its help says: no issue (so no article frozen into one), no ledger row.
    assert json.loads(run("--config", config, "issues", "--json").stdout) == []
    with open_store(load_config(config)) as store:
        with store.engine.connect() as conn:
            for table in ("issues", "issue_articles", "deliveries"):
                assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0, table
    assert not (config.parent / "outbox" / "daily" / "2024-10-11").exists()


def test_send_to_subscribers_personal_and_once(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    add(config, "ada@example.org", "--name", "Ada Lovelace")
    add(config, "bob@example.org", "--topic", "Russia")
    add(config, "cy@example.org", "--topic", "Cooking")
    add(config, "dee@example.org")
    assert run("--config", config, "subscribers", "unsubscribe", "dee@example.org").exit_code == 0

    dry = run("--config", config, "send", "--subscribers", "--dry-run", "--date", "2024-10-11")
    assert dry.exit_code == 0 and "would go to 2 subscribers" in dry.stdout
    assert smtp_server.messages == []

    result = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11")
    assert result.exit_code == 0, result.output
    assert "2 sent, 1 skipped, 0 failed" in result.stdout
    by_rcpt = {m.rcpt_tos[0]: parse(m.data) for m in smtp_server.messages}
    assert sorted(by_rcpt) == ["ada@example.org", "bob@example.org"]  # cy: nothing in Cooking; dee: unsubscribed

    with open_store(load_config(config)) as store:
        key = secret_key(store)
        ids = {s.email: s.id for s in store.subscribers.list()}
        salts = {i: store.subscribers.salt(i) for i in ids.values()}
    for address, message in by_rcpt.items():
        assert address in message["To"]
        token = make_token(key, ids[address], "daily", salts[ids[address]])
        assert read_token(key, token, salts.get) == (ids[address], "daily")
        # strip(): the header is folded after its name, and unfolding leaves the leading space
        assert message["List-Unsubscribe"].strip() == f"<https://example.org/unsubscribe?token={token}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html = message.get_body(("html",)).get_content()
        assert f"token={token}" in html
        assert message["Message-ID"].endswith("@example.org>")
    assert by_rcpt["ada@example.org"]["To"] == "Ada Lovelace <ada@example.org>"
    ada_html = by_rcpt["ada@example.org"].get_body(("html",)).get_content()
    bob_html = by_rcpt["bob@example.org"].get_body(("html",)).get_content()
    assert "Moscow Watches" in ada_html and "Iran Gives in to Spy Mania" in ada_html
    assert "Moscow Watches" in bob_html and "Iran Gives in to Spy Mania" not in bob_html  # Russia only

    again = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11")
    assert again.exit_code == 0 and "is fully sent" in again.stdout
    assert len(smtp_server.messages) == 2
    issues = json.loads(run("--config", config, "issues", "--json").stdout)
    assert [(i["sent"], i["skipped"], i["failed"], i["pending"]) for i in issues] == [(2, 1, 0, 0)]


def test_subscribers_get_the_drafted_issue_and_a_later_draft_edit_changes_nothing(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    add(config, "ada@example.org")
    assert run("--config", config, "build", "--date", "2024-10-11").exit_code == 0  # recorded before the draft
    assert run("--config", config, "draft", "--date", "2024-10-11").exit_code == 0
    draft = config.parent / "drafts" / "daily" / "2024-10-11.md"
    text = draft.read_text().replace('subject: ""', 'subject: "Only Moscow today"')
    draft.write_text("\n".join(line for line in text.split("\n") if "Spy Mania" not in line and "Long History" not in line))
    dry = run("--config", config, "send", "--subscribers", "--dry-run", "--date", "2024-10-11")
    assert "'Only Moscow today'" in dry.stdout
    assert run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11").exit_code == 0
    (sent,) = smtp_server.messages
    message = parse(sent.data)
    html = message.get_body(("html",)).get_content()
    assert message["Subject"] == "Only Moscow today" and "Moscow Watches" in html and "Spy Mania" not in html
    # Sending has begun: the issue stays as it was sent, whatever the draft says now.
    draft.write_text(text.replace("Only Moscow today", "Changed my mind"))
    rebuilt = run("--config", config, "build", "--date", "2024-10-11", "--json")
    assert json.loads(rebuilt.stdout)["subject"] == "Only Moscow today" and "has begun" in rebuilt.stderr
    issues = json.loads(run("--config", config, "issues", "--json").stdout)
    assert [(i["subject"], i["articles"], i["sent"]) for i in issues] == [("Only Moscow today", 1, 1)]


def test_unsubscribe_token_and_forgery(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    add(config, "ada@example.org")
    add(config, "bob@example.org")
    assert run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11").exit_code == 0
    message = parse(next(m for m in smtp_server.messages if m.rcpt_tos == ("ada@example.org",)).data)
    token = message["List-Unsubscribe"].split("token=")[1].rstrip(">")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    other = token.replace(token.split(".")[0], str(int(token.split(".")[0]) + 1), 1)
    for bad in (forged, other, "garbage"):
        result = run("--config", config, "subscribers", "unsubscribe", "--token", bad)
        assert result.exit_code == 1 and "not genuine" in result.stderr
    ok = run("--config", config, "subscribers", "unsubscribe", "--token", token)
    assert ok.exit_code == 0 and "unsubscribed ada@example.org" in ok.stdout
    write_markdown(config.parent / "articles", "next.md", "Next Day News", date="2024-10-12")
    assert run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-12").exit_code == 0
    assert [m.rcpt_tos for m in smtp_server.messages[2:]] == [("bob@example.org",)]  # never ada again


def test_permanent_and_transient_failures(tmp_path: Path, start_smtp):
    server = start_smtp(Recorder(reject={"gone@example.org"}, tempfail_data={"slow@example.org"}))
    config = project(tmp_path, server)
    for address in ("ok@example.org", "gone@example.org", "slow@example.org"):
        add(config, address)
    result = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11")
    assert result.exit_code == 1
    assert "2 sent, 0 skipped, 1 failed" in result.stdout
    assert "failed: gone@example.org: " in result.stderr and "550" in result.stderr
    assert server.handler.by_recipient() == {"ok@example.org": 1, "slow@example.org": 1}
    # A permanent refusal is not retried by a re-run.
    rerun = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11")
    assert "fully sent" in rerun.stdout and server.handler.by_recipient()["gone@example.org"] == 0


def test_send_without_smtp_config_or_terminal(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    no_yes = run("--config", config, "send", "--subscribers", "--date", "2024-10-11")
    assert no_yes.exit_code == 2 and "add --yes" in no_yes.stderr
    both = run("--config", config, "send", "--to", "a@example.org", "--subscribers")
    assert both.exit_code == 2
    config.write_text(config.read_text().split("\n[smtp]")[0])
    missing = run("--config", config, "send", "--to", "a@example.org")
    assert missing.exit_code == 1 and "no [smtp] table is configured" in missing.stderr


def test_no_send_without_a_way_to_unsubscribe(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    config.write_text(config.read_text().replace('unsubscribe_url = "https://example.org/unsubscribe?token={token}"',
                                                 "# no way out"))
    add(config, "ada@example.org")
    refused = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11")
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
    assert "newsletter.unsubscribe_url: is not set, nor unsubscribe_mailto" in refused.stderr
    assert 'set unsubscribe_url = "https://example.org/unsubscribe?token={token}"' in refused.stderr
    assert smtp_server.messages == [] and json.loads(run("--config", config, "issues", "--json").stdout) == []
    dry = run("--config", config, "send", "--subscribers", "--dry-run", "--date", "2024-10-11")
    assert dry.exit_code == 0 and "warning: the real send would stop here" in dry.stderr
    # A test copy to yourself is not mail to subscribers.
    assert run("--config", config, "send", "--to", "me@example.org", "--date", "2024-10-11").exit_code == 0
    # The scheduler refuses to start with an smtp digest that would send such mail.
    config.write_text(config.read_text().replace('delivery = "outbox"', 'delivery = "smtp"'))
    start = run("--config", config, "schedule", "run")
    assert start.exit_code == 1 and "newsletter.unsubscribe_url" in start.stderr
    # With a mailto instead it sends, and the missing postal address is a warning.
    config.write_text(config.read_text().replace("# no way out", 'unsubscribe_mailto = "leave@example.org"'))
    sent = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11")
    assert sent.exit_code == 0 and "1 sent" in sent.stdout
    assert "warning:" in sent.stderr and "newsletter.address is not set: CAN-SPAM" in sent.stderr
    (to_ada,) = [m for m in smtp_server.messages if m.rcpt_tos == ("ada@example.org",)]
    assert parse(to_ada.data)["List-Unsubscribe"].strip().startswith("<mailto:leave@example.org")


def test_the_dry_run_and_the_confirmation_count_the_same_recipients(tmp_path: Path, smtp_server):
    config = project(tmp_path, smtp_server)
    add(config, "ada@example.org")
    add(config, "cy@example.org", "--topic", "Cooking")  # nothing in the issue for cy: skipped, not sent
    dry = run("--config", config, "send", "--subscribers", "--dry-run", "--date", "2024-10-11")
    assert "would go to 1 subscribers" in dry.stdout
    asked: list[int] = []
    send_to_subscribers(load_config(config), None, date(2024, 10, 11), sync_first=False,
                        confirm=lambda plan, count: asked.append(count) or False)
    assert asked == [1] and smtp_server.messages == []


class Holding(Recorder):
    """Holds message number `hold_at` before storing it, until the test has signalled the sender."""

    def __init__(self, hold_at: int, store_held: bool, **kwargs):
        super().__init__(count_only=False, **kwargs)
        self.hold_at, self.store_held = hold_at, store_held
        self.arrived, self.release = threading.Event(), threading.Event()
        self.seen = 0

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.seen += 1
            held = self.seen == self.hold_at
        if held:
            self.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
            if not self.store_held:
                return "421 4.3.0 gone"  # the sender is dead; nothing is kept
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def send_process():
    """Starts `newsletter send --subscribers` in a child process; never leaves one running."""
    started = []

    def start(config: Path) -> subprocess.Popen:
        started.append(_send_process(config))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _send_process(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "newsletter", "--config", str(config), "send", "--subscribers",
                             "--yes", "--date", "2024-10-11", "--no-sync"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _many_subscribers(config: Path, n: int, build: bool = True) -> list[str]:
    """n subscribers (sorted addresses), and the issue of 2024-10-11 built unless build=False."""
    addresses = [f"reader{i:03d}@example.org" for i in range(n)]
    csv_file = config.parent / "many.csv"
    csv_file.write_text("email\n" + "\n".join(addresses) + "\n")
    assert run("--config", config, "subscribers", "import", csv_file).exit_code == 0
    if build:
        assert run("--config", config, "build", "--date", "2024-10-11").exit_code == 0
    return addresses


@pytest.mark.slow
def test_sigkill_midway_then_rerun_delivers_exactly_once(tmp_path: Path, send_process):
    handler = Holding(hold_at=200, store_held=False)
    with serve(handler) as server:
        config = project(tmp_path, server)
        addresses = _many_subscribers(config, 500)
        proc = send_process(config)
        assert handler.arrived.wait(60), proc.communicate(timeout=5)
        proc.send_signal(signal.SIGKILL)  # while the 200th message waits for its reply
        proc.wait(10)
        handler.release.set()
        assert handler.count == 199
        result = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11", "--no-sync")
        assert result.exit_code == 0, result.output
        assert "301 sent" in result.stdout and "199 had it already" in result.stdout
        counts = handler.by_recipient()
        assert sorted(counts) == addresses and set(counts.values()) == {1}


@pytest.mark.slow
def test_ctrl_c_finishes_the_message_in_flight_and_exits_130(tmp_path: Path, send_process):
    handler = Holding(hold_at=50, store_held=True)
    with serve(handler) as server:
        config = project(tmp_path, server)
        addresses = _many_subscribers(config, 120)
        proc = send_process(config)
        assert handler.arrived.wait(60)
        proc.send_signal(signal.SIGINT)
        handler.release.set()  # the 50th message is accepted after the interrupt
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert b"run the same command again" in err
        assert handler.count == 50
        result = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11", "--no-sync")
        assert "70 sent" in result.stdout
        counts = handler.by_recipient()
        assert sorted(counts) == addresses and set(counts.values()) == {1}


def test_who_unsubscribes_before_a_rerun_is_not_retried(tmp_path: Path, start_smtp):
    server = start_smtp(Recorder(tempfail_data={"flaky@example.org"}, tempfail_times=1))
    config = project(tmp_path, server, retries=0)
    add(config, "ok@example.org")
    add(config, "flaky@example.org")
    first = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11")
    assert first.exit_code == 1 and "1 sent, 0 skipped, 1 failed" in first.stdout
    assert run("--config", config, "subscribers", "unsubscribe", "flaky@example.org").exit_code == 0
    rerun = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11")
    assert "fully sent" in rerun.stdout
    assert server.handler.by_recipient() == {"ok@example.org": 1}
    issues = json.loads(run("--config", config, "issues", "--json").stdout)
    assert [(i["sent"], i["failed"], i["skipped"], i["pending"]) for i in issues] == [(1, 0, 1, 0)]
