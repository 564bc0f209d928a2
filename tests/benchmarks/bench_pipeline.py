"""Pipeline benchmark: import 100,000 articles, select, build a 30-item digest, re-sync 10,000 files,
sanitize deeply nested HTML, and sync 20 slow feeds.

Run: python tests/benchmarks/bench_pipeline.py [--articles 100000] [--files 10000] [--feeds 20]
Prints each figure beside a baseline measured in the same run:
- selection with the topic/date index vs. filtering every stored article in Python, and the
  selection with its held-over count vs. the pick alone;
- a build after start-up vs. the first build of the process (imports, template compile);
- the checks of the built issue (part of every build) beside the whole build;
- a re-sync of unchanged files vs. the first (full) sync of the same files;
- sanitizing HTML nested 1,000 / 10,000 / 100,000 deep vs. nh3 alone on the same input
  (its time grows with the square of the depth; ours must grow linearly);
- syncing feeds from a local server that takes 0.5 s per response, side by side, first and
  second run, vs. the same sync one feed at a time.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from newsletter import compose  # noqa: E402
from newsletter.config import load_config  # noqa: E402
from newsletter.pipeline import build_slot, import_inputs, open_store, sync  # noqa: E402
from newsletter.pipeline.build import plan_issue  # noqa: E402
from newsletter.pipeline.checking import check_rendered  # noqa: E402
from newsletter.select import select_articles, select_issue, slot_for_date  # noqa: E402
from tests.httpd import FeedServer  # noqa: E402

ISSUE_DAY = date(2024, 10, 11)


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def write_archive(path: Path, n: int, topics: int) -> None:
    rng = random.Random(7)
    names = [f"Topic {i}" for i in range(topics)]
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    span = (datetime(2024, 10, 12, tzinfo=timezone.utc) - start).total_seconds()
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({
                "title": f"Article {i}: a headline of ordinary length for a digest",
                "url": f"https://example.org/{i}", "source": f"Review {i % 50}",
                "published": (start + timedelta(seconds=rng.uniform(0, span))).isoformat(),
                "topics": rng.sample(names, rng.randint(1, 3)),
                "lede": f"The editor's lede for article {i}, one sentence long.",
                "body": "> " + "A quoted passage of some length. " * 12,
            }) + "\n")


def write_markdown(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"a{i:05d}.md").write_text(
            f"---\ntitle: Markdown article {i}\ndate: 2024-10-{1 + i % 11:02d}\nsource: Desk\n"
            f"topics: [Topic {i % 200}]\nurl: https://example.org/md/{i}\n---\nLede {i}.\n\n> Quote {i}.\n",
            encoding="utf-8")


def project(root: Path, sources: str) -> Path:
    config = root / "newsletter.toml"
    config.write_text(f"""
