"""Claims, leases and results of the ledger, on a real database, with a fixed monotonic clock."""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.errors import StoreBusyError
from newsletter.store import CLAIMED, SENT, Journal, LedgerSession, Outcome, Store, new_worker_id


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issue(tmp_path: Path, pg_or_sqlite_url):
    with Store(pg_or_sqlite_url) as store:
        for i in range(10):
            store.subscribers.add(f"r{i}@example.org", digests=["daily"])
        issue = store.record_issue("daily", "2024-10-11", date(2024, 10, 11), [], "Subject", None)
        store.ledger.queue_missing(issue.id, "daily")
        yield store, issue.id


@pytest.fixture
def pg_or_sqlite_url(tmp_path):
    import os

    return os.environ.get("NEWSLETTER_DATABASE") or f"sqlite:///{tmp_path / 'claims.db'}"


def session(store: Store, issue_id: int, folder: Path, clock=None, lease: float = 30) -> LedgerSession:
    worker = new_worker_id()
    return LedgerSession(store.ledger, issue_id, "daily", lease=lease, patience=1,
                         journal=Journal.create(folder, worker), worker=worker,
                         started=datetime.now(timezone.utc).replace(tzinfo=None), clock=clock or Clock())


def states(store: Store, issue_id: int) -> dict[str, int]:
    counts = store.ledger.counts([issue_id])[issue_id]
    return {k: v for k, v in vars(counts).items() if v}


def test_claims_are_exclusive_and_unsent_ones_are_given_back(issue, tmp_path):
    store, issue_id = issue
    first, second = session(store, issue_id, tmp_path / "j"), session(store, issue_id, tmp_path / "j")
    try:
        mine, theirs = first.claim(3), second.claim(100)
        assert len(mine) == 3 and len(theirs) == 7
        assert not {r.delivery_id for r in mine} & {r.delivery_id for r in theirs}
        assert second.claim(100) == []  # nothing left, and nothing is claimed twice
        first.record(Outcome(mine[0].delivery_id, SENT, 1))
    finally:
        first.close()
    assert states(store, issue_id) == {"sent": 1, "queued": 2, "claimed": 7}  # first's two unsent are back
    second.close()
    assert states(store, issue_id) == {"sent": 1, "queued": 9}


def test_a_claim_taken_over_is_never_sent_and_a_stale_lease_stops_the_sender(issue, tmp_path, caplog):
    store, issue_id = issue
    clock = Clock()
    mine = session(store, issue_id, tmp_path / "j", clock, lease=30)
    try:
        rows = mine.claim(2)
        lost, kept = rows[0].delivery_id, rows[1].delivery_id
        assert mine.may_send(lost) and mine.may_send(kept)
        with store.ledger.writer.begin() as conn:  # another sender took it over (its lease had run out there)
            conn.execute(sa.text("UPDATE deliveries SET claimed_by = 'elsewhere:1:x' WHERE id = :id"), {"id": lost})
        clock.now += 11  # past the renewal time (a third of the lease)
        assert mine.claim(0) == []  # any request lets the writer renew on its way
        assert not mine.may_send(lost) and mine.may_send(kept)
        caplog.set_level(logging.WARNING)
        mine.record(Outcome(lost, SENT, 1))  # a late result of a lost claim changes nothing
        assert "not recorded: another sender took over" in caplog.text
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT status, claimed_by FROM deliveries WHERE id = :id"),
                                {"id": lost}).one() == (CLAIMED, "elsewhere:1:x")
        clock.now += 20  # no renewal since: less than half the lease is left
        with pytest.raises(StoreBusyError, match="could not renew this send's claims"):
            mine.may_send(kept)
    finally:
        mine.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_results_are_written_alike_on_both_databases_and_only_by_the_holder(backend, tmp_path, request):
    from newsletter.store import FAILED, UNKNOWN
    from newsletter.store.tables import deliveries

    url = f"sqlite:///{tmp_path / 'r.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    with Store(url) as store:
        for i in range(5):
            store.subscribers.add(f"r{i}@example.org", digests=["daily"])
        issue = store.record_issue("daily", "2024-10-11", date(2024, 10, 11), [], "Subject", None)
        store.ledger.queue_missing(issue.id, "daily")
        far = datetime(2100, 1, 1)
        mine = store.ledger.claim(issue.id, "daily", "me", 4, lease_until=far, started=far)
        theirs = store.ledger.claim(issue.id, "daily", "other", 1, lease_until=far, started=far)
        a, b, c, d = (r.delivery_id for r in mine)
        written = store.ledger.record_many("me", [
            Outcome(a, SENT, 1, None, "<a@x>"), Outcome(b, FAILED, 2, "451 try later"),
            Outcome(c, FAILED, 1, "550 no such user", permanent=True), Outcome(d, UNKNOWN, 1, "no reply"),
            Outcome(theirs[0].delivery_id, SENT, 1, None, "<e@x>")])  # not this worker's row
        assert written == 4
        with store.engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(sa.select(deliveries))}
    assert (rows[a].status, rows[a].attempts, rows[a].message_id, rows[a].retry_after) == (SENT, 1, "<a@x>", None)
    assert (rows[b].status, rows[b].attempts, rows[b].last_error, rows[b].permanent) == (FAILED, 2, "451 try later",
                                                                                         False)
    assert rows[b].retry_after is not None  # a transient failure: a later run retries it
    assert (rows[c].permanent, rows[c].retry_after) == (True, None)
    assert rows[d].status == UNKNOWN
    assert all(rows[x].claimed_by is None and rows[x].lease_until is None for x in (a, b, c, d))
    assert (rows[theirs[0].delivery_id].status, rows[theirs[0].delivery_id].claimed_by) == (CLAIMED, "other")


