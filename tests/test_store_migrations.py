"""Upgrades in place: databases made by release 1 (tests/data/upgrade/) open with today's code,
match a new database table by table, and keep their articles, issues, ledger and subscribers."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.store import Store, latest_version
from newsletter.store import migrations
from tests.conftest import REPO

UPGRADE = REPO / "tests" / "data" / "upgrade"
OURS = lambda name: name != "apscheduler_jobs"  # noqa: E731 - the scheduler's table is APScheduler's own


def schema(engine: sa.Engine) -> dict:
    """Every table of ours: columns (type, nullable), primary key, indexes, unique constraints, foreign keys."""
    insp = sa.inspect(engine)
    out = {}
    for table in sorted(filter(OURS, insp.get_table_names())):
        out[table] = {
            "columns": {c["name"]: (str(c["type"]), c["nullable"]) for c in insp.get_columns(table)},
            "pk": sorted(insp.get_pk_constraint(table)["constrained_columns"]),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]), _where(i))
                              for i in insp.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]),
                           (f.get("options") or {}).get("ondelete")) for f in insp.get_foreign_keys(table)),
        }
    return out


def _where(index: dict) -> str:
    """A partial index's condition as the database keeps it ("" for a whole-table index)."""
    where = next((v for k, v in (index.get("dialect_options") or {}).items() if k.endswith("_where")), None)
    return " ".join(str(where).split()) if where is not None else ""


def contents(engine: sa.Engine) -> dict:
    """What a release-1 database held, as the upgrade must keep it."""
    with engine.connect() as conn:
        q = lambda sql: conn.execute(sa.text(sql)).all()  # noqa: E731
        return {
            "articles": sorted(r[0] for r in q("SELECT title FROM articles")),
            "issues": sorted(tuple(r) for r in q("SELECT digest, key FROM issues")),
            "issue_articles": q("SELECT count(*) FROM issue_articles")[0][0],
            "subscribers": sorted(tuple(r) for r in q("SELECT email, status FROM subscribers")),
            "memberships": q("SELECT count(*) FROM subscriber_digests")[0][0],
            "deliveries": sorted(tuple(r) for r in q(
                "SELECT s.email, d.status, d.message_id IS NOT NULL FROM deliveries d "
                "JOIN subscribers s ON s.id = d.subscriber_id")),
            "secret_key": q("SELECT value FROM meta WHERE key = 'secret_key'")[0][0],
            "jobs": q("SELECT count(*) FROM apscheduler_jobs")[0][0],
        }


RELEASE_1 = {
    "articles": ["Iran Gives in to Spy Mania", "The Long History of Cooperation between Iran and Russia"],
    "issues": [("daily", "2024-10-11"), ("weekly", "2024-10-13")],
    "subscribers": sorted([("ada@example.org", "active"), ("bob@example.org", "active"),
                           ("bounce@example.net", "active"), ("later@example.net", "active"),
                           ("topics@example.org", "active"), ("weekly@example.org", "active"),
                           ("quit@example.org", "unsubscribed")]),
}


def check_release_1_kept(found: dict) -> None:
    for key, expected in RELEASE_1.items():
        assert found[key] == expected, key
    assert found["issue_articles"] == 4 and found["memberships"] == 7 and found["jobs"] == 1
    sent = [d for d in found["deliveries"] if d[2]]
    assert sorted(d[0] for d in sent) == ["ada@example.org", "bob@example.org", "topics@example.org"]
    assert len(found["secret_key"]) == 64


def fresh_schema(url: str) -> dict:
    with Store(url) as store:
        return schema(store.engine)


@pytest.fixture
def v1_sqlite(tmp_path: Path) -> Path:
    target = tmp_path / "newsletter.db"
    shutil.copyfile(UPGRADE / "v1.db", target)
    return target


@pytest.mark.sqlite_only
def test_a_release_1_sqlite_database_is_upgraded_in_place(v1_sqlite: Path, tmp_path: Path):
    url = f"sqlite:///{v1_sqlite}"
    before = contents(sa.create_engine(url))
    with Store(url) as store:
        with store.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
        assert int(version) == latest_version()
        after = contents(store.engine)
        upgraded = schema(store.engine)
    assert upgraded == fresh_schema(f"sqlite:///{tmp_path / 'new.db'}")
    assert after == before
    check_release_1_kept(after)
    if latest_version() > 1:  # the file as it was is kept beside it, owner-only
        backup = v1_sqlite.with_name("newsletter.db.schema1.bak")
        assert stat.S_IMODE(backup.stat().st_mode) == 0o600
        assert contents(sa.create_engine(f"sqlite:///{backup}")) == before
    Store(url).close()  # a second open finds nothing to do


def test_a_release_1_postgresql_database_is_upgraded_in_place(pg_url: str, postgres):
    import psycopg

    dump = (UPGRADE / "v1-postgresql.sql").read_text(encoding="utf-8")
    with psycopg.connect(sa.engine.make_url(pg_url).set(drivername="postgresql").render_as_string(False),
                         autocommit=True) as conn:
        conn.execute(dump)
    before = contents(sa.create_engine(pg_url))
    with Store(pg_url) as store:
        after = contents(store.engine)
        upgraded = schema(store.engine)
    fresh = postgres.create()
    try:
        assert upgraded == fresh_schema(fresh)
    finally:
        postgres.drop(fresh)
    assert after == before
    check_release_1_kept(after)


