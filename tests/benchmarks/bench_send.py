"""Send benchmark: 10,000 subscribers over 8 topic variants to a local sink that only counts.

Run: python tests/benchmarks/bench_send.py [--subscribers 10000] [--connections 4] [--naive 300]
The sink is Postfix's C smtp-sink when installed (apt-get install postfix), else an aiosmtpd
counting server (which tops out near 200 messages a second and would hide our own speed).
Printed beside each figure, measured in the same run, is a baseline:

- compose, and compose + send + ledger: a naive sender that per recipient renders, inlines
  with premailer, builds an EmailMessage and opens a new SMTP connection;
- claims: the same send (same messages, transport and group-committed results) without
  claims, leases or conditional writes, as sends were made before claims (goal: <= 15% slower);
- latency-bound: a sink that holds each reply for one second (smtp-sink -w 1) with
  `connections = 20`, against the ideal of 20 messages a second (goal: >= 0.9 of it);
- peak memory of a whole send at 2,500 and 20,000 subscribers (goal: flat);
- a ledger commit with SQLite synchronous=NORMAL and =FULL (the durability choice);
- a claim of 500 rows once all but 10,000 rows of a 200,000-row issue are sent (`--claim-issue`),
  against the same claim at the start of that issue, on SQLite and on PostgreSQL (goal: alike);
- PostgreSQL, several workers (`--postgres URL`; `--postgres-only` runs just this part): 1, 2
  and 4 worker processes (`send --workers N`) against a sink holding each reply for one second
  with 10 connections per worker (goal: 4 workers >= 3.5x one), and against smtp-sink without
  delay (the CPU case, `--pg-connections` a worker, 10 by default; goal: 2 workers >= 1.6x one,
  on two cores; `--pg-rounds` alternated runs, 3 by default, the median counts), each against
  one worker of the same run; and the database time per message (claims, renewals, results) as
  a share of the send time of one worker (goal: < 10%). Rates are taken from the ledger while
  all workers send (the 10th to the 90th percentile of the result times), so neither the
  start-up of the processes (about a second each, not all at the same moment) nor the last
  stragglers count. Beside each run: how busy the machine's CPUs were, and for the CPU case the
  cores the senders, PostgreSQL and the sink used meanwhile: they share the machine, so the
  cores one worker's sending needs in all bound what more workers can add.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from newsletter import compose  # noqa: E402
from newsletter.config import load_config  # noqa: E402
from newsletter.pipeline import build_slot, import_inputs, open_store  # noqa: E402
from newsletter.deliver import SmtpTransport  # noqa: E402
from newsletter.pipeline.deliveries import Templates, envelope_sender, outgoing  # noqa: E402
from newsletter.pipeline.send import secret_key, send_to_subscribers, variant_of  # noqa: E402
from newsletter.select import slot_for_date  # noqa: E402
from newsletter.tokens import make_token  # noqa: E402

DAY = date(2024, 10, 11)
TOPICS = [f"Topic {i}" for i in range(7)]


def make_project(root: Path, subscribers: int, sink, connections: int, database: str = "newsletter.db") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "newsletter.toml"
    config.write_text(f"""
[newsletter]
title = "Bench Picks"
from = "Bench <bench@example.org>"
unsubscribe_url = "https://example.org/unsubscribe?token={{token}}"
address = "1 Main Street"
database = "{database}"

[digests.daily]
max_articles = 20