def _issue_of(store: Store, digest: str, members: int, sent: int) -> int:
    """An issue of `digest` with `members` queued rows, the first `sent` of them already sent."""
    from newsletter.store.tables import deliveries, subscriber_digests, subscribers

    now = datetime(2024, 10, 11)
    with store.engine.begin() as conn:
        first = conn.execute(sa.select(sa.func.coalesce(sa.func.max(subscribers.c.id), 0))).scalar() + 1
        conn.execute(subscribers.insert(), [dict(id=first + i, email=f"{digest}{i}@example.org", status="active",
                                                 topics="[]", created=now, updated=now, salt="")
                                            for i in range(members)])
        conn.execute(subscriber_digests.insert(),
                     [dict(subscriber_id=first + i, digest=digest) for i in range(members)])
    issue = store.record_issue(digest, "2024-10-11", date(2024, 10, 11), [], "Subject", None)
    assert store.ledger.queue_missing(issue.id, digest) == members  # PostgreSQL said -1 before preserve_rowcount
    with store.engine.begin() as conn:
        conn.execute(deliveries.update().where(deliveries.c.issue_id == issue.id,
                                               deliveries.c.subscriber_id < first + sent).values(status=SENT))
    return issue.id


def _reading(store: Store, claim) -> int:
    """How much reading `claim()` took: SQLite's virtual machine steps (in tens); on PostgreSQL, the ledger rows
    its statements read, from EXPLAIN ANALYZE of each, run again in a transaction that is rolled back."""
    statements, steps = [], [0]

    def count() -> int:
        steps[0] += 1
        return 0

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))
        if conn.dialect.name == "sqlite":
            conn.connection.driver_connection.set_progress_handler(count, 10)

    sa.event.listen(store.engine, "before_cursor_execute", before)
    try:
        claim()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", before)
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:  # the pool's connection: no handler left behind
            conn.connection.driver_connection.set_progress_handler(None, 0)
        return steps[0]

    def rows_read(node: dict) -> int:
        own = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * node.get("Actual Loops", 1) \
            if node.get("Relation Name") == "deliveries" else 0
        return own + sum(rows_read(child) for child in node.get("Plans", []))

    total = 0
    with store.engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters).scalar()
            total += rows_read(plan[0]["Plan"])
        conn.rollback()
    return total


def test_a_claim_reads_about_as_much_near_the_end_of_a_long_issue_as_in_a_short_one(pg_or_sqlite_url):
    """A claim finds the rows still to send through an index of those rows alone: it used to walk past every
    row already sent (and SQLite read the digest's whole member list), so each claim of a long issue cost more
    the further the send had come."""
    with Store(pg_or_sqlite_url) as store:
        short, long = _issue_of(store, "short", 300, 250), _issue_of(store, "long", 6000, 5950)
        if store.engine.dialect.name == "postgresql":
            with store.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
        far = datetime(2100, 1, 1)
        work = {}
        for name, issue_id in (("short", short), ("long", long)):
            got = []
            work[name] = _reading(store, lambda: got.extend(store.ledger.claim(issue_id, name, "w", 20, lease_until=far,
                                                                                 started=far)))
            assert len(got) == 20 and all(p.email.startswith(name) for p in got)
    assert work["long"] < 2 * work["short"], work


