"""Real SMTP servers for tests: aiosmtpd on 127.0.0.1 (plain, STARTTLS, TLS, AUTH, misbehaving),
certificates made by trustme, and Postfix's C smtp-sink for benchmarks.

Use the fixtures (import them into a test module or list this module in `pytest_plugins`):
`smtp_server` (plain, recording), `smtp_starttls_server`, `smtp_ssl_server`, `smtp_auth_server`
(STARTTLS + AUTH as SMTP_USER/SMTP_PASSWORD), `smtp_counting_server`, `start_smtp` (a factory:
`start_smtp(Recorder(...), security="starttls", auth=True)`), `smtp_tls` (the CA and the client
context trusting it) and `smtp_sink` (Postfix; skipped when absent). Each server has `.settings()`
giving the `Smtp` config that reaches it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from newsletter.config import Smtp

try:
    from aiosmtpd.smtp import MISSING as MISSING_AUTH
except ImportError:  # pragma: no cover - aiosmtpd missing: the SMTP tests are skipped anyway
    MISSING_AUTH = object()

HOST = "127.0.0.1"
SMTP_USER = "editor"
SMTP_PASSWORD = "s3cr3t-Pa55-word-71"  # distinctive, so a test can search for leaks
SMTP_SINK_PATHS = ("/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink", "/usr/libexec/postfix/smtp-sink")


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    peer: tuple
    mail_options: tuple[str, ...] = ()


class Recorder:
    """An aiosmtpd handler that records what it accepts and misbehaves on request.

    tempfail_rcpt / tempfail_data: answer 451 to the first `tempfail_times` RCPT / DATA for these recipients.
    reject: answer 550 to RCPT for these recipients, always.
    drop: close the connection instead of answering the first DATA for these recipients;
    with drop_after_store the message is recorded first (the server kept it, the client never
    heard), otherwise it is not (the server lost it).
    count_only: keep a count, not the messages (for long runs and benchmarks).
    on_message: called (in the server thread) after each message is recorded.
    mail_reply / rcpt_reply: when set, the reply to every MAIL / RCPT (e.g. "421 4.3.2 go away"),
    counted in `tries`; set them back to None to let the server accept again.
    reply_delay: seconds between keeping a message and answering its DATA (a slow final reply).
    pipelining: offer PIPELINING in the EHLO reply, as real relays do (aiosmtpd reads pipelined
    commands one by one, so only the client's side changes); False for a server without it.
    """

    def __init__(self, *, tempfail_rcpt=(), tempfail_data=(), tempfail_times=1, reject=(), drop=(),
                 drop_after_store=False, count_only=False, on_message=None, mail_reply=None, rcpt_reply=None,
                 reply_delay=0.0, pipelining=True):
        self.tempfail_rcpt, self.tempfail_data = set(tempfail_rcpt), set(tempfail_data)
        self.tempfail_times = tempfail_times
        self.reject, self.drop, self.drop_after_store = set(reject), set(drop), drop_after_store
        self.count_only, self.on_message = count_only, on_message
        self.mail_reply, self.rcpt_reply, self.reply_delay = mail_reply, rcpt_reply, reply_delay
        self.pipelining = pipelining
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        self.count = 0
        self.sessions: set = set()  # client (host, port) of each connection that sent MAIL
        self.tries: Counter = Counter()  # (command, recipient) -> times seen
        self.received = threading.Condition(self.lock)

    def _early(self, command: str, address: str, times: int = 1) -> bool:
        """Count this try; True while it is one of the first `times`."""
        with self.lock:
            self.tries[command, address] += 1
            return self.tries[command, address] <= times

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.sessions.add(session.peer)
            self.tries["MAIL", address] += 1
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            self._early("RCPT", address)
            return self.rcpt_reply
        if address in self.reject:
            return "550 5.1.1 no such user"
        if address in self.tempfail_rcpt and self._early("RCPT", address, self.tempfail_times):
            return "451 4.3.0 try again"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpts = tuple(envelope.rcpt_tos)
        if any(r in self.tempfail_data for r in rcpts) and self._early("DATA", rcpts[0], self.tempfail_times):
            return "451 4.3.0 try again"
        if any(r in self.drop for r in rcpts) and self._early("DROP", rcpts[0]):
            if self.drop_after_store:
                self._store(envelope, rcpts, session)
            server.transport.close()
            await asyncio.sleep(30)  # cancelled when the connection is gone: no reply ever goes out
            return "421 4.3.0 unreachable"
        self._store(envelope, rcpts, session)
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)  # the server's own slowness, not the test waiting
        return "250 2.0.0 OK"

    def _store(self, envelope, rcpts, session) -> None:
        with self.received:
            self.count += 1
            if not self.count_only:
                self.messages.append(Received(envelope.mail_from, rcpts, envelope.original_content, session.peer,
                                              tuple(envelope.mail_options)))
            self.received.notify_all()
        if self.on_message is not None:
            self.on_message(self)

    def by_recipient(self) -> Counter:
        """How many times each recipient got a message."""
        with self.lock:
            return Counter(r for m in self.messages for r in m.rcpt_tos)

    def tried(self, command: str) -> int:
        """How many times the server saw this command (MAIL, RCPT, ...)."""
        with self.lock:
            return sum(n for (c, _), n in self.tries.items() if c == command)

    def wait_for(self, count: int, timeout: float = 10) -> bool:
        """Block until `count` messages have arrived (or the timeout); no polling."""
        with self.received:
            return self.received.wait_for(lambda: self.count >= count, timeout)


@dataclass
class TestServer:
    host: str
    port: int
    security: str
    handler: Recorder | None = None
    username: str | None = None
    client_context: ssl.SSLContext | None = None
    extra: dict = field(default_factory=dict)

    __test__ = False  # not a test class, despite the name

    def settings(self, **overrides) -> Smtp:
        """The [smtp] settings that reach this server; keyword arguments override fields."""
        base = Smtp(host=self.host, port=self.port, security=self.security, username=self.username,
                    rate_limit=0, connections=1, timeout=10, retries=3)
        return replace(base, **overrides)

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)


@dataclass
class TlsFixture:
    ca: object  # trustme.CA
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext


def make_tls(*names: str) -> TlsFixture:
    """A fresh CA, a server certificate for `names` (default 127.0.0.1 and localhost), a client trusting the CA."""
    import trustme

    ca = trustme.CA()
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*(names or (HOST, "localhost"))).configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return TlsFixture(ca, server, client)


def _authenticator(user: str, password: str):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        # handled=False: let aiosmtpd answer 535 itself (True would leave the client waiting).
        return AuthResult(success=ok, handled=False)

    return check


def _controller_class():
    from aiosmtpd.controller import Controller

    class FreePortController(Controller):
        """Binds port 0 and learns the port the kernel gave, so no two tests race for one."""

        def _trigger_server(self):
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    return FreePortController


class EchoingAuth(Recorder):
    """A server that refuses every login and, as some do, echoes the client's AUTH lines in its reply."""

    async def handle_AUTH(self, server, session, envelope, args):
        if args[0].upper() == "LOGIN":  # AUTH LOGIN <user>; the password comes as its own line
            password = await server.challenge_auth("Password:")
            if password is MISSING_AUTH:
                return None
            return f"535 5.7.8 rejected: {base64.b64encode(password).decode()}"
        return f"535 5.7.8 rejected: AUTH {' '.join(args)}"


@contextlib.contextmanager
def serve(handler: Recorder | None = None, *, security: str = "none", tls: TlsFixture | None = None,
          auth: bool = False, smtputf8: bool = False, mechanisms: tuple[str, ...] | None = None):
    """Run an aiosmtpd server on 127.0.0.1 for the `with` block; yields a TestServer.

    smtputf8: offer SMTPUTF8. mechanisms: the AUTH mechanisms offered (default: aiosmtpd's).
    """
    handler = handler or Recorder()
    kwargs: dict = {"server_hostname": "smtp.test", "ready_timeout": 10, "enable_SMTPUTF8": smtputf8}
    if mechanisms is not None:
        kwargs["auth_exclude_mechanism"] = [m for m in ("LOGIN", "PLAIN") if m not in mechanisms]
    if security != "none":
        tls = tls or make_tls()
        if security == "starttls":
            kwargs.update(tls_context=tls.server_context, require_starttls=True)
        else:
            kwargs.update(ssl_context=tls.server_context)
    if auth:
        kwargs.update(authenticator=_authenticator(SMTP_USER, SMTP_PASSWORD), auth_required=True,
                      auth_require_tls=security != "none")
    controller = _controller_class()(handler, hostname=HOST, port=0, **kwargs)
    controller.start()
    try:
        yield TestServer(HOST, controller.port, security, handler, SMTP_USER if auth else None,
                         tls.client_context if tls else None)
    finally:
        controller.stop()


def find_smtp_sink() -> str | None:
    """The path of Postfix's smtp-sink, or None."""
    for path in SMTP_SINK_PATHS:
        if Path(path).is_file():
            return path
    return shutil.which("smtp-sink")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def smtp_sink_server(backlog: int = 64, delay: float | None = None):
    """Run Postfix's C smtp-sink on a free port (it discards everything); yields a TestServer.

    delay: seconds smtp-sink waits before it answers each DATA command (its -w), a slow server.
    """
    path = find_smtp_sink()
    if path is None:
        raise FileNotFoundError("smtp-sink (Postfix) is not installed")
    port = _free_port()
    command = [path, "-h", "sink.test"] + (["-w", f"{delay:g}"] if delay else [])
    if os.geteuid() == 0:
        command += ["-u", "nobody"]  # smtp-sink refuses to run as root without a user to become
    command += [f"{HOST}:{port}", str(backlog)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            _await_banner(port, proc)
            yield TestServer(HOST, port, "none")
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def _await_banner(port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    # A readiness probe: connect until the greeting arrives (the process needs a moment to listen).
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"smtp-sink exited: {proc.stderr.read().decode(errors='replace').strip()}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                if sock.recv(64).startswith(b"220"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"smtp-sink did not answer on {HOST}:{port}")
        time.sleep(0.02)


# -- pytest fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def smtp_tls() -> TlsFixture:
    """One test CA and server certificate for the session (making keys is the slow part)."""
    pytest.importorskip("trustme")
    return make_tls()


@pytest.fixture
def start_smtp(smtp_tls):
    """A factory: start_smtp(handler=None, security="none"|"starttls"|"ssl", auth=False, ...) -> TestServer."""
    with contextlib.ExitStack() as stack:
        def start(handler: Recorder | None = None, *, security: str = "none", auth: bool = False,
                  tls: TlsFixture | None = None, **options) -> TestServer:
            return stack.enter_context(serve(handler, security=security, tls=tls or smtp_tls, auth=auth, **options))
        yield start


@pytest.fixture
def smtp_server(start_smtp) -> TestServer:
    return start_smtp()


@pytest.fixture
def smtp_starttls_server(start_smtp) -> TestServer:
    return start_smtp(security="starttls")


@pytest.fixture
def smtp_ssl_server(start_smtp) -> TestServer:
    return start_smtp(security="ssl")


@pytest.fixture
def smtp_auth_server(start_smtp, monkeypatch) -> TestServer:
    """STARTTLS + AUTH; NEWSLETTER_SMTP_PASSWORD is set to the right password."""
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", SMTP_PASSWORD)
    return start_smtp(security="starttls", auth=True)


@pytest.fixture
def smtp_counting_server(start_smtp) -> TestServer:
    return start_smtp(Recorder(count_only=True))


@pytest.fixture
def smtp_sink() -> TestServer:
    """Postfix's smtp-sink on a free port; the test is skipped when Postfix is not installed."""
    if find_smtp_sink() is None:
        pytest.skip("Postfix's smtp-sink is not installed")
    with smtp_sink_server() as server:
        yield server