[smtp]
host = "{sink.host}"
port = {sink.port}
security = "none"
connections = {connections}
""", encoding="utf-8")
    archive = root / "articles.jsonl"
    with archive.open("w", encoding="utf-8") as fh:
        for i in range(20):
            fh.write(json.dumps({
                "title": f"Headline number {i} of the day's picks", "url": f"https://example.org/a/{i}",
                "source": "The Review", "published": f"2024-10-11T{i % 24:02d}:00:00+00:00",
                "topics": [TOPICS[i % 7], TOPICS[(i + 3) % 7]],
                "lede": "An editor's lede that introduces the quotation below in a sentence or two:",
                "body": ("> " + "A quoted passage of the kind the digest carries, long enough to matter. " * 10
                         + "\n>\n> " + "Another paragraph of the quotation. " * 8),
            }) + "\n")
    loaded = load_config(config)
    with open_store(loaded) as store:
        import_inputs(loaded, store, [str(archive)])
        # 8 variants: the whole issue, and one topic each for seven groups.
        rows = ["email,name,digests,topics"] + [
            f"reader{i}@example.org,Reader {i},daily,{'' if i % 8 == 7 else TOPICS[i % 8]}" for i in range(subscribers)]
        report = store.subscribers.import_csv("\n".join(rows) + "\n", "bench.csv", {"daily"}, ["daily"])
        assert not report.rejected, report.rejected[:3]
        build_slot(loaded, store, loaded.digests["daily"], slot_for_date(loaded.digests["daily"], DAY))
    return config


def compose_only(config_path: Path) -> tuple[float, int, int]:
    """Personal messages a second through the sending code path, without the network."""
    config = load_config(config_path)
    digest = config.digests["daily"]
    with open_store(config) as store:
        issue = store.get_issue("daily", DAY.isoformat())
        people = store.subscribers.list(digest="daily", status="active")
        key = secret_key(store)
    templates = Templates(config, digest, issue, datetime.now(timezone.utc))
    start = time.perf_counter()
    total = 0
    for s in people:
        template = templates.get(variant_of(s, issue.articles)[1])
        total += len(template.personal((s.name, s.email), make_token(key, s.id, "daily", "salt"),
                                       template.new_message_id()))
    took = time.perf_counter() - start
    return len(people) / took, len(templates.cache), total // len(people)


def naive(config_path: Path, sink, n: int, send: bool) -> float:
    """Per recipient: render, premailer, EmailMessage, and (with send) a new SMTP connection."""
    config = load_config(config_path)
    digest = config.digests["daily"]
    with open_store(config) as store:
        issue = store.get_issue("daily", DAY.isoformat())
        people = store.subscribers.list(digest="daily", status="active")[:n]
        key = secret_key(store)
    start = time.perf_counter()
    for s in people:
        variant = issue.__class__(digest="daily", key=issue.key, issue_date=issue.issue_date,
                                  articles=variant_of(s, issue.articles)[1])
        token = make_token(key, s.id, "daily")
        message = compose.build_message(compose.render(variant, digest, config), config, digest, to=s.email, token=token)
        data = message.as_bytes()
        if send:
            with smtplib.SMTP(sink.host, sink.port, timeout=30) as conn:
                conn.sendmail("bench@example.org", [s.email], data)
    return len(people) / (time.perf_counter() - start)


def send_all(config_path: Path) -> tuple[float, int]:
    config = load_config(config_path)
    start = time.perf_counter()
    report = send_to_subscribers(config, "daily", DAY, sync_first=False)
    took = time.perf_counter() - start
    assert not report.failed, report.failed[:3]
    return report.sent / took, report.sent


def send_without_claims(config_path: Path) -> tuple[float, int]:
    """The same send without claims: rows read a page at a time, results group-committed unconditionally."""
    import sqlalchemy as sa

    from newsletter.store.tables import deliveries, subscribers

    config = load_config(config_path)
    digest = config.digests["daily"]
    start = time.perf_counter()
    with open_store(config) as store:
        issue = store.get_issue("daily", DAY.isoformat())
        store.ledger.queue_missing(issue.id, "daily")
        key, sender = secret_key(store), envelope_sender(config)
        templates = Templates(config, digest, issue, datetime.now(digest.timezone))
        pending: queue.Queue = queue.Queue()

        def writer() -> None:  # one fsync for whatever results are waiting, each caller waiting for its own
            update = deliveries.update().where(deliveries.c.id == sa.bindparam("r_id")).values(
                status=sa.bindparam("r_status"), attempts=deliveries.c.attempts + 1)
            while (first := pending.get()) is not None:
                batch = [first]
                while not pending.empty() and (item := pending.get_nowait()) is not None:
                    batch.append(item)
                with store.ledger.writer.begin() as conn:
                    conn.execute(update, [dict(r_id=row, r_status=status) for row, status, _ in batch])
                for _, _, done in batch:
                    done.set()

        thread = threading.Thread(target=writer)
        thread.start()

        def messages():
            last = 0
            while True:
                with store.engine.connect() as conn:
                    rows = conn.execute(sa.select(deliveries.c.id, subscribers.c.id.label("sid"), subscribers.c.email,
                                                  subscribers.c.name, subscribers.c.topics, subscribers.c.salt)
                                        .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                                        .where(deliveries.c.issue_id == issue.id, deliveries.c.status == "queued",
                                               deliveries.c.id > last).order_by(deliveries.c.id).limit(500)).all()
                if not rows:
                    return
                for r in rows:
                    items = variant_of(type("P", (), {"topics": tuple(json.loads(r.topics))}), issue.articles)[1]
                    if items:
                        template = templates.get(items)
                        message_id = template.new_message_id()
                        yield outgoing(template, sender, r.id, r.name, r.email,
                                       make_token(key, r.sid, "daily", r.salt), message_id)
                last = rows[-1].id

        sent = 0

        def on_result(result) -> None:
            nonlocal sent
            done = threading.Event()
            pending.put((result.key, "sent" if result.ok else "failed", done))
            done.wait()
            sent += result.ok

        SmtpTransport(config.smtp).send_all(messages(), on_result)
        pending.put(None)
        thread.join()
    return sent / (time.perf_counter() - start), sent


def ledger_commits(folder: Path, mode: str, n: int = 2000) -> float:
    """Microseconds per single-row commit in WAL mode with the given synchronous setting."""
    path = folder / f"ledger-{mode}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={mode}")
    conn.execute("CREATE TABLE d (id INTEGER PRIMARY KEY, status TEXT)")
    conn.executemany("INSERT INTO d (id, status) VALUES (?, 'queued')", [(i,) for i in range(n)])
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN")
        conn.execute("UPDATE d SET status = 'sent' WHERE id = ?", (i,))
        conn.execute("COMMIT")
    conn.close()
    return (time.perf_counter() - start) / n * 1e6


def sink_server(stack: ExitStack, delay: float | None = None):
    from tests.smtpd import Recorder, find_smtp_sink, serve, smtp_sink_server

    if find_smtp_sink():
        return stack.enter_context(smtp_sink_server(backlog=256, delay=delay)), "Postfix smtp-sink"
    return stack.enter_context(serve(Recorder(count_only=True, reply_delay=delay or 0))), \
        "aiosmtpd counting sink (slow; install postfix)"


def peak_kb() -> int:
    """This process's peak resident memory (VmHWM). ru_maxrss is no use here: Linux carries it
    over from the parent through fork and exec, so a child would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(config_path: str) -> None:
    """Only the send, in a fresh process, so its peak memory is the send's own."""
    base = peak_kb()
    rate, sent = send_all(Path(config_path))
    print(json.dumps({"sent": sent, "rate": rate, "before_kb": base, "peak_kb": peak_kb()}))