def test_a_claim_skips_subscribers_who_left_after_the_send_began(issue):
    """Who unsubscribes while a send runs is not sent the issue: their rows are skipped when claimed, and a
    claim whose rows all belong to people who left skips all such rows and goes on instead of ending the send."""
    from newsletter.store import SKIPPED

    store, issue_id = issue
    ids = [store.subscribers.get(f"r{i}@example.org").id for i in range(10)]
    for sid in ids[:3]:
        store.subscribers.unsubscribe(sid, ["daily"])  # from this digest
    store.subscribers.unsubscribe(ids[5])  # from everything
    far = datetime(2100, 1, 1)
    first = store.ledger.claim(issue_id, "daily", "w", 3, lease_until=far, started=far)
    # r0-r2 were claimed and had all left: every row of someone who left (r5 too) was skipped at once.
    assert [p.email for p in first] == ["r3@example.org", "r4@example.org", "r6@example.org"]
    rest = store.ledger.claim(issue_id, "daily", "w", 10, lease_until=far, started=far)
    assert [p.email for p in rest] == [f"r{i}@example.org" for i in (7, 8, 9)]
    assert store.ledger.claim(issue_id, "daily", "w", 10, lease_until=far, started=far) == []
    with store.engine.connect() as conn:
        skipped = conn.execute(sa.text("SELECT subscriber_id, last_error, claimed_by FROM deliveries "
                                       "WHERE status = :s ORDER BY subscriber_id"), {"s": SKIPPED}).all()
    assert [(r.subscriber_id, r.claimed_by) for r in skipped] == [(ids[i], None) for i in (0, 1, 2, 5)]
    assert {r.last_error for r in skipped} == {"no longer subscribed to this digest"}


def test_rows_that_may_have_gone_out_are_left_alone_when_their_subscriber_left(issue):
    """An unknown delivery and a dead sender's claim may have reached the subscriber already: once the
    subscriber has left they are neither claimed nor skipped, and a journal that says the message went out
    is recorded even over a row skipped because its subscriber left."""
    from newsletter.store import SKIPPED, UNKNOWN

    store, issue_id = issue
    rows = {r.email: r for r in store.ledger.claim(issue_id, "daily", "dead:1:x", 10, lease_until=datetime(2000, 1, 1),
                                                   started=datetime(2000, 1, 1))}
    store.ledger.record_many("dead:1:x", [Outcome(rows["r0@example.org"].delivery_id, UNKNOWN, 1, "no reply")])
    for i in (0, 1, 2):  # r0: unknown; r1: still claimed by the dead sender; r2: queued again below
        store.subscribers.unsubscribe(rows[f"r{i}@example.org"].subscriber_id, ["daily"])
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE deliveries SET status = 'queued', claimed_by = NULL, lease_until = NULL "
                             "WHERE id = :id"), {"id": rows["r2@example.org"].delivery_id})
    later = datetime(2100, 1, 1)
    got = store.ledger.claim(issue_id, "daily", "w", 100, lease_until=later, started=later, retry_unknown=True)
    assert sorted(p.email for p in got) == [f"r{i}@example.org" for i in range(3, 10)]
    with store.engine.connect() as conn:
        status = dict(conn.execute(sa.text("SELECT subscriber_id, status FROM deliveries")).all())
    assert [status[rows[f"r{i}@example.org"].subscriber_id] for i in (0, 1, 2)] == [UNKNOWN, "claimed", SKIPPED]
    # The sender of r2 had in fact sent it before it died, and kept that in its journal.
    assert store.ledger.replay("dead:1:x", [Outcome(rows["r2@example.org"].delivery_id, SENT, 1, None, "<r2@x>")]) == 1
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM deliveries WHERE id = :id"),
                            {"id": rows["r2@example.org"].delivery_id}).scalar() == SENT
