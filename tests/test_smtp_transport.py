"""SmtpTransport against real SMTP servers (aiosmtpd on 127.0.0.1): delivery, TLS, AUTH, retries, stop."""

from __future__ import annotations

import logging
import socket
import threading
import traceback
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.config import Smtp
from newsletter.deliver.client import dot_stuffed
from newsletter.deliver.smtp import BACKOFF_CAP, Outgoing, Result, SmtpTransport
from newsletter.errors import DeliveryError
from tests.smtpd import SMTP_PASSWORD, SMTP_USER, Recorder, TestServer, _free_port, make_tls

SENDER = "editors@example.org"


def rcpt(i: int) -> str:
    return f"reader{i}@example.net"


def message(i: int, *recipients: str) -> Outgoing:
    recipients = recipients or (rcpt(i),)
    data = (f"From: Editors <{SENDER}>\r\nTo: {recipients[0]}\r\nSubject: Issue {i}\r\n"
            f"X-Key: {i}\r\n\r\nHello {i}.\r\n.a line that starts with a dot\r\n\xe9t\xe9\r\n").encode()
    return Outgoing(key=i, sender=SENDER, recipients=tuple(recipients), data=data)


class Collector:
    """A thread-safe on_result that records results (calls from several connections may overlap)."""

    def __init__(self, then=None):
        self.results: list[Result] = []
        self.busy = threading.Lock()
        self.threads: set[str] = set()
        self.then = then

    def __call__(self, result: Result) -> None:
        with self.busy:
            self.results.append(result)
            self.threads.add(threading.current_thread().name)
        if self.then:
            self.then(self, result)

    def by_key(self) -> dict:
        return {r.key: r for r in self.results}


class FakeTime:
    """An injected clock and sleep: sleeps are recorded, never slept."""

    def __init__(self, frozen: bool = False):
        self.now = 1000.0
        self.frozen = frozen
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            if not self.frozen:
                self.now += seconds


def transport(server: TestServer, fake: FakeTime | None = None, **settings) -> SmtpTransport:
    fake = fake or FakeTime()
    return SmtpTransport(server.settings(**settings), ssl_context=server.client_context,
                         sleep=fake.sleep, clock=fake.clock)


def run_in_thread(target, timeout: float = 30):
    """Run target() in a thread and join it with a timeout: a hang fails the test instead of blocking it."""
    box = {}

    def body():
        try:
            target()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "send_all did not return"
    return box.get("error")


@pytest.fixture(params=[True, False], ids=["pipelining", "no-pipelining"])
def start_smtp(request, start_smtp):
    """Every server of this module twice: offering PIPELINING (as relays do) and not (one command at a time)."""
    def start(handler: Recorder | None = None, **options) -> TestServer:
        handler = handler or Recorder()
        handler.pipelining = request.param
        return start_smtp(handler, **options)
    return start


