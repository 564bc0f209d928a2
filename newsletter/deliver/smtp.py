"""SMTP delivery: a few worker threads, each sending many finished messages over one reused connection.

Each connection has at most one message in flight, and sends its next one only once the
caller's on_result has returned (for a send through the ledger: once the result is durable).
With a server that offers PIPELINING a message takes two round trips instead of four (client.py).
A message that went out whole and got no reply is reported `unknown` and never retried here.
"""

from __future__ import annotations

import logging
import queue
import smtplib
import ssl
import threading
import time
from typing import Callable, Iterable

from newsletter.config import Config, Smtp
from newsletter.deliver.breaker import Breaker
from newsletter.deliver.client import Client, NoReply, SslClient
from newsletter.deliver.message import Outgoing, Result
from newsletter.errors import DeliveryError
from newsletter.masking import mask, register

log = logging.getLogger(__name__)

BACKOFF_BASE = 0.5  # seconds before the first retry; doubles each time
BACKOFF_CAP = 30.0
_END = object()  # tells a worker that no more messages are coming
_DROPPED = (ssl.SSLEOFError, ssl.SSLZeroReturnError)  # a TLS connection cut, not a TLS failure

Gate = Callable[[Outgoing], bool]  # asked before each attempt: False leaves the message unsent and unreported


class _Transient(Exception):
    """A failure worth another attempt: a 4xx reply, a dropped connection, a timeout."""

    def __init__(self, text: str, code: int | None = None, *, drop: bool = True, connecting: bool = False):
        super().__init__(text)
        self.text, self.code, self.drop, self.connecting = text, code, drop, connecting


class _Link:
    """One worker's connection, opened on first use and reopened after a drop."""

    conn: smtplib.SMTP | None = None

    def close(self, polite: bool = False) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            if polite:
                conn.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            conn.close()


