"""Faults a send meets, against real aiosmtpd servers: slow or missing final replies, a server refusing
everything, internationalized addresses and hostile names, header injection from a feed, a server
that echoes the password, reused ids, and the modes of private files."""

from __future__ import annotations

import email
import json
import shutil
import stat
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.config import load_config
from newsletter.pipeline import open_store
from newsletter.pipeline.send import secret_key
from newsletter.pipeline.subscribers import add_subscriber
from newsletter.tokens import make_token
from tests.conftest import REPO
from tests.smtpd import SMTP_PASSWORD, SMTP_USER, EchoingAuth, Recorder
from tests.test_send import _many_subscribers, add, project, run

HOSTILE = REPO / "tests" / "data" / "hostile"
SEND = ["send", "--subscribers", "--yes", "--date", "2024-10-11"]
INJECTION = "=?utf-8?q?x=0D=0AReply-To:_a@evil.example?="


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def header_names(raw: bytes) -> list[str]:
    """The header names exactly as they are on the wire, in order."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    return [line.split(":", 1)[0] for line in head.split("\r\n") if line and not line[0].isspace()]


def ledger(config: Path) -> dict[str, tuple]:
    with open_store(load_config(config)) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT s.email, d.status, d.permanent, d.attempts FROM deliveries d "
                                    "JOIN subscribers s ON s.id = d.subscriber_id")).all()
    return {email_: (status, bool(permanent), attempts) for email_, status, permanent, attempts in rows}


# -- the final reply -------------------------------------------------------------------------------

def test_a_final_reply_slower_than_timeout_but_within_data_timeout_is_delivered_once(tmp_path, start_smtp):
    server = start_smtp(Recorder(reply_delay=0.8))
    config = project(tmp_path, server, timeout=0.3, data_timeout=5)
    for who in ("ada", "bob", "cy"):
        add(config, f"{who}@example.org")
    result = run("--config", config, *SEND)
    assert result.exit_code == 0, result.output
    assert "3 sent, 0 skipped, 0 failed" in result.stdout
    assert server.handler.by_recipient() == {f"{w}@example.org": 1 for w in ("ada", "bob", "cy")}


def test_no_final_reply_within_data_timeout_is_unknown_and_resent_only_when_asked(tmp_path, start_smtp):
    handler = Recorder(reply_delay=1.5)  # keeps each message, answers too late
    server = start_smtp(handler)
    config = project(tmp_path, server, timeout=0.3, data_timeout=0.5)
    add(config, "ada@example.org")
    add(config, "bob@example.org")
    first = run("--config", config, *SEND)
    assert first.exit_code == 1
    assert "0 sent, 0 skipped, 0 failed, 2 unknown" in first.stdout
    assert "unknown: ada@example.org: no reply to the end of the message within 0.5 s" in first.stderr
    assert handler.by_recipient() == {"ada@example.org": 1, "bob@example.org": 1}  # once each, never retried
    issues = json.loads(run("--config", config, "issues", "--json").stdout)
    assert [(i["sent"], i["unknown"], i["pending"], i["claimed"]) for i in issues] == [(0, 2, 0, 0)]
    again = run("--config", config, *SEND)
    assert again.exit_code == 0 and "2 deliveries are unknown" in again.stdout and "--retry-unknown" in again.stdout
    assert handler.count == 2
    handler.reply_delay = 0
    retried = run("--config", config, *SEND, "--retry-unknown")
    assert retried.exit_code == 0 and "2 sent" in retried.stdout
    assert handler.by_recipient() == {"ada@example.org": 2, "bob@example.org": 2}
    assert {row[0] for row in ledger(config).values()} == {"sent"}


# -- a server that refuses everything ---------------------------------------------------------------

@pytest.mark.parametrize("refusal", [{"mail_reply": "421 4.3.2 Service shutting down"},
                                     {"rcpt_reply": "452 4.3.1 Insufficient system storage"}],
                         ids=["421-on-MAIL", "452-on-RCPT"])
def test_a_server_refusing_everything_stops_the_run_then_a_rerun_delivers_to_all_once(tmp_path, start_smtp,
                                                                                     refusal):
    handler = Recorder(**refusal)
    server = start_smtp(handler)
    config = project(tmp_path, server, give_up_after=2, retries=1, connections=2)
    addresses = _many_subscribers(config, 200)
    result = run("--config", config, *SEND, "--no-sync")
    assert result.exit_code == 1
    error = result.stderr.strip().splitlines()[-1]
    assert "refused every message for 2 s" in error and "nothing was recorded as permanently failed" in error
    tried = handler.tried("MAIL" if "mail_reply" in refusal else "RCPT")
    assert 0 < tried < 40, tried  # 200 recipients, 2 tries each, would be 400
    assert not any(permanent for _, permanent, _ in ledger(config).values())
    handler.mail_reply = handler.rcpt_reply = None
    rerun = run("--config", config, *SEND, "--no-sync")
    assert rerun.exit_code == 0, rerun.output
    counts = handler.by_recipient()
    assert sorted(counts) == addresses and set(counts.values()) == {1}


# -- internationalized addresses and hostile names ---------------------------------------------------

HOSTILE_NAME = "=?utf-8?q?Eve=0D=0ABcc:_spy@evil.example?= \x1b[31mRed\x00"


def test_idn_addresses_and_a_hostile_name_block_nobody(tmp_path, start_smtp):
    server = start_smtp(Recorder())  # no SMTPUTF8
    config = project(tmp_path, server)
    loaded = load_config(config)
    for address, name in [("first@example.org", None), ("hans@müller.example", "Hans Müller"),
                          ("jörg@example.org", None), ("eve@example.org", HOSTILE_NAME),
                          ("last@example.org", "Last, Reader \"Q\"")]:
        add_subscriber(loaded, address, name=name, digests=[], topics=[])
    result = run("--config", config, *SEND)
    assert result.exit_code == 1  # jörg's failure, alone
    assert "4 sent, 0 skipped, 1 failed" in result.stdout and "Traceback" not in result.output
    assert "failed: jörg@example.org:" in result.stderr and "SMTPUTF8" in result.stderr
    by_rcpt = {m.rcpt_tos[0]: m for m in server.messages}
    assert sorted(by_rcpt) == ["eve@example.org", "first@example.org", "hans@xn--mller-kva.example",
                               "last@example.org"]
    hans = parse(by_rcpt["hans@xn--mller-kva.example"].data)
    assert hans["To"].addresses[0].display_name == "Hans Müller"
    assert hans["To"].addresses[0].domain == "xn--mller-kva.example"
    eve_raw = by_rcpt["eve@example.org"].data
    assert b"\x1b" not in eve_raw and b"\x00" not in eve_raw
    eve = parse(eve_raw)
    assert "Bcc" not in header_names(eve_raw) and eve["To"].addresses[0].username == "eve"
    # The name is shown as the (cleaned) text it was, never decoded into a header. (Python's address
    # parser shows the folding between two encoded words as a space, where RFC 2047 drops it.)
    shown = " ".join(eve["To"].addresses[0].display_name.split())
    assert shown == "=?utf-8?q?Eve=0D=0ABcc:_spy@evil.example?= [31mRed"
    assert parse(by_rcpt["last@example.org"].data)["To"].addresses[0].display_name == 'Last, Reader "Q"'
    assert ledger(config)["jörg@example.org"][:2] == ("failed", True)
    rerun = run("--config", config, *SEND)
    assert "fully sent" in rerun.stdout and len(server.messages) == 4  # a permanent failure is not retried


def test_a_non_ascii_mailbox_is_sent_with_smtputf8_when_the_server_offers_it(tmp_path, start_smtp):
    server = start_smtp(Recorder(), smtputf8=True)
    config = project(tmp_path, server)
    add_subscriber(load_config(config), "jörg@example.org", name="Jörg", digests=[], topics=[])
    result = run("--config", config, *SEND)
    assert result.exit_code == 0, result.output
    (received,) = server.messages
    assert received.rcpt_tos == ("jörg@example.org",) and "SMTPUTF8" in received.mail_options
    utf8 = email.message_from_string(received.data.decode("utf-8"), policy=policy.default)  # RFC 6532 headers
    assert utf8["To"].addresses[0].username == "jörg"


# -- header injection from content ---------------------------------------------------------------------

EXPECTED_HEADERS = ["To", "Message-ID", "From", "Subject", "Date", "List-Id", "List-Unsubscribe",
                    "List-Unsubscribe-Post", "MIME-Version", "Content-Type"]


def test_an_encoded_word_title_in_a_feed_stays_literal_through_top(tmp_path, smtp_server):
    config = project(tmp_path, smtp_server)  # the starter config: subject = "{{ title }}: {{ top }}"
    shutil.copy(HOSTILE / "encoded_word_title.xml", config.parent / "articles")
    add(config, "ada@example.org", "--name", "Ada")
    result = run("--config", config, *SEND)
    assert result.exit_code == 0, result.output
    (received,) = smtp_server.messages
    assert header_names(received.data) == EXPECTED_HEADERS  # exactly what we wrote: no Reply-To
    message = parse(received.data)
    assert message["Subject"] == f"Editors' Picks: {INJECTION}"
    assert "Reply-To" not in message and message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    assert INJECTION in text and "An ordinary lede under an extraordinary headline." in text
    assert "Iran Gives in to Spy Mania" in message.get_body(("html",)).get_content()  # the rest of the body too
    eml = (config.parent / "outbox" / "daily" / "2024-10-11" / "message.eml").read_bytes()
    assert "Reply-To" not in header_names(eml) and parse(eml)["Subject"] == f"Editors' Picks: {INJECTION}"


def test_control_characters_in_a_title_never_reach_the_wire(tmp_path, smtp_server):
    config = project(tmp_path, smtp_server)
    shutil.copy(HOSTILE / "control_characters.json", config.parent / "articles")
    add(config, "ada@example.org")
    result = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-12")
    assert result.exit_code == 0, result.output
    (received,) = smtp_server.messages
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert not any(c in head for c in (b"\x1b", b"\x07", b"\x7f", b"\xc2\x85"))
    assert parse(received.data)["Subject"] == "Editors' Picks: Breaking [2J news from the wire"


# -- secrets ---------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_server_echoing_the_auth_line_never_puts_the_password_in_errors_or_logs(tmp_path, start_smtp,
                                                                                monkeypatch, caplog, mechanism):
    import base64
    import logging

    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", SMTP_PASSWORD)
    server = start_smtp(EchoingAuth(), auth=True, mechanisms=(mechanism,))  # AUTH over plain text: a test
    config = project(tmp_path, server, username=SMTP_USER)
    add(config, "ada@example.org")
    caplog.set_level(logging.DEBUG)
    result = run("--config", config, "-vv", *SEND)
    assert result.exit_code == 1 and "SMTP login as editor refused: 535 5.7.8 rejected" in result.stderr
    plain = base64.b64encode(f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode()).decode()
    forms = [SMTP_PASSWORD, plain.rstrip("="), base64.b64encode(SMTP_PASSWORD.encode()).decode().rstrip("=")]
    for text in (result.stdout, result.stderr, caplog.text):
        assert not any(form in text for form in forms)
    assert ("rejected: AUTH PLAIN ***" if mechanism == "PLAIN" else "rejected: ***") in result.stderr  # it did echo


# -- ids and tokens ---------------------------------------------------------------------------------

def test_a_removed_subscribers_id_is_never_reused_and_their_token_is_refused(tmp_path, smtp_server):
    config = project(tmp_path, smtp_server)
    add(config, "ada@example.org")
    add(config, "bob@example.org")
    loaded = load_config(config)
    with open_store(loaded) as store:
        key = secret_key(store)
        bob = store.subscribers.get("bob@example.org")
        token = make_token(key, bob.id, "daily", store.subscribers.salt(bob.id))
    assert run("--config", config, "subscribers", "remove", "bob@example.org").exit_code == 0
    add(config, "cy@example.org")
    with open_store(loaded) as store:
        cy = store.subscribers.get("cy@example.org")
        assert cy.id > bob.id
    refused = run("--config", config, "subscribers", "unsubscribe", "--token", token)
    assert refused.exit_code == 1 and "not genuine" in refused.stderr
    # Even where the id did come back (a database rebuilt from an export, say), the salt differs.
    with open_store(loaded) as store, store.subscribers.writer.begin() as conn:
        conn.execute(sa.text("INSERT INTO subscribers (id, email, status, topics, created, updated, salt) "
                             "VALUES (:id, 'dee@example.org', 'active', '[]', :now, :now, 'another-salt')"),
                     {"id": bob.id, "now": cy_created(store)})
    refused = run("--config", config, "subscribers", "unsubscribe", "--token", token)
    assert refused.exit_code == 1 and "not genuine" in refused.stderr
    listed = json.loads(run("--config", config, "subscribers", "list", "--json").stdout)
    assert {s["email"]: s["status"] for s in listed} == {e: "active" for e in ("ada@example.org", "cy@example.org",
                                                                                 "dee@example.org")}


def cy_created(store):
    from datetime import datetime

    return datetime(2024, 10, 11, 12, 0)


# -- private files ------------------------------------------------------------------------------------

def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outbox_maildir_lock_and_journal_are_owner_only(tmp_path, smtp_server):
    from newsletter.pipeline.common import journal_folder
    from newsletter.schedule import SchedulerLock
    from newsletter.store import Journal

    config = project(tmp_path, smtp_server)
    assert mode(config.parent / "outbox") == 0o700  # made by init
    add(config, "ada@example.org")
    assert run("--config", config, "build", "--date", "2024-10-11").exit_code == 0
    issue = config.parent / "outbox" / "daily" / "2024-10-11"
    assert [mode(p) for p in (issue.parent, issue)] == [0o700, 0o700]
    assert {p.name: mode(p) for p in issue.iterdir()} == {n: 0o600 for n in ("index.html", "message.eml",
                                                                          "message.txt")}
    config.write_text(config.read_text().replace('delivery = "outbox"', 'delivery = "maildir"'))
    assert run("--config", config, *SEND).exit_code == 0
    maildir = issue / "maildir"
    assert {mode(maildir / sub) for sub in ("tmp", "new", "cur")} == {0o700}
    (delivered,) = (maildir / "new").iterdir()
    assert mode(delivered) == 0o600 and b"To: ada@example.org" in delivered.read_bytes()
    loaded = load_config(config)
    with SchedulerLock.for_config(loaded) as lock:
        assert mode(lock.path) == 0o600
    journal = Journal.create(journal_folder(loaded), "host:1:test")
    try:
        assert mode(journal.path.parent) == 0o700 and mode(journal.path) == 0o600
        assert journal.path.stat().st_blocks * 512 >= 256 * 1024  # its space is reserved up front
    finally:
        journal.close()
    assert not journal.path.exists()  # nothing written: removed


def test_paths_that_were_there_keep_their_modes(tmp_path, smtp_server):
    # Owner-only applies to what newsletter makes; an outbox pointed at a file (think "/dev/null")
    # is an error naming it, and its mode, like a folder's that existed, is left as it was.
    config = project(tmp_path, smtp_server)
    taken = tmp_path / "not-a-folder"
    taken.write_text("x")
    taken.chmod(0o644)
    config.write_text(config.read_text().replace('outbox = "outbox"', f'outbox = "{taken}"'))
    result = run("--config", config, "build", "--date", "2024-10-11")
    assert result.exit_code == 1 and "it exists and is not a folder" in result.stderr and str(taken) in result.stderr
    assert result.stderr.count("\n") == 1 and mode(taken) == 0o644
    shared = tmp_path / "shared-outbox"
    shared.mkdir()
    shared.chmod(0o755)
    config.write_text(config.read_text().replace(f'outbox = "{taken}"', f'outbox = "{shared}"'))
    assert run("--config", config, "build", "--date", "2024-10-11").exit_code == 0
    assert mode(shared) == 0o755 and mode(shared / "daily") == 0o700


# -- one recipient's compose error, through the memory backend ------------------------------------------

def test_a_compose_error_for_one_recipient_is_recorded_for_them_alone(tmp_path, smtp_server):
    from newsletter.config import DELIVERIES
    from newsletter.deliver import BACKENDS, MemoryBackend

    assert set(DELIVERIES) == set(BACKENDS)  # the config accepts exactly the registered backends
    config = project(tmp_path, smtp_server)
    config.write_text(config.read_text().replace('delivery = "outbox"', 'delivery = "memory"'))
    for who in ("ada", "bob"):
        add(config, f"{who}@example.org")
    with open_store(load_config(config)) as store, store.subscribers.writer.begin() as conn:
        # An address no longer valid (stored by an older release, edited by hand): its domain has no IDNA form.
        conn.execute(sa.text("UPDATE subscribers SET email = 'x@exa mple.ünï' WHERE email = 'ada@example.org'"))
    MemoryBackend.clear()
    result = run("--config", config, *SEND)
    assert result.exit_code == 1 and "1 sent, 0 skipped, 1 failed" in result.stdout
    assert "failed: x@exa mple.ünï: cannot compose the message:" in result.stderr
    assert [m.recipients for m in MemoryBackend.sent] == [("bob@example.org",)]
    assert ledger(config) == {"x@exa mple.ünï": ("failed", True, 0), "bob@example.org": ("sent", False, 1)}


def test_secrets_are_masked_in_every_form():
    import base64
    from urllib.parse import quote

    from newsletter import masking

    secret = "pä$$ wörd/42+x"
    masking.register(secret, "editor")
    forms = [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode(),
             base64.b64encode(f"\0editor\0{secret}".encode()).decode(),
             base64.b64encode(b"ab" + secret.encode() + b"cd").decode()]  # inside a longer base64 string
    for form in forms:
        shown = masking.mask(f"535 rejected {form} (try again)")
        assert "***" in shown and shown.startswith("535 rejected ") and shown.endswith(" (try again)")
        assert secret not in shown and quote(secret, safe="") not in shown
    assert masking.mask("nothing secret here") == "nothing secret here"