class WireServer:
    """A bare SMTP server on a socket, to see how commands arrive: each read from the client is kept.

    Offering PIPELINING, it answers a transaction's commands only once MAIL, RCPT and DATA are
    all in (so a client that waited for each reply would hang and fail the test); without, one
    command at a time.
    """

    def __init__(self, pipelining: bool, rcpt_reply: bytes = b"250 ok", mail_reply: bytes = b""):
        self.pipelining, self.rcpt_reply, self.reads, self.bodies = pipelining, rcpt_reply, [], []
        self.mail_reply = mail_reply  # set: the reply to MAIL, after which the server hangs up
        self.closed_in_data = False
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(10)
            buffer = b""

            def lines(count: int) -> list[bytes]:
                nonlocal buffer
                while buffer.count(b"\r\n") < count:
                    chunk = conn.recv(65536)
                    if not chunk:
                        raise EOFError
                    self.reads.append(chunk)
                    buffer += chunk
                got = buffer.split(b"\r\n")[:count]
                buffer = b"\r\n".join(buffer.split(b"\r\n")[count:])
                return got

            conn.sendall(b"220 wire ready\r\n")
            try:
                while True:
                    command = lines(1)[0].upper()
                    if command.startswith(b"EHLO"):
                        conn.sendall(b"250-wire\r\n" + (b"250-PIPELINING\r\n" if self.pipelining else b"")
                                     + b"250 8BITMIME\r\n")
                    elif command.startswith(b"MAIL"):
                        if self.mail_reply:
                            conn.sendall(self.mail_reply + b"\r\n")
                            return
                        if self.pipelining:
                            lines(2)  # RCPT and DATA must already be on their way
                            # 354 even after a refused RCPT, as a careless server might
                            conn.sendall(b"250 ok\r\n" + self.rcpt_reply + b"\r\n354 go\r\n")
                        else:
                            conn.sendall(b"250 ok\r\n")
                    elif command.startswith(b"RCPT"):
                        conn.sendall(b"250 ok\r\n")
                    elif command.startswith(b"DATA"):
                        conn.sendall(b"354 go\r\n")
                    elif command == b"QUIT":
                        conn.sendall(b"221 bye\r\n")
                        return
                    else:
                        continue
                    if command.startswith(b"MAIL" if self.pipelining else b"DATA"):
                        while b"\r\n.\r\n" not in buffer:
                            chunk = conn.recv(65536)
                            if not chunk:
                                self.closed_in_data = True
                                return
                            self.reads.append(chunk)
                            buffer += chunk
                        body, buffer = buffer.split(b"\r\n.\r\n", 1)
                        self.bodies.append(body)
                        conn.sendall(b"250 kept\r\n")
            except (EOFError, OSError):
                return


@pytest.mark.parametrize("pipelining", [True, False])
def test_pipelining_sends_the_envelope_in_one_write_when_offered(pipelining):
    server = WireServer(pipelining)
    got = Collector()
    smtp = SmtpTransport(Smtp(host="127.0.0.1", port=server.port, security="none", connections=1),
                         sleep=FakeTime().sleep, clock=FakeTime().clock)
    assert run_in_thread(lambda: smtp.send_all(iter([message(1), message(2)]), got), timeout=20) is None
    assert [r.ok for r in got.results] == [True, True]
    assert len(server.bodies) == 2 and b".a line that starts with a dot" in server.bodies[0]
    envelopes = [r for r in server.reads if r.upper().startswith(b"MAIL")]
    assert len(envelopes) == 2
    if pipelining:  # MAIL, RCPT and DATA in one read: one round trip
        assert all(e.upper().count(b"\r\n") == 3 and e.upper().endswith(b"DATA\r\n") for e in envelopes)
    else:
        assert all(e.count(b"\r\n") == 1 for e in envelopes)


def test_pipelined_data_accepted_for_a_refused_recipient_is_abandoned_before_the_final_dot():
    server = WireServer(True, rcpt_reply=b"550 5.1.1 no such user")
    got = Collector()
    smtp = SmtpTransport(Smtp(host="127.0.0.1", port=server.port, security="none", connections=1),
                         sleep=FakeTime().sleep, clock=FakeTime().clock)
    assert run_in_thread(lambda: smtp.send_all(iter([message(1)]), got), timeout=20) is None
    server.thread.join(10)
    assert [(r.ok, r.permanent, r.code) for r in got.results] == [(False, True, 550)]
    assert server.closed_in_data and server.bodies == []  # the connection closed, so nothing was delivered


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_sender_refused_by_a_server_that_then_hangs_up_stops_the_run_with_its_reply(pipelining):
    server = WireServer(pipelining, mail_reply=b"554 5.7.1 sender not allowed")
    got = Collector()
    smtp = SmtpTransport(Smtp(host="127.0.0.1", port=server.port, security="none", connections=1),
                         sleep=FakeTime().sleep, clock=FakeTime().clock)
    error = run_in_thread(lambda: smtp.send_all(iter([message(1)]), got), timeout=20)
    assert isinstance(error, DeliveryError) and "554 5.7.1 sender not allowed" in str(error)
    assert got.results == [] and server.bodies == []