def _fresh_database(admin, server_url: str) -> str:
    import sqlalchemy as sa

    name = f"nl_bench_{int(time.time() * 1000)}_{threading.get_ident() % 10000}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_by_group(sender: int) -> dict[str, int]:
    """Jiffies used so far by the sending processes (`sender` and its children), PostgreSQL and the sink."""
    out = {"senders": 0, "PostgreSQL": 0, "sink": 0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        ppid, used = int(rest[1]), int(rest[11]) + int(rest[12])
        group = ("senders" if sender in (int(entry.name), ppid) else "PostgreSQL" if comm == "postgres"
                 else "sink" if comm.startswith("smtp-sink") else None)
        if group:
            out[group] += used
    return out


class SteadyCpu:
    """Samples the machine's CPU and each group's every 0.2 s while a send runs; `during(start, end)` gives
    the cores each group used (and the machine's busy share) between two wall-clock times."""

    def __init__(self, sender: int):
        self.samples: list[tuple[float, tuple[int, int], dict[str, int]]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(sender,), daemon=True)
        self.thread.start()

    def _run(self, sender: int) -> None:
        while not self.done.wait(0.2):
            self.samples.append((time.time(), cpu_ticks(), cpu_by_group(sender)))

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def during(self, start: float, end: float) -> tuple[dict[str, float], float]:
        inside = [s for s in self.samples if start <= s[0] <= end] or self.samples
        (t0, (b0, n0), g0), (t1, (b1, n1), g1) = inside[0], inside[-1]
        hz, seconds = os.sysconf("SC_CLK_TCK"), max(t1 - t0, 1e-9)
        return {k: (g1[k] - g0[k]) / hz / seconds for k in g0}, (b1 - b0) / max(1, n1 - n0)


def pg_workers(root: Path, url: str, sink, subscribers: int, connections: int, workers: int) -> dict:
    """One send of `subscribers` messages by N workers: its rate while all of them send (from the 10th to the
    90th percentile of the ledger's result times, so neither the processes' start-up, about a second each and
    not all at once, nor the last stragglers count), the wall time of the command, and the cores the senders,
    PostgreSQL and the sink used meanwhile, with the machine's busy share."""
    import sqlalchemy as sa

    config = make_project(root, subscribers, sink, connections, database=url)
    command = [sys.executable, "-m", "newsletter", "--config", str(config), "send", "daily", "--subscribers", "--yes",
               "--no-sync", "--date", DAY.isoformat()] + (["--workers", str(workers)] if workers > 1 else [])
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    cpu = SteadyCpu(proc.pid)
    out, err = proc.communicate()
    cpu.stop()
    wall = time.perf_counter() - start
    assert proc.returncode == 0, err.decode()[-2000:]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        times = conn.execute(sa.text("SELECT updated FROM deliveries WHERE status = 'sent' ORDER BY updated")).scalars().all()
    engine.dispose()
    assert len(times) == subscribers, (len(times), subscribers)
    low, high = len(times) // 10, len(times) * 9 // 10
    first, last = (t.replace(tzinfo=timezone.utc).timestamp() for t in (times[low], times[high]))
    cores, busy = cpu.during(first, last)
    return {"rate": (high - low) / (last - first), "wall": wall, "cores": cores, "busy": busy}


def pg_database_share(root: Path, url: str, sink, subscribers: int, connections: int) -> float:
    """Microseconds a message of the ledger's work for one sender, alone: claims as a send makes them, then the
    results committed `connections` at a time (the group a send commits when every connection waits for its own)."""
    from newsletter.pipeline.deliveries import CLAIM_MAX, CLAIM_PER_CONNECTION
    from newsletter.store import SENT, Outcome

    config = load_config(make_project(root, subscribers, sink, connections, database=url))
    with open_store(config) as store:
        issue = store.get_issue("daily", DAY.isoformat())
        store.ledger.queue_missing(issue.id, "daily")
        started = datetime.now(timezone.utc).replace(tzinfo=None)
        lease = datetime(2100, 1, 1)
        size, done = CLAIM_PER_CONNECTION * connections, 0
        start = time.perf_counter()
        while True:
            store.ledger.holders(issue.id)
            rows = store.ledger.claim(issue.id, "daily", "bench:1:x", size, lease_until=lease, started=started)
            if not rows:
                break
            for i in range(0, len(rows), connections):
                store.ledger.record_many("bench:1:x", [Outcome(r.delivery_id, SENT, 1, None, "<id@example.org>")
                                                        for r in rows[i:i + connections]])
            done += len(rows)
            size = CLAIM_MAX
        took = time.perf_counter() - start
    assert done == subscribers, done
    return took / done * 1e6


CLAIM_LEFT = 10_000  # rows of the issue not yet sent when the claims near its end are timed


def claim_cost(url: str, members: int, size: int = 500, tries: int = 5) -> tuple[float, float]:
    """Milliseconds a claim of `size` rows takes at the start of an issue of `members` and once all but
    CLAIM_LEFT are sent (median of `tries` each): the claim reads the rows still open, not the rows sent."""
    import statistics

    import sqlalchemy as sa
    from newsletter.store import SENT, Store
    from newsletter.store.tables import deliveries, subscriber_digests, subscribers

    now, far = datetime(2024, 10, 11), datetime(2100, 1, 1)
    with Store(url) as store:
        with store.engine.begin() as conn:
            for first in range(0, members, 10_000):
                ids = range(first + 1, min(first + 10_000, members) + 1)
                conn.execute(subscribers.insert(), [dict(id=i, email=f"c{i}@example.org", status="active", topics="[]",
                                                         created=now, updated=now, salt="") for i in ids])
                conn.execute(subscriber_digests.insert(), [dict(subscriber_id=i, digest="daily") for i in ids])
        issue = store.record_issue("daily", DAY.isoformat(), DAY, [], "Subject", None)
        store.ledger.queue_missing(issue.id, "daily")

        def timed() -> float:
            took = []
            for t in range(tries):
                start = time.perf_counter()
                got = store.ledger.claim(issue.id, "daily", f"bench:{t}:x", size, lease_until=far, started=far)
                took.append((time.perf_counter() - start) * 1000)
                assert len(got) == size, len(got)
            return statistics.median(took)

        at_start = timed()
        with store.engine.begin() as conn:
            # All at once, with neither new statistics nor a vacuum (autovacuum would do both during a send).
            conn.execute(deliveries.update().where(deliveries.c.issue_id == issue.id,
                                                   deliveries.c.subscriber_id <= members - CLAIM_LEFT)
                         .values(status=SENT, claimed_by=None, lease_until=None))
        near_end = timed()
    return near_end, at_start


def claim_line(database: str, members: int, cost: tuple[float, float]) -> str:
    near_end, at_start = cost
    name = f"claim 500 rows, {database}, {CLAIM_LEFT:,} of {members:,} left"
    return (f"{name:44} {near_end:9,.1f} ms {at_start:9,.1f} ms "
            f"{near_end / at_start:8.2f}x   (baseline: the same claim at the start of the issue; median of 5)")


def postgres_section(args, stack: ExitStack, tmp: Path) -> list[str]:
    """The several-workers figures on PostgreSQL, as printed lines."""
    import sqlalchemy as sa

    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    made: list[str] = []

    def database() -> str:
        made.append(_fresh_database(admin, args.postgres))
        return made[-1]

    lines = []
    try:
        slow_sink, _ = sink_server(stack, delay=1)
        fast_sink, sink_name = sink_server(stack)
        slow = {w: pg_workers(tmp / f"pg-slow-{w}", database(), slow_sink, args.pg_slow, 10, w) for w in (1, 2, 4)}
        # Alternated rounds, the median of each: a burst of other load on the machine hits every count alike.
        rounds: dict[int, list[dict]] = {1: [], 2: [], 4: []}
        for r in range(args.pg_rounds):
            for w in rounds:
                rounds[w].append(pg_workers(tmp / f"pg-fast-{w}-{r}", database(), fast_sink, args.pg_fast,
                                            args.pg_connections, w))
        fast = {w: sorted(runs, key=lambda run: run["rate"])[len(runs) // 2] for w, runs in rounds.items()}
        per_message = pg_database_share(tmp / "pg-share", database(), fast_sink, args.pg_fast, args.pg_connections)
        claims = claim_cost(database(), args.claim_issue)
    finally:
        with admin.connect() as conn:
            for url in made:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)'))
        admin.dispose()
    lines.append(f"PostgreSQL ({sa.engine.make_url(args.postgres).render_as_string(hide_password=True)}), "
                 f"send --workers N; sink: {sink_name}; baseline: 1 worker, same run; rates while all workers "
                 "send (10th to 90th percentile of the results)")
    for name, runs, messages, goal, note in (
            ("1 s replies, 10 connections a worker", slow, args.pg_slow, (4, 3.5), "1 run each"),
            (f"no delay (CPU), {args.pg_connections} connections a worker", fast, args.pg_fast, (2, 1.6),
             f"median of {args.pg_rounds}")):
        base = runs[1]["rate"]
        for w, run in runs.items():
            mark = f"; goal >= {goal[1]}x" if w == goal[0] else ""
            lines.append(f"{f'{name}: {w} worker' + ('s' if w > 1 else ''):44} {run['rate']:9,.1f}/s {base:9,.1f}/s "
                         f"{run['rate'] / base:8.2f}x   ({messages:,} messages, {note}, command took "
                         f"{run['wall']:.1f} s, CPU {run['busy']:.0%} busy{mark})")
    for w, runs in rounds.items():
        lines.append(f"  CPU case, {w} worker{'s' if w > 1 else ''}, each round: "
                     + ", ".join(f"{run['rate']:,.0f}/s" for run in runs))
    # Where the CPU goes: the senders share the machine's cores with the database and the sink, so
    # more workers can add only what the cores that one worker leaves idle can do.
    for w in (1, 2):
        run = fast[w]
        per = {k: v / run["rate"] * 1e6 for k, v in run["cores"].items()}
        lines.append(f"{f'CPU a message, {w} worker' + ('s' if w > 1 else ''):44} {sum(per.values()):9,.0f} us "
                     f"{'':12} {'':9}   (" + ", ".join(f"{k} {v:,.0f} us" for k, v in per.items())
                     + f"; {sum(run['cores'].values()):.2f} of {os.cpu_count()} cores, machine {run['busy']:.0%} busy)")
    # A connection sends its next message only once the last one's result is recorded: the share of
    # each message's time on a connection that the database takes, at the rate of one worker.
    lines.append(claim_line("PostgreSQL", args.claim_issue, claims))
    send_us = args.pg_connections / fast[1]["rate"] * 1e6
    lines.append(f"{'database time a message (claims, results)':44} {per_message:9,.0f} us {send_us:9,.0f} us "
                 f"{per_message / send_us:8.1%}   (baseline: a message's time on one of {args.pg_connections} "
                 f"connections of 1 worker; goal < 10%)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--naive", type=int, default=300, help="recipients for the naive baselines")
    parser.add_argument("--rounds", type=int, default=3, help="claims vs no claims: best of this many each")
    parser.add_argument("--slow", type=int, default=200, help="messages for the latency-bound case")
    parser.add_argument("--postgres", default=os.environ.get("NEWSLETTER_TEST_POSTGRES_URL",
                                                             "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
                        help="the PostgreSQL server for the several-workers part ('' skips it)")
    parser.add_argument("--postgres-only", action="store_true", help="run only the PostgreSQL part")
    parser.add_argument("--pg-slow", type=int, default=800, help="messages for the PostgreSQL latency case")
    # As in the latency case: each connection waits for its last result to be durable before the next
    # message, so with 4 a worker spends most of its time waiting on commits, not on the CPU it is to measure.
    parser.add_argument("--pg-connections", type=int, default=10, help="connections a worker in the PostgreSQL CPU case")
    parser.add_argument("--pg-fast", type=int, default=20_000, help="messages for the PostgreSQL CPU case")
    parser.add_argument("--pg-rounds", type=int, default=3, help="alternated runs of the CPU case; the median counts")
    parser.add_argument("--claim-issue", type=int, default=200_000, help="rows of the issue whose claims are timed")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return child(args.memory_child)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    if args.postgres_only:
        with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
            lines = postgres_section(args, stack, Path(tmp))
        print(f"{'measure':44} {'ours':>12} {'baseline':>12} {'ratio':>9}")
        print("\n".join(lines))
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        sink, sink_name = sink_server(stack)
        config = make_project(Path(tmp) / "p", args.subscribers, sink, args.connections)
        rate_compose, variants, size = compose_only(config)
        rate_naive_compose = naive(config, sink, args.naive, send=False)
        claimed, unclaimed, sent = [], [], 0
        for i in range(args.rounds):  # alternated, so a burst of load on the machine hits both
            rate, sent = send_all(make_project(Path(tmp) / f"c{i}", args.subscribers, sink, args.connections))
            claimed.append(rate)
            unclaimed.append(send_without_claims(make_project(Path(tmp) / f"u{i}", args.subscribers, sink,
                                                              args.connections))[0])
        rate_send, rate_plain = max(claimed), max(unclaimed)
        rate_naive_send = naive(config, sink, args.naive, send=True)
        with smtplib.SMTP(sink.host, sink.port) as conn:  # the sink's own ceiling for one reused connection
            data = b"Subject: x\r\n\r\n" + b"y" * size
            start = time.perf_counter()
            for i in range(1000):
                conn.sendmail("bench@example.org", [f"r{i}@example.org"], data)
            sink_ceiling = 1000 / (time.perf_counter() - start)
        normal, full = ledger_commits(Path(tmp), "NORMAL"), ledger_commits(Path(tmp), "FULL")
        slow_sink, _ = sink_server(stack, delay=1)
        rate_slow, _ = send_all(make_project(Path(tmp) / "slow", args.slow, slow_sink, 20))
        memory = {}
        for n in (2_500, 20_000):
            # The project is made here; the child process only imports what sending needs and sends.
            project_path = make_project(Path(tmp) / f"m{n}", n, sink, args.connections)
            out = subprocess.run([sys.executable, __file__, "--memory-child", str(project_path)],
                                 capture_output=True, text=True, check=True)
            memory[n] = json.loads(out.stdout.strip().splitlines()[-1])
        claims = claim_cost(f"sqlite:///{Path(tmp) / 'claims.db'}", args.claim_issue)
        postgres = postgres_section(args, stack, Path(tmp)) if args.postgres else []

    print(f"sink: {sink_name}; {args.subscribers:,} subscribers, {variants} variants, {size / 1024:.0f} KB a message, "
          f"{args.connections} connections")
    print(f"{'measure':44} {'ours':>12} {'baseline':>12} {'ratio':>9}")
    print(f"{'compose personal messages (one core)':44} {rate_compose:9,.0f}/s {rate_naive_compose:9,.0f}/s "
          f"{rate_compose / rate_naive_compose:8.1f}x   (baseline: naive)")
    print(f"{'compose + send + ledger commit':44} {rate_send:9,.0f}/s {rate_naive_send:9,.0f}/s "
          f"{rate_send / rate_naive_send:8.1f}x   (baseline: naive; {sent:,} sent)")
    print(f"{'claims: same send with vs without claims':44} {rate_send:9,.0f}/s {rate_plain:9,.0f}/s "
          f"{rate_send / rate_plain:8.2f}x   (cost {100 * (1 - rate_send / rate_plain):.1f}%; goal <= 15%; "
          f"best of {args.rounds}: {', '.join(f'{r:,.0f}' for r in claimed)} vs "
          f"{', '.join(f'{r:,.0f}' for r in unclaimed)})")
    print(f"{'latency-bound: 1 s replies, 20 connections':44} {rate_slow:9,.1f}/s {20.0:9,.1f}/s "
          f"{rate_slow / 20:8.2f}x   (baseline: the ideal; goal >= 0.9; {args.slow} messages)")
    print(f"{'sink ceiling, 1 reused connection, no compose':44} {sink_ceiling:9,.0f}/s")
    print(f"ledger commit, WAL: synchronous=NORMAL {normal:,.0f} us, FULL {full:,.0f} us")
    print(claim_line("SQLite", args.claim_issue, claims))
    for n, m in memory.items():
        print(f"peak RSS sending to {n:>6,}: {m['peak_kb'] / 1024:6.1f} MB "
              f"(after start-up and imports {m['before_kb'] / 1024:.1f} MB; {m['rate']:,.0f}/s)")
    print("\n".join(postgres))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
