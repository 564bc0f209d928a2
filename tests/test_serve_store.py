"""The serve tables with a fixed clock: confirmation links expire, rate limits roll over, a mail claimed by an
instance that died is taken over after its lease, retries back off, and a sent mail keeps no link."""

from __future__ import annotations

from datetime import datetime, timedelta

from newsletter.pipeline import open_store
from newsletter.store import Limits

from tests.conftest import config_from, write_config

T0 = datetime(2024, 10, 11, 9, 0)
LIMITS = Limits(client=100, address=3, expiry=timedelta(hours=48))


def store_of(tmp_path):
    return open_store(config_from(write_config(tmp_path / "p")))


def sign_up(store, address="ada@example.org", now=T0, client="198.51.100.7", limits=LIMITS):
    tokens = []

    def message(token: str) -> bytes:
        tokens.append(token)
        return f"To: {address}\r\n\r\nhttps://news.example.org/confirm/{token}\r\n".encode()

    ok = store.web.request_signup(address, ["daily"], [], client=client, limits=limits, message=message, now=now)
    return tokens[0] if ok else None


def test_confirmation_links_expire_and_are_spent_once(tmp_path):
    with store_of(tmp_path) as store:
        first, second = sign_up(store), sign_up(store, now=T0 + timedelta(hours=1))
        assert store.web.pending(first, now=T0 + timedelta(hours=47)) is not None
        assert store.web.pending(first, now=T0 + timedelta(hours=48, seconds=1)) is None
        assert store.web.confirm(first, now=T0 + timedelta(hours=48, seconds=1)) is None
        assert store.subscribers.get("ada@example.org") is None  # pending is not a subscriber
        assert store.web.confirm(second, now=T0 + timedelta(hours=2)).email == "ada@example.org"
        assert store.web.confirm(second, now=T0 + timedelta(hours=2)) is None
        assert store.web.pending(first, now=T0 + timedelta(hours=3)) is None  # every link of the address is spent


def test_address_limit_rolls_over_after_a_day(tmp_path):
    with store_of(tmp_path) as store:
        sent = [sign_up(store, now=T0 + timedelta(minutes=n), client=f"203.0.113.{n}") for n in range(5)]
        assert [t is not None for t in sent] == [True, True, True, False, False]
        assert sign_up(store, now=T0 + timedelta(days=1, minutes=1), client="203.0.113.99") is not None


def test_a_dead_instances_claim_is_taken_over_after_its_lease(tmp_path):
    with store_of(tmp_path) as store:
        sign_up(store)
        lease = timedelta(minutes=10)
        mine = store.web.claim_mail("a", 10, lease, now=T0)
        assert len(mine) == 1 and store.web.claim_mail("b", 10, lease, now=T0 + timedelta(minutes=9)) == []
        taken = store.web.claim_mail("b", 10, lease, now=T0 + timedelta(minutes=11))
        assert [m.id for m in taken] == [mine[0].id]
        store.web.mail_done(mine[0].id, "a", ok=True, now=T0 + timedelta(minutes=12))  # too late: not a's now
        assert store.web.mail_counts() == {"claimed": 1}
        store.web.mail_done(taken[0].id, "b", ok=True, now=T0 + timedelta(minutes=12))
        assert store.web.mail_counts() == {"sent": 1}
        assert store.web.claim_mail("c", 10, lease, now=T0 + timedelta(hours=5)) == []


def test_failed_mails_back_off_doubling_and_keep_no_link_once_sent(tmp_path):
    with store_of(tmp_path) as store:
        sign_up(store)
        now, retry = T0, timedelta(minutes=1)
        for wait in (1, 2, 4):
            [mail] = store.web.claim_mail("a", 10, timedelta(minutes=10), now=now)
            store.web.mail_done(mail.id, "a", ok=False, error="421 try later", retry=retry, now=now)
            assert store.web.claim_mail("a", 10, timedelta(minutes=10), now=now + timedelta(minutes=wait) -
                                        timedelta(seconds=1)) == []
            now += timedelta(minutes=wait)
        [mail] = store.web.claim_mail("a", 10, timedelta(minutes=10), now=now)
        assert b"/confirm/" in mail.data and mail.attempts == 3
        store.web.mail_done(mail.id, "a", ok=True, now=now)
        import sqlalchemy as sa

        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT data FROM mail_queue")).scalar() == b""