# -- delivery ----------------------------------------------------------------------------------

def test_results_of_two_connections_are_reported_concurrently(smtp_server):
    # The caller's group commit relies on this: one connection waiting in on_result (for its
    # ledger row to reach the disk) must not hold back the other connection's result.
    first_waiting, other_reported = threading.Event(), threading.Event()
    seen = []

    def on_result(result: Result) -> None:
        seen.append(result.key)
        if len(seen) == 1:
            first_waiting.set()
            assert other_reported.wait(10), "a second connection's result never arrived"
        else:
            other_reported.set()

    transport(smtp_server, connections=2).send_all(iter([message(0), message(1)]), on_result)
    assert sorted(seen) == [0, 1] and first_waiting.is_set()


@pytest.mark.parametrize("connections", [1, 3])
def test_plain_delivery_each_message_once_bytes_intact(smtp_server, connections):
    sent = [message(i) for i in range(20)]
    got = Collector()
    transport(smtp_server, connections=connections).send_all(iter(sent), got)

    assert sorted(r.key for r in got.results) == list(range(20))
    assert all(r.ok and r.code == 250 and r.attempts == 1 and r.error is None for r in got.results)
    received = {m.rcpt_tos: m for m in smtp_server.messages}
    assert len(smtp_server.messages) == 20 and len(received) == 20
    for m in sent:
        assert received[m.recipients].data == m.data  # dot-stuffing undone, 8-bit bytes kept
        assert received[m.recipients].mail_from == SENDER
    assert all(name.startswith("smtp-") for name in got.threads)  # reported from the workers


@given(st.lists(st.binary(max_size=6).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=8),
       st.booleans())
def test_dot_stuffing_is_undone_by_the_server_rule(lines, crlf_at_end):
    msg = b"\r\n".join(lines) + (b"\r\n" if crlf_at_end else b"")
    out = dot_stuffed(msg)
    assert out.endswith(b"\r\n.\r\n")
    body = out[:-len(b".\r\n")].split(b"\r\n")[:-1]  # the lines before the final dot
    assert b"." not in body  # no line could end the message early
    unstuffed = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in body) + b"\r\n"
    assert unstuffed == (msg if msg.endswith(b"\r\n") else msg + b"\r\n")


def test_one_connection_is_reused_for_all_messages(smtp_server):
    transport(smtp_server, connections=1).send_all((message(i) for i in range(20)), Collector())
    assert len(smtp_server.messages) == 20
    assert len(smtp_server.handler.sessions) == 1


def test_three_connections_open_at_most_three_sessions(smtp_server):
    transport(smtp_server, connections=3).send_all((message(i) for i in range(30)), Collector())
    assert len(smtp_server.messages) == 30
    assert 1 <= len(smtp_server.handler.sessions) <= 3


def test_several_recipients_in_one_message(smtp_server):
    got = Collector()
    transport(smtp_server).send_all([message(1, "a@example.net", "b@example.net")], got)
    assert got.results[0].ok
    assert [m.rcpt_tos for m in smtp_server.messages] == [("a@example.net", "b@example.net")]


# -- TLS ---------------------------------------------------------------------------------------

def test_starttls_delivery(smtp_starttls_server):
    got = Collector()
    transport(smtp_starttls_server, connections=2).send_all([message(i) for i in range(5)], got)
    assert all(r.ok for r in got.results) and len(got.results) == 5
    assert len(smtp_starttls_server.messages) == 5


