"""Archive benchmark: 100 sent issues of a 20-item digest; the issue page, the digest page and the Atom feed.

Run: python tests/benchmarks/bench_archive.py [--issues 100] [--repeat 200]
Printed beside each figure, measured in the same run, is a baseline:
- the issue page (what serve answers for /archive/<digest>/<key>/) vs. reading its stored
  HTML row alone through an open store;
- the digest page and the feed vs. reading the archive's summary rows alone;
- each of those also with `store=` a store kept open (as a long-running server should), to
  show what opening the store per call costs;
- the static archive of every issue (`newsletter archive --out`) vs. writing the same bytes
  with Path.write_text.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from newsletter import compose  # noqa: E402
from newsletter.config import load_config  # noqa: E402
from newsletter.model import Article, ArchivedIssue, Issue  # noqa: E402
from newsletter.pipeline import (archive_digest_html, archive_feed_xml, archive_issue_html,  # noqa: E402
                                 open_store, write_archive)

FIRST = date(2024, 1, 1)


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "newsletter.toml"
    path.write_text('[newsletter]\ntitle = "Editors\' Picks"\nfrom = "Editors <editors@example.org>"\n'
                    'public_url = "https://news.example.org"\n\n[digests.daily]\ntitle = "Daily"\n', encoding="utf-8")
    return path


def articles(n: int) -> tuple[Article, ...]:
    return tuple(Article(
        id=f"https://example.org/{i}", title=f"Article {i}: a headline of ordinary length for a digest",
        url=f"https://example.org/{i}", source=f"Review {i % 7}", topics=("Iran", "Russia"),
        lede="<p>" + "An editor's lede that says why this piece matters. " * 3 + "</p>",
        body="<blockquote><p>" + "A quoted passage from the article, of a few sentences. " * 6 + "</p></blockquote>",
        author="A. Writer", image=None, published=datetime(2024, 10, 11, 6, 0, tzinfo=timezone.utc))
        for i in range(n))


def fill(config, issues: int) -> int:
    """`issues` archived issues, each the same 20-item rendering under its own key; the HTML size in bytes."""
    digest = config.digests["daily"]
    issue = Issue(digest="daily", key="2024-01-01", issue_date=FIRST, articles=articles(20))
    rendered = compose.render(issue, digest, config, archived=True)
    with open_store(config) as store:
        for n in range(issues):
            day = FIRST + timedelta(days=n)
            store.archive.keep(ArchivedIssue("daily", day.isoformat(), day, f"{rendered.subject} #{n}",
                                             datetime(2024, 1, 1, 7, tzinfo=timezone.utc) + timedelta(days=n),
                                             rendered.preheader, rendered.web_html, rendered.text))
    return len(rendered.web_html.encode("utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = load_config(project(root / "project"))
        size = fill(config, args.issues)
        key = (FIRST + timedelta(days=args.issues // 2)).isoformat()
        with open_store(config) as store:
            row = timed(lambda: store.archive.get("daily", key), args.repeat)
            summaries = timed(lambda: store.archive.issues("daily"), args.repeat)
            open_issue = timed(lambda: archive_issue_html(config, "daily", key, store=store), args.repeat)
            open_page = timed(lambda: archive_digest_html(config, "daily", store=store), args.repeat)
            open_feed = timed(lambda: archive_feed_xml(config, "daily", store=store), args.repeat)
        opening = timed(lambda: open_store(config).close(), args.repeat)
        page = timed(lambda: archive_issue_html(config, "daily", key), args.repeat)
        digest_page = timed(lambda: archive_digest_html(config, "daily"), args.repeat)
        feed = timed(lambda: archive_feed_xml(config, "daily"), args.repeat)
        feed_bytes = len(archive_feed_xml(config, "daily").encode("utf-8"))
        rows += [
            (f"issue page ({size / 1024:.0f} KB), store opened per call", page, row,
             "baseline: its stored row read through an open store"),
            ("issue page, store kept open (store=)", open_issue, row, "baseline: as above"),
            ("opening the store alone (engine, schema check)", opening, row, "baseline: as above"),
            (f"digest page, {args.issues} issues, store opened per call", digest_page, summaries,
             "baseline: the summary rows alone"),
            (f"digest page, {args.issues} issues, store kept open", open_page, summaries, "baseline: as above"),
            (f"Atom feed ({feed_bytes / 1024:.0f} KB), {args.issues} entries, store opened per call", feed, summaries,
             "baseline: the summary rows alone"),
            (f"Atom feed, {args.issues} entries, store kept open", open_feed, summaries, "baseline: as above"),
        ]
        out = root / "site"
        written = timed(lambda: write_archive(config, out), 3)
        files = [(p, p.read_text(encoding="utf-8")) for p in out.rglob("*") if p.is_file()]
        plain = root / "plain"

        def write_plain() -> None:
            for path, text in files:
                target = plain / path.relative_to(out)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")

        base = timed(write_plain, 3)
        rows.append((f"archive --out: {len(files)} files", written, base,
                     "baseline: the same bytes with Path.write_text (no temp + rename, no rendering)"))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    print(f"{'measure':66} {'time':>10} {'baseline':>10} {'ratio':>7}  notes")
    for name, took, baseline, note in rows:
        print(f"{name:66} {took * 1000:8.2f}ms {baseline * 1000:8.2f}ms {took / baseline:6.1f}x  {note}")


if __name__ == "__main__":
    main()