@pytest.mark.sqlite_only
def test_two_processes_opening_an_old_database_upgrade_it_once(v1_sqlite: Path):
    code = ("import sys; from newsletter.store import Store; Store(sys.argv[1]).close(); print('ok')")
    url = f"sqlite:///{v1_sqlite}"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    upgrades = sum(err.count("upgraded") for _, err in outs)
    assert upgrades == (1 if latest_version() > 1 else 0), outs
    check_release_1_kept(contents(sa.create_engine(url)))


def test_the_registry_refuses_a_number_twice():
    with pytest.raises(RuntimeError):
        migrations.migration(migrations.FIRST_VERSION)(lambda conn: None)
    for version in migrations.MIGRATIONS:
        with pytest.raises(RuntimeError):
            migrations.migration(version)(lambda conn: None)


@pytest.mark.sqlite_only
def test_a_new_database_and_its_wal_are_owner_only(tmp_path: Path):
    path = tmp_path / "private.db"
    with Store(f"sqlite:///{path}") as store:
        with store.writer.begin() as conn:
            conn.execute(sa.text("INSERT INTO meta (key, value) VALUES ('probe', 'x')"))
        made = [p for p in tmp_path.iterdir() if p.name.startswith("private.db")]
        assert {p.name for p in made} >= {"private.db", "private.db-wal", "private.db-shm"}
        for p in made:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


@pytest.mark.sqlite_only
def test_a_locked_database_says_so(tmp_path: Path, monkeypatch):
    from newsletter.errors import StoreBusyError
    from newsletter.store import engine as engine_module

    path = tmp_path / "locked.db"
    Store(f"sqlite:///{path}").close()
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreBusyError, match=r"is locked by another process.*wait for the other newsletter"):
            with Store(f"sqlite:///{path}") as store:
                store.meta_or_default("x", lambda: "y")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_an_unreachable_server_is_named_with_its_password_masked():
    from newsletter.errors import StoreError

    with pytest.raises(StoreError) as caught:
        Store("postgresql+psycopg://editor:hunter2-secret@127.0.0.1:1/news")
    text = str(caught.value)
    assert "cannot be reached: connection refused" in text and "127.0.0.1:1/news" in text
    assert "hunter2" not in text


def test_a_missing_driver_says_what_to_install():
    from newsletter.errors import StoreError

    with pytest.raises(StoreError, match=r"no database driver.*newsletter\[postgres\]"):
        Store("postgresql+pg8000://editor@127.0.0.1/news")


@pytest.mark.sqlite_only
def test_a_database_folder_that_does_not_exist_is_created_or_named(tmp_path: Path):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    from newsletter.errors import StoreError

    with pytest.raises(StoreError, match="cannot create the database file"):
        Store(f"sqlite:///{blocked / 'sub' / 'x.db'}")
    assert os.path.isfile(blocked)


# -- sending from an upgraded database ---------------------------------------------------------------

def send_release_1_issue(config: Path, server) -> None:
    """A re-run of release 1's partly sent issue retries its transient failure only; then nothing is left."""
    from typer.testing import CliRunner

    from newsletter.cli import app

    text = (UPGRADE / "v1.toml").read_text().replace("port = 42959", f"port = {server.port}")
    config.write_text(text)
    (config.parent / "articles").mkdir(exist_ok=True)
    command = ["--config", str(config), "send", "daily", "--subscribers", "--yes", "--date", "2024-10-11", "--no-sync"]
    first = CliRunner().invoke(app, command, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "1 sent, 0 skipped, 0 failed, 3 had it already" in first.stdout
    # later@ failed with a 451 under release 1: retried; bounce@ got a 550: never again.
    assert [m.rcpt_tos for m in server.messages] == [("later@example.net",)]
    again = CliRunner().invoke(app, command, catch_exceptions=False)
    assert again.exit_code == 0 and "is fully sent (4 recipients)" in again.stdout
    assert len(server.messages) == 1
    # The unsubscribe links release 1 sent (tokens without a salt) still work.
    from newsletter.config import load_config
    from newsletter.pipeline import open_store
    from newsletter.pipeline.send import secret_key
    from newsletter.tokens import make_token

    with open_store(load_config(config)) as store:
        ada = store.subscribers.get("ada@example.org")
        token = make_token(secret_key(store), ada.id, "daily")
    done = CliRunner().invoke(app, ["--config", str(config), "subscribers", "unsubscribe", "--token", token])
    assert done.exit_code == 0 and "unsubscribed ada@example.org" in done.stdout


@pytest.mark.sqlite_only
def test_a_release_1_sqlite_database_finishes_its_sends(v1_sqlite: Path, smtp_server):
    send_release_1_issue(v1_sqlite.parent / "newsletter.toml", smtp_server)
    with sa.create_engine(f"sqlite:///{v1_sqlite}").connect() as conn:  # ids are never handed out twice now
        assert "AUTOINCREMENT" in conn.execute(sa.text(
            "SELECT sql FROM sqlite_master WHERE name = 'subscribers'")).scalar()


def test_a_release_1_postgresql_database_finishes_its_sends(pg_url: str, tmp_path: Path, smtp_server, monkeypatch):
    import psycopg

    dump = (UPGRADE / "v1-postgresql.sql").read_text(encoding="utf-8")
    with psycopg.connect(sa.engine.make_url(pg_url).set(drivername="postgresql").render_as_string(False),
                         autocommit=True) as conn:
        conn.execute(dump)
    monkeypatch.setenv("NEWSLETTER_DATABASE", pg_url)
    send_release_1_issue(tmp_path / "newsletter.toml", smtp_server)