def test_implicit_tls_delivery(smtp_ssl_server):
    got = Collector()
    transport(smtp_ssl_server, connections=2).send_all([message(i) for i in range(5)], got)
    assert all(r.ok for r in got.results) and len(got.results) == 5
    assert len(smtp_ssl_server.messages) == 5


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_untrusted_certificate_is_refused_by_default(start_smtp, security):
    server = start_smtp(security=security)
    plain = SmtpTransport(server.settings(retries=0))  # no ssl_context: the system's trust store
    with pytest.raises(DeliveryError) as caught:
        plain.check()
    assert "TLS" in str(caught.value) and f"{server.host}:{server.port}" in str(caught.value)
    got = Collector()
    with pytest.raises(DeliveryError, match="certificate"):
        plain.send_all([message(1)], got)
    assert got.results == [] and server.messages == []


def test_certificate_for_another_host_is_refused(start_smtp):
    tls = make_tls("mail.other.example")
    server = start_smtp(security="ssl", tls=tls)
    with pytest.raises(DeliveryError, match="TLS"):
        transport(server).check()
    assert server.messages == []


def test_starttls_required_but_not_offered_never_falls_back(smtp_server):
    got = Collector()
    with pytest.raises(DeliveryError, match="STARTTLS"):
        transport(smtp_server, security="starttls").send_all([message(1)], got)
    assert got.results == [] and smtp_server.messages == []


# -- AUTH --------------------------------------------------------------------------------------

def test_auth_with_the_right_password_delivers(smtp_auth_server):
    t = transport(smtp_auth_server)
    t.check()
    got = Collector()
    t.send_all([message(i) for i in range(3)], got)
    assert [r.ok for r in got.results] == [True] * 3
    assert len(smtp_auth_server.messages) == 3


def test_wrong_password_stops_the_run_and_never_shows_the_password(smtp_auth_server, monkeypatch, caplog):
    wrong = "Wr0ng-but-distinctive-8812"
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", wrong)
    caplog.set_level(logging.DEBUG)
    taken = []

    def messages():
        for i in range(1000):
            taken.append(i)
            yield message(i)

    got = Collector()
    with pytest.raises(DeliveryError) as caught:
        transport(smtp_auth_server, connections=2).send_all(messages(), got)
    text = str(caught.value)
    assert f"SMTP login as {SMTP_USER} refused: 535" in text
    assert got.results == [] and smtp_auth_server.messages == []
    assert len(taken) < 10  # stopped at once, not after burning through the list
    with pytest.raises(DeliveryError) as checked:
        transport(smtp_auth_server).check()
    for exc in (caught.value, checked.value):
        shown = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc.hint)
        assert wrong not in shown and SMTP_PASSWORD not in shown
    assert wrong not in caplog.text


