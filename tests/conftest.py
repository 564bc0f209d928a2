"""Shared fixtures: a newsletter project in a temp folder, article factories, a fixed clock."""

from __future__ import annotations

import subprocess
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.config import parse_config
from newsletter.model import Article

# The real SMTP servers (aiosmtpd, smtp-sink), the real PostgreSQL server and a real HTTP server, with their fixtures.
pytest_plugins = ["tests.smtpd", "tests.pg", "tests.httpd"]

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data" / "digest" / "sample_two_items.txt"


def make_article(n: int = 1, *, published: datetime | None = None, topics=("Iran",), **fields) -> Article:
    """A valid article; fields override the defaults."""
    values = dict(
        id=f"https://example.org/a/{n}", title=f"Headline {n}", url=f"https://example.org/a/{n}",
        source="Example Review", topics=tuple(topics), lede=f"<p>Lede {n}.</p>",
        body=f"<blockquote><p>Quoted passage {n}.</p></blockquote>", author=None, image=None,
        published=published or datetime(2024, 10, 11, 9, 0, tzinfo=timezone.utc),
    )
    values.update(fields)
    return Article(**values)


def write_config(root: Path, body: str = "", *, digests: str | None = None) -> Path:
    """A newsletter.toml in `root` with a sqlite store, an outbox and an articles/ source; `body` adds keys/tables."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "articles").mkdir(exist_ok=True)
    if digests is None:
        digests = textwrap.dedent("""
            [digests.daily]
            title = "Editors' Picks"
            window = "1d"
            max_articles = 10
            cadence = "0 7 * * mon-fri"
        """)
    # `body` goes right after the [newsletter] keys: plain keys extend [newsletter], tables start anew.
    text = textwrap.dedent("""
        [newsletter]
        title = "Editors' Picks"
        from = "Editors <editors@example.org>"
        timezone = "UTC"
    """) + textwrap.dedent(body) + textwrap.dedent("""
        [[sources]]
        path = "articles"
    """) + digests
    path = root / "newsletter.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_from(path: Path):
    import tomllib

    return parse_config(tomllib.loads(path.read_text(encoding="utf-8")), path)


def write_markdown(folder: Path, name: str, title: str, date: str = "2024-10-11 06:00", topics=("Iran",), extra: str = "",
                   text: str = "An editor's lede.\n\n> A quoted passage.\n") -> Path:
    """A Markdown article file with front matter."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    topic_list = ", ".join(topics)
    path.write_text(f"---\ntitle: {title}\ndate: {date}\nsource: Example Review\ntopics: [{topic_list}]\n{extra}---\n{text}",
                    encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty newsletter project; returns the path of its newsletter.toml."""
    return write_config(tmp_path / "project")


def wait_for(predicate, timeout: float = 60, what: str = "it"):
    """Wait until `predicate()` holds, failing after `timeout` seconds (processes we do not control)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling, bounded by the deadline


@pytest.fixture
def children():
    """Processes a test starts; none is left running, whatever the outcome."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
