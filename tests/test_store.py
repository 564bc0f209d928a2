"""The store on real SQLite files: upserts, queries, issues, and the schema version check."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from newsletter.errors import StoreError
from newsletter.store import Store, latest_version

from tests.conftest import make_article

UTC = timezone.utc


@pytest.fixture
def store(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path / 'test.db'}") as s:
        yield s


def test_upsert_counts_new_updated_unchanged(store: Store):
    a, b = make_article(1), make_article(2)
    assert vars(store.upsert([a, b])) == {"new": 2, "updated": 0, "unchanged": 0}
    assert vars(store.upsert([a, b])) == {"new": 0, "updated": 0, "unchanged": 2}
    changed = make_article(2, title="Headline 2, corrected")
    assert vars(store.upsert([a, changed])) == {"new": 0, "updated": 1, "unchanged": 1}
    assert len(store.find_articles()) == 2
    assert store.get_articles([changed.id])[0].title == "Headline 2, corrected"


def test_round_trip_keeps_every_field(store: Store):
    a = make_article(1, topics=("Gaza War 2023", "Iran"), author="Benny Avni", image="https://example.org/i.jpg",
                     published=datetime(2024, 10, 11, 9, 30, tzinfo=timezone(timedelta(hours=-4))))
    store.upsert([a])
    back = store.get_articles([a.id])[0]
    assert back == a  # aware datetimes compare by instant
    assert back.published.tzinfo == UTC


def test_undated_item_keeps_its_first_date(store: Store):
    first = make_article(1, published=datetime(2024, 10, 11, 12, tzinfo=UTC))
    store.upsert([first], undated={first.id})
    later = make_article(1, published=datetime(2025, 1, 1, 12, tzinfo=UTC))
    counts = store.upsert([later], undated={later.id})
    assert counts.unchanged == 1
    assert store.get_articles([first.id])[0].published == first.published


def test_topic_change_updates_topic_index(store: Store):
    store.upsert([make_article(1, topics=("Iran",))])
    store.upsert([make_article(1, topics=("Russia",))])
    assert [a.id for a in store.find_articles(topics_any=["russia"])] == [make_article(1).id]
    assert store.find_articles(topics_any=["iran"]) == []
    counts = {t.slug: t.count for t in store.topic_counts()}
    assert counts == {"iran": 0, "russia": 1}


def test_find_articles_filters_and_orders(store: Store):
    base = datetime(2024, 10, 1, tzinfo=UTC)
    store.upsert([make_article(i, published=base + timedelta(days=i), topics=("Iran",) if i % 2 else ("Russia",),
                               source="Odd Review" if i % 2 else "Even Review") for i in range(1, 11)])
    assert [a.title for a in store.find_articles(limit=3)] == ["Headline 10", "Headline 9", "Headline 8"]
    assert {a.title for a in store.find_articles(topics_any=["IRAN"])} == {f"Headline {i}" for i in (1, 3, 5, 7, 9)}
    window = store.find_articles(since=base + timedelta(days=3), until=base + timedelta(days=5))
    assert [a.title for a in window] == ["Headline 5", "Headline 4", "Headline 3"]
    assert len(store.find_articles(source="even review")) == 5


def test_issue_record_and_exclusion(store: Store):
    arts = [make_article(i) for i in range(1, 4)]
    store.upsert(arts)
    issue = store.record_issue("daily", "2024-10-11", date(2024, 10, 11), [arts[2].id, arts[0].id], "Subject", "<m@x>")
    assert [a.id for a in issue.articles] == [arts[2].id, arts[0].id]
    assert [a.id for a in store.find_articles(not_in_digest="daily")] == [arts[1].id]
    assert len(store.find_articles(not_in_digest="weekly")) == 3
    assert len(store.find_articles(not_in_digest="daily", except_issue="2024-10-11")) == 3
    again = store.record_issue("daily", "2024-10-11", date(2024, 10, 11), [arts[1].id], "Subject 2", "<m@x>")
    assert again.id == issue.id and [a.id for a in again.articles] == [arts[1].id]
    assert [i.key for i in store.list_issues("daily")] == ["2024-10-11"]


def test_sync_state_of_sources_and_files(store: Store):
    from newsletter.model import FileState, SourceState

    state = store.sync_state
    checked = datetime(2024, 10, 11, 7, 0, tzinfo=timezone.utc)
    feed = SourceState("https://x.example/feed", last_checked=checked, articles=3, status=304, etag='"v1"', gone=True)
    state.save([SourceState("/a"), SourceState("/b"), feed],
               [FileState("/a/x.md", 1, 2, "f" * 64, None, 1), FileState("/a/y.md", 3, 4, None, "bad", 0),
                FileState("/b/z.md", 5, 6)])
    assert set(state.files("/a/")) == {"/a/x.md", "/a/y.md"}
    assert state.files("/a/")["/a/y.md"].error == "bad"
    assert state.sources()["https://x.example/feed"] == feed
    state.save(removed=["/a/x.md"])
    assert set(state.files("/a/")) == {"/a/y.md"}
    # A source taken out of the config is forgotten with its files.
    state.save(keep_sources={"/b", "https://x.example/feed"})
    assert set(state.sources()) == {"/b", "https://x.example/feed"} and set(state.files()) == {"/b/z.md"}


def test_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "newer.db"
    Store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(latest_version() + 1),))
    newer, ours = latest_version() + 1, latest_version()
    with pytest.raises(StoreError, match=rf"newer newsletter \(schema {newer}; this one reads {ours}\).*upgrade newsletter"):
        Store(f"sqlite:///{path}")


def test_a_version_before_the_first_release_is_not_ours(tmp_path: Path):
    path = tmp_path / "older.db"
    Store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="is not a newsletter database"):
        Store(f"sqlite:///{path}")


def test_foreign_database_is_refused(tmp_path: Path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE articles (x)")
    with pytest.raises(StoreError, match="is not a newsletter database"):
        Store(f"sqlite:///{path}")


def test_not_a_database_file(tmp_path: Path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="is not a database file"):
        Store(f"sqlite:///{path}")


def test_bad_database_url():
    with pytest.raises(StoreError, match="no database driver"):
        Store("nosuchdialect://x")


def _backend_pid(engine) -> int:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()


def _terminate(pg_url: str, pid: int) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()


def test_a_pooled_connection_dead_after_sitting_idle_is_replaced(pg_url, monkeypatch):
    from newsletter.store import engine as engines

    engine = engines.open_engine(pg_url)
    first = _backend_pid(engine)
    _terminate(pg_url, first)  # as a restarted server or a dropped network does
    monkeypatch.setattr(engines, "PING_IDLE", 0.0)  # it has sat idle long enough to be tried
    assert _backend_pid(engine) not in (first, None)
    engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged_and_its_loss_is_a_retryable_error(pg_url, monkeypatch):
    from newsletter.errors import StoreBusyError
    from newsletter.store import engine as engines

    monkeypatch.setattr(engines, "PING_IDLE", 3600.0)
    engine = engines.open_engine(pg_url)
    _terminate(pg_url, _backend_pid(engine))
    with pytest.raises(StoreBusyError, match="closed the connection unexpectedly"):  # a send retries this
        _backend_pid(engine)
    assert _backend_pid(engine) > 0  # the pool let the dead one go
    engine.dispose()


def test_postgresql_connections_keep_the_urls_own_options(pg_url):
    """Our settings (no JIT, the lock timeout) are made with SET, so options in the URL still apply."""
    import sqlalchemy as sa

    with Store(pg_url) as first:  # makes the tables
        first.get_meta("schema_version")
    with Store(pg_url + "?options=-c%20statement_timeout%3D12345", busy_timeout_ms=4321) as store:
        with store.engine.connect() as conn:
            shown = [conn.execute(sa.text(f"SHOW {name}")).scalar()
                     for name in ("statement_timeout", "lock_timeout", "jit")]
    assert shown == ["12345ms", "4321ms", "off"]