def test_username_without_password_env_is_a_clear_error(smtp_auth_server, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_SMTP_PASSWORD")
    with pytest.raises(DeliveryError, match="NEWSLETTER_SMTP_PASSWORD"):
        transport(smtp_auth_server).check()


def test_password_is_masked_in_results_and_logs(smtp_server, monkeypatch, caplog):
    # A server that echoes the password in a refusal (some do echo input): it must still not leak.
    password = "echo-me-Pa55-0042"
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", password)
    server = smtp_server
    bad = f"{password}@example.net"
    server.handler.reject.add(bad)
    caplog.set_level(logging.DEBUG, logger="newsletter")
    got = Collector()
    transport(server).send_all([message(1, bad)], got)
    (result,) = got.results
    assert not result.ok and password not in result.error and "***" in result.error
    assert password not in caplog.text


# -- transient and permanent failures ------------------------------------------------------------

@pytest.mark.parametrize("where", ["data", "rcpt"])
def test_451_once_is_retried_and_delivered_once(start_smtp, where):
    handler = Recorder(**{f"tempfail_{where}": {rcpt(3)}})
    server = start_smtp(handler)
    fake = FakeTime()
    got = Collector()
    transport(server, fake).send_all([message(i) for i in range(6)], got)
    results = got.by_key()
    assert results[3].ok and results[3].attempts == 2
    assert all(results[i].ok and results[i].attempts == 1 for i in (0, 1, 2, 4, 5))
    assert server.handler.by_recipient()[rcpt(3)] == 1
    assert fake.sleeps == [0.5]


def test_transient_failures_give_up_after_retries_with_capped_backoff(start_smtp):
    server = start_smtp(Recorder(tempfail_data={rcpt(1)}, tempfail_times=100))
    fake = FakeTime()
    got = Collector()
    transport(server, fake, retries=8).send_all([message(1), message(2)], got)
    failed, other = got.by_key()[1], got.by_key()[2]
    assert (failed.ok, failed.permanent, failed.code, failed.attempts) == (False, False, 451, 9)
    assert "451 4.3.0 try again" in failed.error
    assert other.ok and server.handler.by_recipient() == Counter({rcpt(2): 1})
    assert fake.sleeps == [0.5, 1, 2, 4, 8, 16, BACKOFF_CAP, BACKOFF_CAP]


def test_550_for_one_recipient_fails_that_message_and_the_run_goes_on(start_smtp):
    server = start_smtp(Recorder(reject={rcpt(2)}))
    fake = FakeTime()
    got = Collector()
    transport(server, fake).send_all([message(i) for i in range(5)], got)
    results = got.by_key()
    bad = results[2]
    assert (bad.ok, bad.permanent, bad.code, bad.attempts) == (False, True, 550, 1)
    assert "550 5.1.1 no such user" in bad.error and "\n" not in bad.error
    assert all(results[i].ok for i in (0, 1, 3, 4))
    assert sorted(server.handler.by_recipient()) == sorted(rcpt(i) for i in (0, 1, 3, 4))
    assert fake.sleeps == []  # a permanent refusal is not retried


def test_partial_refusal_delivers_to_the_others_and_names_the_refused(start_smtp):
    server = start_smtp(Recorder(reject={"gone@example.net"}))
    got = Collector()
    transport(server).send_all([message(1, "a@example.net", "gone@example.net"),
                                message(2, "gone@example.net")], got)
    partial, refused = got.by_key()[1], got.by_key()[2]
    assert partial.ok and "gone@example.net" in partial.error and "550" in partial.error
    assert not refused.ok and refused.permanent
    assert [m.rcpt_tos for m in server.messages] == [("a@example.net",)]


@pytest.mark.parametrize("stored", [False, True])
def test_a_connection_dropped_after_the_whole_message_is_unknown_and_not_retried(start_smtp, stored):
    # The server got the whole message and closed the connection before its reply: it may
    # have kept it (stored) or not. The client cannot tell, so it neither resends nor calls
    # it failed: the caller records it as unknown (resent only on request).
    handler = Recorder(drop={rcpt(2)}, drop_after_store=stored)
    server = start_smtp(handler)
    fake = FakeTime()
    got = Collector()
    transport(server, fake).send_all([message(i) for i in range(5)], got)
    results = got.by_key()
    dropped = results[2]
    assert (dropped.ok, dropped.unknown, dropped.permanent, dropped.attempts) == (False, True, False, 1)
    assert "closed before the server answered" in dropped.error
    assert all(results[i].ok and results[i].attempts == 1 for i in (0, 1, 3, 4))
    counts = server.handler.by_recipient()
    assert counts[rcpt(2)] == (1 if stored else 0)
    assert all(counts[rcpt(i)] == 1 for i in (0, 1, 3, 4))
    assert len(server.handler.sessions) == 2  # reconnected once, for the messages after it
    assert fake.sleeps == []


def test_unreachable_server_raises_naming_host_and_port():
    port = _free_port()  # nothing listens there
    server = TestServer("127.0.0.1", port, "none")
    fake = FakeTime()
    got = Collector()
    with pytest.raises(DeliveryError) as caught:
        transport(server, fake, retries=2).send_all([message(1), message(2)], got)
    assert f"127.0.0.1:{port}" in str(caught.value) and "refused" in str(caught.value)
    assert got.results == []  # never sent, so not reported
    assert fake.sleeps == [0.5, 1.0]
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}"):
        transport(server).check()