[newsletter]
title = "Bench"
from = "Bench <bench@example.org>"
max_file_size = "1GB"
{sources}
[digests.daily]
topics = ["Topic 1", "Topic 2", "Topic 3", "Topic 4", "Topic 5", "Topic 6", "Topic 7", "Topic 8", "Topic 9", "Topic 10"]
window = "7d"
max_articles = 30
""", encoding="utf-8")
    return config


def bench_nested_html(rows: list) -> None:
    import nh3

    from newsletter.sources.html import ALLOWED_TAGS, sanitize_html

    for depth in (1_000, 10_000, 100_000):
        html = "<div>x" * depth + "</div>" * depth
        took, _ = timed(lambda: sanitize_html(html), repeat=3 if depth < 100_000 else 1)
        base, _ = timed(lambda: nh3.clean(html, tags=ALLOWED_TAGS))
        rows.append((f"sanitize HTML nested {depth:,} deep ({len(html) / 1024:,.0f} KB)", took, base,
                     f"{took / depth * 1e6:.2f} µs per level; baseline: nh3 alone on the same input"))


def feed_body(n: int) -> bytes:
    items = "".join(f"<item><title>Feed {n} item {i}</title><link>https://feeds.example.org/{n}/{i}</link>"
                    f"<pubDate>Fri, 11 Oct 2024 0{i}:00:00 GMT</pubDate><description>Text {i}.</description></item>"
                    for i in range(10))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>{items}</channel></rss>'.encode()


def bench_feeds(rows: list, root: Path, count: int) -> None:
    from newsletter.sources import refresh

    server = FeedServer()
    server.thread.start()
    try:
        urls = [server.route(f"/feed{n}.xml", body=feed_body(n), etag=f'"v{n}"', delay=0.5) for n in range(count)]

        def project_of(name: str, extra: str = ""):
            tables = "".join(f'[[sources]]\nurl = "{u}"\n{extra}\n' for u in urls)
            (root / name).mkdir(parents=True)
            return load_config(project(root / name, tables))

        sequential = project_of("one-by-one")
        workers, refresh.FETCH_WORKERS = refresh.FETCH_WORKERS, 1
        try:
            with open_store(sequential) as store:
                base, report = timed(lambda: sync(sequential, store))
                assert report.new == count * 10, report.summary()
        finally:
            refresh.FETCH_WORKERS = workers
        side = project_of("side-by-side")
        every = project_of("every", 'every = "1h"')
        with open_store(side) as store, open_store(every) as every_store:
            first, report = timed(lambda: sync(side, store))
            assert report.new == count * 10, report.summary()
            again, report = timed(lambda: sync(side, store))
            assert report.inputs_unchanged == count, report.summary()
            sync(every, every_store)
            skipped, report = timed(lambda: sync(every, every_store))
            assert report.not_due == count, report.summary()
        rows.append((f"sync {count} feeds, 0.5 s each, first run", first, base,
                     f"{refresh.FETCH_WORKERS} at once; baseline: one at a time; goal <= 2 s vs >= 10 s"))
        rows.append((f"sync {count} feeds again: conditional GET, 304 in 0.5 s", again, base,
                     "ETag sent, nothing parsed; baseline: one at a time, first run"))
        rows.append((f"sync {count} feeds again with every = \"1h\"", skipped, base,
                     "not fetched; baseline: one at a time, first run; goal <= 0.5 s"))
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--feeds", type=int, default=20)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive = root / "archive.jsonl"
        write_archive(archive, args.articles, 200)
        config = load_config(project(root, ""))
        digest = config.digests["daily"]
        slot = slot_for_date(digest, ISSUE_DAY)
        with open_store(config) as store:
            took, report = timed(lambda: import_inputs(config, store, [str(archive)]))
            assert report.new == args.articles, report.summary()  # the archive is over the default max_file_size
            rows.append((f"import {args.articles:,} articles (JSON Lines)", took, None,
                         f"{report.new:,} new, {args.articles / took:,.0f} articles/s"))

            took, picked = timed(lambda: select_articles(store, digest, slot), repeat=20)

            def naive():
                wanted = {t.lower() for t in digest.topics}
                every = store.find_articles()
                return [a for a in every if slot.start < a.published <= slot.end
                        and wanted & {t.lower() for t in a.topics}][:digest.max_articles]
            base, naive_picked = timed(naive)
            assert [a.id for a in picked] == [a.id for a in naive_picked]
            rows.append(("select one issue (10 topics, 7 days, 30 max)", took, base,
                         f"{len(picked)} picked; baseline: filter all rows in Python; goal < 20 ms"))
            whole, selection = timed(lambda: select_issue(store, digest, slot), repeat=20)
            rows.append(("select one issue and count the held-over", whole, took,
                         f"{selection.held_over} held over; baseline: the pick alone (row above)"))

            first, result = timed(lambda: build_slot(config, store, digest, slot, force=True))
            warm, _ = timed(lambda: build_slot(config, store, digest, slot, force=True), repeat=10)
            size = result.files["html"].stat().st_size
            rendered = compose.render(plan_issue(config, store, digest, slot).issue, digest, config)
            rows.append(("build a 30-item digest (select, render, inline, check, write)", warm, first,
                         f"{len(result.articles)} items, {size / 1024:.0f} KB HTML, {len(rendered.notes)} clip note; "
                         "baseline: first build of the process; goal < 100 ms"))

            checked, report = timed(lambda: check_rendered(config, digest, rendered, slot.key), repeat=10)
            rows.append(("check the built 30-item issue (within the build above)", checked, warm,
                         f"{report.summary()}; baseline: the whole warm build"))

        md_root = root / "md"
        write_markdown(md_root / "articles", args.files)
        md_config = load_config(project(md_root, '[[sources]]\npath = "articles"\n'))
        with open_store(md_config) as store:
            full, report = timed(lambda: sync(md_config, store))
            assert report.new == args.files, report.summary()
            again, report = timed(lambda: sync(md_config, store), repeat=5)
            assert report.inputs_unchanged == args.files, report.summary()
            rows.append((f"re-sync {args.files:,} unchanged Markdown files", again, full,
                         "baseline: first sync, every file parsed; goal < 1 s"))
        bench_nested_html(rows)
        bench_feeds(rows, root / "feeds", args.feeds)

    print(f"{'measure':58} {'time':>10} {'baseline':>10} {'speed-up':>9}  notes")
    for name, took, base, note in rows:
        b = f"{base * 1000:8.1f}ms" if base is not None else " " * 10
        ratio = f"{base / took:8.1f}x" if base else " " * 9
        print(f"{name:58} {took * 1000:8.1f}ms {b} {ratio}  {note}")


if __name__ == "__main__":
    main()
