"""Send benchmark: 10,000 subscribers over 8 topic variants to a local sink that only counts.

Run: python tests/benchmarks/bench_send.py [--subscribers 10000] [--connections 4] [--naive 300]
The sink is Postfix's C smtp-sink when installed (apt-get install postfix), else an aiosmtpd
counting server (which tops out near 200 messages a second and would hide our own speed).
Printed beside each figure, measured in the same run, is a naive baseline that per recipient
renders, inlines with premailer, builds an EmailMessage and opens a new SMTP connection.
Also printed: peak memory of a whole send at a quarter and at the full subscriber count, and
the cost of a ledger commit with SQLite synchronous=NORMAL and =FULL.
"""

from __future__ import annotations

import argparse
import json
import resource
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from newsletter import compose  # noqa: E402
from newsletter.config import load_config  # noqa: E402
from newsletter.pipeline import build_slot, import_inputs, open_store  # noqa: E402
from newsletter.pipeline.send import _Templates, secret_key, send_to_subscribers, variant_of  # noqa: E402
from newsletter.select import slot_for_date  # noqa: E402
from newsletter.tokens import make_token  # noqa: E402

DAY = date(2024, 10, 11)
TOPICS = [f"Topic {i}" for i in range(7)]


def make_project(root: Path, subscribers: int, sink, connections: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "newsletter.toml"
    config.write_text(f"""
[newsletter]
title = "Bench Picks"
from = "Bench <bench@example.org>"
unsubscribe_url = "https://example.org/unsubscribe?token={{token}}"
address = "1 Main Street"

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
    templates = _Templates(config, digest, issue, datetime.now(timezone.utc))
    start = time.perf_counter()
    total = 0
    for s in people:
        template = templates.get(variant_of(s, issue.articles)[1])
        total += len(template.personal(f"{s.name} <{s.email}>", make_token(key, s.id, "daily"), template.new_message_id()))
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


def sink_server(stack: ExitStack):
    from tests.smtpd import Recorder, find_smtp_sink, serve, smtp_sink_server

    if find_smtp_sink():
        return stack.enter_context(smtp_sink_server(backlog=256)), "Postfix smtp-sink"
    return stack.enter_context(serve(Recorder(count_only=True))), "aiosmtpd counting sink (slow; install postfix)"


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--naive", type=int, default=300, help="recipients for the naive baselines")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return child(args.memory_child)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        sink, sink_name = sink_server(stack)
        config = make_project(Path(tmp) / "p", args.subscribers, sink, args.connections)
        rate_compose, variants, size = compose_only(config)
        rate_naive_compose = naive(config, sink, args.naive, send=False)
        rate_send, sent = send_all(config)
        rate_naive_send = naive(config, sink, args.naive, send=True)
        with smtplib.SMTP(sink.host, sink.port) as conn:  # the sink's own ceiling for one reused connection
            data = b"Subject: x\r\n\r\n" + b"y" * size
            start = time.perf_counter()
            for i in range(1000):
                conn.sendmail("bench@example.org", [f"r{i}@example.org"], data)
            sink_ceiling = 1000 / (time.perf_counter() - start)
        normal, full = ledger_commits(Path(tmp), "NORMAL"), ledger_commits(Path(tmp), "FULL")
        memory = {}
        for n in (args.subscribers // 4, args.subscribers):
            # The project is made here; the child process only imports what sending needs and sends.
            project_path = make_project(Path(tmp) / f"m{n}", n, sink, args.connections)
            out = subprocess.run([sys.executable, __file__, "--memory-child", str(project_path)],
                                 capture_output=True, text=True, check=True)
            memory[n] = json.loads(out.stdout.strip().splitlines()[-1])

    print(f"sink: {sink_name}; {args.subscribers:,} subscribers, {variants} variants, {size / 1024:.0f} KB a message, "
          f"{args.connections} connections")
    print(f"{'measure':44} {'ours':>12} {'naive':>12} {'speed-up':>9}")
    print(f"{'compose personal messages (one core)':44} {rate_compose:9,.0f}/s {rate_naive_compose:9,.0f}/s "
          f"{rate_compose / rate_naive_compose:8.1f}x")
    print(f"{'compose + send + ledger commit':44} {rate_send:9,.0f}/s {rate_naive_send:9,.0f}/s "
          f"{rate_send / rate_naive_send:8.1f}x   ({sent:,} sent)")
    print(f"{'sink ceiling, 1 reused connection, no compose':44} {sink_ceiling:9,.0f}/s")
    print(f"ledger commit, WAL: synchronous=NORMAL {normal:,.0f} us, FULL {full:,.0f} us")
    for n, m in memory.items():
        print(f"peak RSS sending to {n:>6,}: {m['peak_kb'] / 1024:6.1f} MB "
              f"(after start-up and imports {m['before_kb'] / 1024:.1f} MB; {m['rate']:,.0f}/s)")


if __name__ == "__main__":
    main()