def test_an_exception_in_on_result_stops_the_run(smtp_server):
    def boom(collector, result):
        raise RuntimeError("ledger is gone")

    with pytest.raises(RuntimeError, match="ledger is gone"):
        transport(smtp_server, connections=2).send_all((message(i) for i in range(100)), Collector(boom))
    assert len(smtp_server.messages) <= 2


# -- rate limit ----------------------------------------------------------------------------------

def test_rate_limit_spaces_messages_over_all_connections(smtp_server):
    fake = FakeTime(frozen=True)  # the clock never moves, so each wait shows its slot exactly
    transport(smtp_server, fake, connections=3, rate_limit=10).send_all([message(i) for i in range(12)],
                                                                        Collector())
    assert len(smtp_server.messages) == 12
    assert sorted(fake.sleeps) == pytest.approx([k / 10 for k in range(1, 12)])


def test_rate_limit_with_a_moving_clock(smtp_server):
    fake = FakeTime()
    transport(smtp_server, fake, rate_limit=4).send_all([message(i) for i in range(9)], Collector())
    assert fake.sleeps == pytest.approx([0.25] * 8)


def test_no_rate_limit_never_sleeps(smtp_server):
    fake = FakeTime()
    transport(smtp_server, fake, connections=2).send_all([message(i) for i in range(10)], Collector())
    assert fake.sleeps == [] and len(smtp_server.messages) == 10


# -- stop and laziness ---------------------------------------------------------------------------

def test_stop_event_finishes_in_flight_messages_and_returns(smtp_server):
    stop = threading.Event()

    def stop_after_five(collector, result):
        if len(collector.results) == 5:
            stop.set()

    got = Collector(stop_after_five)
    t = transport(smtp_server, connections=2)
    error = run_in_thread(lambda: t.send_all((message(i) for i in range(200)), got, stop))
    assert error is None
    reported = Counter(r.key for r in got.results)
    assert 5 <= len(got.results) <= 5 + 1  # the other connection may finish its one message
    assert all(n == 1 for n in reported.values()) and all(r.ok for r in got.results)
    received = Counter(m.rcpt_tos[0] for m in smtp_server.messages)
    # Every reported message was received once, and nothing was received unreported:
    # the in-flight message of each connection is finished and reported before send_all returns.
    assert received == Counter(rcpt(k) for k in reported)


def test_stop_set_before_start_sends_nothing(smtp_server):
    stop = threading.Event()
    stop.set()
    got = Collector()
    transport(smtp_server, connections=2).send_all((message(i) for i in range(10)), got, stop)
    assert got.results == [] and smtp_server.messages == []


def test_a_long_generator_is_read_lazily(start_smtp):
    server = start_smtp(Recorder(count_only=True))
    yielded = 0
    gaps = []

    def messages():
        nonlocal yielded
        for i in range(2000):
            yielded += 1
            yield message(i)

    def watch(collector, result):
        # Taken from the generator but not yet reported: queued, in flight, or held by the feeder.
        gaps.append(yielded - (len(collector.results) - 1))

    got = Collector(watch)
    connections = 2
    t = transport(server, connections=connections)
    assert run_in_thread(lambda: t.send_all(messages(), got), timeout=120) is None
    assert gaps[0] < 10  # the first result came long before the generator was drained
    assert max(gaps) <= 2 * connections + 1  # the queue never grows with the list
    assert len(got.results) == 2000 and len({r.key for r in got.results}) == 2000
    assert server.handler.count == 2000



def test_delivers_to_postfix_smtp_sink(smtp_sink):
    # A C server with its own quirks (PIPELINING, XCLIENT...): results only, it keeps nothing.
    got = Collector()
    transport(smtp_sink, connections=2).send_all((message(i) for i in range(20)), got)
    assert sorted(r.key for r in got.results) == list(range(20)) and all(r.ok for r in got.results)
