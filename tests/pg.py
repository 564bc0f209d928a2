"""The real PostgreSQL server for tests: a fresh database per test, and the whole suite on PostgreSQL.

- `NEWSLETTER_TEST_POSTGRES_URL` names the server (default: the machine's PostgreSQL 15 at
  127.0.0.1:5432, user postgres, database test); each test that asks for `pg_url` gets a new
  database there, dropped afterwards.
- Without a server the PostgreSQL tests are skipped with the reason, unless
  `NEWSLETTER_TEST_REQUIRE_POSTGRES=1` (set by .ci/run), which makes the skip a failure.
- `NEWSLETTER_TEST_STORE=postgresql` runs every test that uses a config file on PostgreSQL:
  each test gets its own database through `NEWSLETTER_DATABASE`. Tests about SQLite files
  (modes, WAL, locks) are marked `sqlite_only` and run on SQLite whatever the setting.
"""

from __future__ import annotations

import itertools
import os
import uuid

import pytest

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SERVER_URL = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", DEFAULT_URL)
REQUIRED = os.environ.get("NEWSLETTER_TEST_REQUIRE_POSTGRES") == "1"
STORE = os.environ.get("NEWSLETTER_TEST_STORE", "sqlite")
_counter = itertools.count()


class PostgresServer:
    """Makes and drops databases on one server."""

    def __init__(self, url: str):
        import sqlalchemy as sa

        self.url = sa.engine.make_url(url)
        self.admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def create(self) -> str:
        """A new empty database; its URL (with the password, for the test's config)."""
        import sqlalchemy as sa

        name = f"nl_t_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        import sqlalchemy as sa

        name = sa.engine.make_url(url).database
        with self.admin.connect() as conn:
            # FORCE: a test that leaked a connection (or a killed worker's) must not keep its database.
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _unavailable(reason: str):
    message = f"no PostgreSQL server for the tests at {SERVER_URL}: {reason} (set NEWSLETTER_TEST_POSTGRES_URL)"
    if REQUIRED:
        pytest.fail(message + "; NEWSLETTER_TEST_REQUIRE_POSTGRES=1 makes this a failure", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """The test server, checked once per session."""
    try:
        import psycopg  # noqa: F401
        import sqlalchemy as sa

        server = PostgresServer(SERVER_URL)
        with server.admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except ImportError as exc:
        _unavailable(f"the driver is not installed ({exc})")
    except Exception as exc:  # any failure to reach it: the reason goes into the skip
        _unavailable(" ".join(str(exc).split())[:200])
    return server


@pytest.fixture
def pg_url(postgres: PostgresServer):
    """A fresh PostgreSQL database for one test; its SQLAlchemy URL."""
    url = postgres.create()
    try:
        yield url
    finally:
        postgres.drop(url)


@pytest.fixture(autouse=True)
def _store_backend(request, monkeypatch):
    """With NEWSLETTER_TEST_STORE=postgresql, every config in the test uses a fresh PostgreSQL database."""
    if STORE != "postgresql" or request.node.get_closest_marker("sqlite_only"):
        yield
        return
    server = request.getfixturevalue("postgres")
    url = server.create()
    monkeypatch.setenv("NEWSLETTER_DATABASE", url)
    try:
        yield
    finally:
        server.drop(url)
