"""What `newsletter serve` asks of the pipeline: tokens resolved, unsubscribes, sign-ups and their
confirmation mails, preferences, and pages rendered with the theme. The rules live in store and tokens."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from newsletter import compose
from newsletter.config import Config
from newsletter.deliver import BACKENDS, MaildirBackend, Outgoing, Result
from newsletter.errors import DeliveryError, NewsletterError, SubscriberError
from newsletter.masking import mask_address
from newsletter.pipeline.common import open_store, sending
from newsletter.pipeline.deliveries import envelope_sender
from newsletter.pipeline.send import secret_key
from newsletter.store import Limits, Signup, Store, new_worker_id, normalise_address
from newsletter.tokens import parse_token, read_token

log = logging.getLogger(__name__)

MAIL_BATCH = 20
# A request waits this long for another process's lock (SQLite's write lock, PostgreSQL's row locks: a long
# `subscribers import`), then answers 503: with the few database threads all waiting out the commands' 10 s
# (on PostgreSQL: the whole import), every page, even /healthz, stalled behind two requests. A send's own
# writes are short enough to get through in it.
BUSY_TIMEOUT_MS = 1500


@dataclass(frozen=True)
class Reader:
    """A subscriber as the pages reached by their token show them."""

    subscriber_id: int
    masked: str
    digest: str  # the digest the token was made for
    digests: tuple[str, ...]  # the ones they get
    topics: tuple[str, ...]
    everything: bool  # unsubscribed from everything


class Web:
    """One serve process's link to the store and the theme; every method is safe to call from threads."""

    def __init__(self, config: Config, base_url: str | None = None):
        self.config = config
        self._base_url = config.public_url or (base_url or "http://127.0.0.1:8080").rstrip("/")
        self.store: Store = open_store(config, busy_timeout_ms=BUSY_TIMEOUT_MS)
        self.key = secret_key(self.store)
        self.form_key = hmac.new(self.key, b"serve-forms", hashlib.sha256).digest()
        self.env = compose.load_theme(config)
        self.worker = new_worker_id()  # this process's name on the mail rows it claims

    def close(self) -> None:
        self.store.close()

    # -- pages -----------------------------------------------------------------

    def page(self, name: str, context: dict) -> str:
        """A page of the theme's web/ folder (the user's theme overrides it file by file)."""
        # root: the path of public_url ("" at the root of a host), which the pages' own links start with, so
        # they work behind a proxy that serves the app under a path (https://example.org/news).
        root = urlsplit(self.config.public_url or "").path.rstrip("/")
        return compose.render_template(self.env, f"web/{name}", {"title": self.config.title, "root": root, **context},
                                       self.config)

    def theme_file(self, name: str) -> str:
        """The text of a theme file (the stylesheet of the pages)."""
        return self.env.loader.get_source(self.env, f"web/{name}")[0]

    def offered_digests(self) -> list[tuple[str, str]]:
        """(name, title) of the digests the sign-up and preferences forms offer."""
        names = self.config.serve.digests or tuple(sorted(self.config.digests))
        return [(n, self.config.digests[n].title) for n in names]

    def offered_topics(self) -> list[str]:
        """The topics a reader may choose: those of the offered digests, or every known topic."""
        chosen = [t for n, _ in self.offered_digests() for t in self.config.digests[n].topics]
        if chosen and all(self.config.digests[n].topics for n, _ in self.offered_digests()):
            return sorted(set(chosen), key=str.lower)
        return [row.name for row in self.store.topic_counts()]

    # -- tokens and unsubscribes -----------------------------------------------

    def reader(self, token: str) -> Reader | None:
        """The reader a genuine unsubscribe token names; None for a forged or orphaned one."""
        found = read_token(self.key, token, self.store.subscribers.salt)
        if found is None:
            return None
        subscriber = self.store.subscribers.get_by_id(found[0])
        if subscriber is None:
            return None
        return Reader(subscriber.id, mask_address(subscriber.email), found[1], subscriber.digests, subscriber.topics,
                      subscriber.status == "unsubscribed")

    def one_click_target(self, token: str) -> tuple[int, str] | bool:
        """RFC 8058: the (subscriber, digest) a genuine token leaves; True when they have left already (one read,
        no write: mail clients and scanners repeat the POST); False for a token that is not genuine."""
        stated = parse_token(token)
        known = self.store.web.membership(*stated) if stated else None
        if known is None or read_token(self.key, token, lambda _: known[0]) is None:
            return False
        return True if known[1] else stated

    def leave(self, pairs: list[tuple[int, str]]) -> None:
        """Unsubscribe these (subscriber, digest) pairs in one commit."""
        self.store.web.leave_digests(pairs)

    def one_click(self, token: str) -> bool:
        """Leave the token's digest now; False (and nothing done) for a token that is not genuine."""
        target = self.one_click_target(token)
        if isinstance(target, tuple):
            self.leave([target])
        return target is not False

    def unsubscribe_everything(self, token: str) -> bool:
        found = read_token(self.key, token, self.store.subscribers.salt)
        if found is None:
            return False
        self.store.subscribers.unsubscribe(found[0], None)
        return True

    def save_preferences(self, token: str, digests: list[str], topics: list[str]) -> Reader | None:
        """Set the reader's digests (of those offered) and topics; None for a token that is not genuine."""
        found = read_token(self.key, token, self.store.subscribers.salt)
        if found is None:
            return None
        offered = [n for n, _ in self.offered_digests()]
        known = {t.lower(): t for t in self.offered_topics()}
        chosen = [known[t.lower()] for t in topics if t.lower() in known]
        self.store.web.set_choices(found[0], offered, [d for d in digests if d in offered], chosen)
        return self.reader(token)

    # -- sign-ups --------------------------------------------------------------

    def sign_up(self, email: str, digests: list[str], topics: list[str], client: str) -> bool:
        """Queue a confirmation mail for a pending sign-up; False when a rate limit held it back.

        SubscriberError for an address that is not valid (the form says so; it tells nothing about others).
        """
        address = normalise_address(email)
        offered = [n for n, _ in self.offered_digests()]
        chosen = [d for d in digests if d in offered] or offered[:1]
        known = {t.lower(): t for t in self.offered_topics()}
        picked = [known[t.lower()] for t in topics if t.lower() in known]
        serve = self.config.serve
        hours = int(serve.confirm_expiry.total_seconds() // 3600)

        def message(token: str) -> bytes:
            link = f"{self.base_url()}/confirm/{token}"
            titles = [self.config.digests[d].title for d in chosen]
            return compose.confirmation_message(self.config, address, link, titles, hours)

        limits = Limits(client=serve.client_limit, address=serve.address_limit, expiry=serve.confirm_expiry)
        return self.store.web.request_signup(address, chosen, picked, client=client, limits=limits, message=message)

    def base_url(self) -> str:
        """Where the app is reached: public_url, else the address it listens on (never the request's Host)."""
        return self._base_url

    def pending(self, token: str) -> Signup | None:
        return self.store.web.pending(token)

    def confirm(self, token: str) -> bool:
        """Make the sign-up a subscriber; False for an unknown or expired link."""
        try:
            return self.store.web.confirm(token) is not None
        except SubscriberError as exc:  # e.g. an address the editor removed by hand meanwhile
            log.warning("confirmation refused: %s", exc)
            return False

    # -- the confirmation mail queue -------------------------------------------

    def send_queued_mail(self) -> int:
        """Send the confirmation mails due now, claimed by this process; how many were claimed.

        A refusal or an unreachable server leaves the mail for a later try (doubling waits).
        """
        worker = self.worker
        # [smtp] lease, as for deliveries: after it, another instance sends what a dead one had claimed
        # (a mail the server took just before the death goes out twice; one is never lost).
        mails = self.store.web.claim_mail(worker, MAIL_BATCH, timedelta(seconds=sending(self.config).lease))
        if not mails:
            return 0
        retry = self.config.serve.mail_retry
        reported: set[int] = set()

        def done(result: Result) -> None:
            reported.add(result.key)
            self.store.web.mail_done(result.key, worker, ok=result.ok, error=result.error,
                                     permanent=result.permanent, retry=retry)

        sender = envelope_sender(self.config)
        outgoing = []
        for mail in mails:
            envelope, smtputf8 = compose.ascii_address(mail.recipient)
            outgoing.append(Outgoing(key=mail.id, sender=sender, recipients=(envelope,), data=mail.data,
                                     smtputf8=smtputf8))
        try:
            self._backend().send_all(outgoing, done)
        except (NewsletterError, OSError) as exc:
            log.warning("confirmation mails not sent: %s", exc)
            error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
            for mail in mails:
                if mail.id not in reported:
                    self.store.web.mail_done(mail.id, worker, ok=False, error=error, retry=retry)
        return len(mails)

    def _backend(self):
        if self.config.serve.delivery == "smtp":
            return BACKENDS["smtp"].from_config(self.config, "confirmations", "queue")
        # The outbox delivers nobody anything: each confirmation is kept as a mail file for the editor.
        return MaildirBackend(self.config.outbox / "_confirmations")