class _Run:
    """What the workers of one send_all call share: the callback, its lock, the halt flag, the breaker."""

    def __init__(self, on_result: Callable[[Result], None], stop: threading.Event | None, gate: Gate | None,
                 breaker: Breaker):
        self.on_result, self.stop, self.gate, self.breaker = on_result, stop, gate, breaker
        self.halt = threading.Event()  # set on a fatal error or when the caller's stop is seen
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.sent = self.failed = 0

    def halted(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            self.halt.set()
        return self.halt.is_set()

    def report(self, result: Result) -> None:
        with self.lock:
            self.sent += result.ok
            self.failed += not result.ok
        # Not under the lock: the caller may wait here until its ledger row is on disk, and the
        # other connections' results must be able to join that same commit (one fsync for all).
        self.on_result(result)

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            self.error = self.error or exc
        self.halt.set()


class SmtpTransport:
    """Sends Outgoing messages through one SMTP server as configured by [smtp]."""

    personal = True  # one message per subscriber, each through the ledger

    def __init__(self, settings: Smtp, *, ssl_context: ssl.SSLContext | None = None,
                 sleep=time.sleep, clock=time.monotonic):
        self.settings = settings
        register(settings.password, settings.username)
        self._context = ssl_context or ssl.create_default_context()
        self._sleep, self._clock = sleep, clock
        self._where = f"{settings.host}:{settings.port}"
        self._bucket_lock = threading.Lock()
        self._next_slot: float | None = None

    @classmethod
    def from_config(cls, config: Config, digest: str, key: str, *, ssl_context: ssl.SSLContext | None = None,
                    **_) -> "SmtpTransport":
        if config.smtp is None:
            raise DeliveryError("no [smtp] table is configured", where=str(config.path),
                                hint="add [smtp] with host, port and security to send mail")
        return cls(config.smtp, ssl_context=ssl_context)

    def check(self) -> None:
        """Connect, log in and quit once; DeliveryError with the cause if that fails."""
        link = _Link()
        try:
            link.conn = self._open()
        except _Transient as exc:
            raise self._unreachable(exc) from None
        link.close(polite=True)

    def send_all(self, messages: Iterable[Outgoing], on_result: Callable[[Result], None],
                 stop: threading.Event | None = None, gate: Gate | None = None) -> None:
        """Send every message, calling on_result once per message as soon as the server has answered."""
        run = _Run(on_result, stop, gate, Breaker(self.settings.give_up_after, self._clock))
        count = self.settings.connections
        # Bounded, so a generator of any length is read only as fast as the workers send.
        jobs: queue.Queue = queue.Queue(maxsize=count)
        # Not daemons: even if the caller is interrupted, each finishes and reports its message.
        workers = [threading.Thread(target=self._work, args=(jobs, run), name=f"smtp-{i}") for i in range(count)]
        started = self._clock()
        for worker in workers:
            worker.start()
        try:
            for message in messages:
                if not self._put(jobs, message, run):
                    break
            for _ in workers:
                if not self._put(jobs, _END, run):
                    break
        except BaseException as exc:  # the generator failed, or Ctrl-C landed here
            run.fail(exc)
            raise
        finally:
            for worker in workers:
                worker.join()
        log.info("SMTP %s: %d sent, %d failed in %.1fs", self._where, run.sent, run.failed,
                 self._clock() - started)
        if run.error is not None:
            raise run.error

    def _put(self, jobs: queue.Queue, item: object, run: _Run) -> bool:
        while not run.halted():
            try:
                jobs.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, jobs: queue.Queue, run: _Run) -> None:
        link = _Link()
        try:
            while not run.halted():
                try:
                    message = jobs.get(timeout=0.2)  # a timeout, so a halted run never strands a worker
                except queue.Empty:
                    continue
                # Checked again: a message taken after stop is left unsent and unreported.
                if message is _END or run.halted():
                    break
                result = self._deliver(link, message, run)
                if result is not None:
                    run.report(result)
        except BaseException as exc:  # a fatal DeliveryError, or on_result itself failed
            run.fail(exc)
        finally:
            link.close(polite=True)

    def _deliver(self, link: _Link, message: Outgoing, run: _Run) -> Result | None:
        attempts, reached = 0, False
        last = _Transient("not attempted")  # replaced by each failed attempt's cause
        while True:
            attempts += 1
            earlier = reached  # an earlier attempt reached the server (and was refused)
            try:
                self._wait_out_breaker(run, last)
                self._take_slot(run)
                if run.halted() or (run.gate is not None and not run.gate(message)):
                    return None  # never sent: the caller gives the message back
                if link.conn is None:
                    link.conn = self._open()
                reached = True
                result = self._transaction(link, message, attempts)
                if result.unknown:  # a server that never answers must trip the breaker too
                    run.breaker.failure(None, result.error, True)
                else:
                    run.breaker.success()
                return result
            except DeliveryError:
                if earlier:  # the run stops, and the caller must hear how this message's attempts ended
                    run.report(Result(message.key, False, False, last.code, last.text, attempts))
                raise
            except _Transient as exc:
                last = exc
            except (OSError, smtplib.SMTPException) as exc:  # disconnect, reset, timeout
                last = _Transient(self._line(exc))
            run.breaker.failure(last.code, last.text, attempts == 1)
            if last.drop:
                link.close()
            if attempts > self.settings.retries or run.halted():
                break
            delay = min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_CAP)
            log.warning("SMTP %s: %s; retry %d of %d in %.1fs", self._where, last.text, attempts,
                        self.settings.retries, delay)
            self._pause(delay, run)
        # A message that never reached an open session was never sent: leave it unreported.
        result = Result(message.key, False, False, last.code, last.text, attempts) if reached else None
        if last.connecting and not run.halted():
            # The server cannot be reached at all: trying the rest of the list would only repeat that.
            if result is not None:
                run.report(result)
            raise self._unreachable(last)
        return result

    def _wait_out_breaker(self, run: _Run, last: _Transient) -> None:
        wait = run.breaker.wait()
        if wait is None:
            raise DeliveryError(f"the SMTP server refused every message for {self.settings.give_up_after:g} s "
                                f"(last: {run.breaker.last or last.text}); stopped, and nothing was recorded as "
                                "permanently failed", where=self._where,
                                hint="run the same command later: only those who have not had it get it")
        if wait > 0:
            log.warning("SMTP %s: the server refuses messages (%s); pausing %.0fs", self._where, run.breaker.last,
                        wait)
            self._pause(wait, run)

    def _transaction(self, link: _Link, message: Outgoing, attempts: int) -> Result:
        conn = link.conn
        if not message.recipients:
            return Result(message.key, False, True, None, "no recipients", attempts)
        options: tuple[str, ...] = ()
        if message.smtputf8:
            if not conn.has_extn("smtputf8"):
                return Result(message.key, False, True, None, "the address is not ASCII before the @ and the SMTP "
                              "server does not offer SMTPUTF8, which it needs", attempts)
            options = ("SMTPUTF8",)
        # With PIPELINING the DATA reply is already in: a 354 means the server now reads the message.
        replies = conn.envelope(message.sender, options, message.recipients) if conn.has_extn("pipelining") else None
        code, reply = replies[0] if replies is not None else conn.mail(message.sender, options)
        if code != 250:
            self._leave_data(link, replies)
            if code // 100 == 5:
                self._reset(link)
                # The sender is the same for every message: refusing it refuses them all.
                raise DeliveryError(f"the SMTP server refused the sender {message.sender}: "
                                    f"{self._line(code, reply)}", where=self._where,
                                    hint="check newsletter.from, and smtp.username if the server wants a login")
            return self._refused(link, message, code, reply, attempts)
        refused = []
        for i, rcpt in enumerate(message.recipients):
            code, reply = replies[1 + i] if replies is not None else conn.rcpt(rcpt)
            if code not in (250, 251):
                refused.append((rcpt, code, reply))
        named = self._line("; ".join(f"{rcpt}: {self._line(code, reply)}" for rcpt, code, reply in refused))
        # Some accepted: send to them and name the refused in the Result, even for a 4xx, since
        # retrying the message would send it twice to those who got it.
        if len(refused) == len(message.recipients):
            # A 4xx for any of them is worth retrying; none was accepted, so nobody gets two.
            _, code, reply = ([r for r in refused if r[1] // 100 != 5] or refused)[0]
            self._leave_data(link, replies)
            return self._refused(link, message, code, reply, attempts, named)
        try:
            if replies is None:
                code, reply = conn.data(message.data)
            elif replies[-1][0] != 354:
                raise smtplib.SMTPDataError(*replies[-1])
            else:
                code, reply = conn.payload(message.data)
        except smtplib.SMTPDataError as exc:  # the DATA command itself refused, before the payload
            code, reply = exc.smtp_code, exc.smtp_error
        except NoReply as exc:
            # The server may have kept the message: sending it again could give a second copy,
            # not sending it could lose it. Neither is chosen here: the caller records it as unknown.
            link.close()
            log.warning("SMTP %s: %s", self._where, exc)
            return Result(message.key, False, False, None, f"{exc}; it may have been delivered", attempts, unknown=True)
        if code // 100 != 2:
            return self._refused(link, message, code, reply, attempts)
        log.debug("SMTP %s: sent %r to %d recipient(s)", self._where, message.key, len(message.recipients))
        return Result(message.key, True, False, code, f"refused: {named}" if refused else None, attempts)

    def _refused(self, link: _Link, message: Outgoing, code: int, reply, attempts: int,
                 text: str | None = None) -> Result:
        text = text or self._line(code, reply)
        if code == 421:  # the server is closing this connection
            raise _Transient(text, code)
        self._reset(link)
        if code // 100 != 5:
            raise _Transient(text, code, drop=False)
        return Result(message.key, False, True, code, text, attempts)

    @staticmethod
    def _leave_data(link: _Link, replies: list[tuple[int, bytes]] | None) -> None:
        """A pipelined DATA was accepted for a message that must not go: closing before the final dot sends nothing."""
        if replies is not None and replies[-1][0] == 354:
            link.close()

    def _reset(self, link: _Link) -> None:
        if link.conn is None:  # closed already: the next attempt opens a fresh session
            return
        try:
            link.conn.rset()
        except (OSError, smtplib.SMTPException):
            link.close()

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.username and s.password is None:
            raise DeliveryError(f"smtp.username is {s.username} but NEWSLETTER_SMTP_PASSWORD is not set",
                                hint="export NEWSLETTER_SMTP_PASSWORD before sending")
        conn = None
        try:
            if s.security == "ssl":
                conn = SslClient(s.host, s.port, timeout=s.timeout, context=self._context)
            else:
                conn = Client(s.host, s.port, timeout=s.timeout)
            conn.data_timeout = s.data_timeout
            conn.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    # Never fall back to plain text: that would hand the password to anyone listening.
                    raise DeliveryError("the SMTP server does not offer STARTTLS", where=self._where,
                                        hint='use security = "ssl" (port 465) if it speaks TLS directly')
                conn.starttls(context=self._context)
                conn.ehlo()
            if s.username:
                self._login(conn)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, ssl.SSLError) and not isinstance(exc, _DROPPED):
                reason = getattr(exc, "verify_message", None) or exc.reason or exc
                raise DeliveryError(f"TLS with the SMTP server failed: {self._line(reason)}", where=self._where,
                                    hint="check smtp.host (it must match the certificate) and smtp.security") from None
            if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code // 100 == 5:
                raise DeliveryError(f"the SMTP server refused us: {self._line(exc)}", where=self._where) from None
            if isinstance(exc, (OSError, smtplib.SMTPException)):  # e.g. a 421 greeting
                raise _Transient(self._line(exc), getattr(exc, "smtp_code", None), connecting=True) from None
            raise
        log.info("SMTP %s: connected (%s)", self._where, s.security)
        return conn

    def _login(self, conn: smtplib.SMTP) -> None:
        user = self.settings.username
        try:
            conn.login(user, self.settings.password)
        except smtplib.SMTPServerDisconnected:
            raise  # a network failure, not a refusal: _open treats it as transient
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError("the SMTP server offers no AUTH on this connection", where=self._where,
                                hint='servers often offer it only over TLS: set security = "starttls"') from None
        except smtplib.SMTPException as exc:
            if getattr(exc, "smtp_code", 0) // 100 == 4:  # e.g. 454: the server's auth backend is down
                raise _Transient(self._line(exc), exc.smtp_code, connecting=True) from None
            verb = "refused" if isinstance(exc, smtplib.SMTPAuthenticationError) else "failed"
            raise DeliveryError(f"SMTP login as {user} {verb}: {self._line(exc)}", where=self._where,
                                hint="check smtp.username and NEWSLETTER_SMTP_PASSWORD") from None

    def _take_slot(self, run: _Run) -> None:
        # A token bucket holding one token, shared by all workers: message starts are spaced
        # 1/rate apart, so a stall never turns into a burst that a provider would refuse.
        if self.settings.rate_limit <= 0:
            return
        with self._bucket_lock:
            now = self._clock()
            slot = now if self._next_slot is None else max(self._next_slot, now)
            self._next_slot = slot + 1.0 / self.settings.rate_limit
        if slot > now:
            self._pause(slot - now, run)

    def _pause(self, seconds: float, run: _Run) -> None:
        if self._sleep is not time.sleep:  # an injected sleep (tests): call it as given
            self._sleep(seconds)
            return
        # The real wait wakes early on stop, so Ctrl-C is not held up by a 30 s backoff.
        end = time.monotonic() + seconds
        while not run.halted() and (left := end - time.monotonic()) > 0:
            run.halt.wait(min(left, 0.2))

    def _unreachable(self, exc: _Transient) -> DeliveryError:
        return DeliveryError(f"cannot connect to the SMTP server: {exc.text}", where=self._where,
                             hint="check smtp.host, smtp.port and smtp.security")

    def _line(self, *parts) -> str:
        """One line of text for an error or a log; the password is masked even if a server echoes it."""
        if len(parts) == 1 and isinstance(parts[0], smtplib.SMTPResponseException):
            parts = (parts[0].smtp_code, parts[0].smtp_error)
        if len(parts) == 1 and isinstance(parts[0], OSError) and parts[0].strerror:
            parts = (parts[0].strerror,)
        if len(parts) == 1 and isinstance(parts[0], BaseException) and not str(parts[0]):
            parts = (type(parts[0]).__name__,)
        texts = [p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in parts]
        return mask(" ".join(" ".join(texts).split()) or "no reason given")
