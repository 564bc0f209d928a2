"""Numbered schema migrations: a database made by an earlier release is upgraded in place.

`tables.py` describes the newest schema; a new database is created from it directly. A
database made by an earlier release carries its schema version in `meta`; each registered
step brings it one version further, in one transaction, under a lock that keeps two
processes from upgrading at once (SQLite: the write lock of BEGIN IMMEDIATE; PostgreSQL: a
transaction-scoped advisory lock). A step is a function of a Connection, written against the
schema as it stood at the previous version: never import today's tables into an old step.

To change the schema: edit `tables.py`, then add `@migration(N)` with the next number here.
`tests/test_store_migrations.py` upgrades databases made by release 1 and checks that the
result matches a new database table by table, so a forgotten step fails there.

Why our own registry rather than Alembic: the steps ship inside the package and run on open,
with no migration folder, `alembic.ini` or separate command for an editor to run; the schema
is a dozen tables, and SQLite's table rebuilds are a few lines with the helpers below.
"""

from __future__ import annotations

import logging
from typing import Callable

import sqlalchemy as sa

log = logging.getLogger(__name__)

Step = Callable[[sa.Connection], None]
MIGRATIONS: dict[int, Step] = {}
FIRST_VERSION = 1  # the schema of the first release; a database without a version is not ours
ADVISORY_LOCK_ID = 0x6E6C5F6D6967  # "nl_mig": serialises schema changes on PostgreSQL


def migration(version: int) -> Callable[[Step], Step]:
    """Register the step that upgrades a database from `version - 1` to `version`."""
    def register(step: Step) -> Step:
        if version in MIGRATIONS or version <= FIRST_VERSION:
            raise RuntimeError(f"migration {version} is registered twice or numbered too low")
        MIGRATIONS[version] = step
        return step
    return register


def latest_version() -> int:
    return max(MIGRATIONS, default=FIRST_VERSION)


def lock_for_schema_change(conn: sa.Connection) -> None:
    """Hold, for the rest of this transaction, the lock that serialises schema changes."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
    # SQLite: the caller's transaction began with BEGIN IMMEDIATE and holds the write lock.


def pending(found: int) -> list[int]:
    """The step numbers a database at version `found` still needs, in order."""
    return [v for v in sorted(MIGRATIONS) if v > found]


def apply(conn: sa.Connection, found: int) -> list[int]:
    """Run the steps a database at version `found` needs, inside the caller's transaction."""
    done = []
    for version in pending(found):
        log.info("upgrading the database schema to version %d", version)
        MIGRATIONS[version](conn)
        done.append(version)
    return done


# -- the steps -----------------------------------------------------------------

@migration(2)
def _claims_and_token_salts(conn: sa.Connection) -> None:
    """Claimed deliveries (holder, lease, retry time); a token salt per subscriber; ids never reused on SQLite."""
    for column in (sa.Column("claimed_by", sa.String(128)), sa.Column("lease_until", sa.DateTime),
                   sa.Column("retry_after", sa.DateTime)):
        add_column(conn, "deliveries", column)
    claims = sa.Table("deliveries", sa.MetaData(), sa.Column("claimed_by", sa.String(128)))
    sa.Index("ix_deliveries_claimed_by", claims.c.claimed_by).create(conn)
    salt = sa.Column("salt", sa.String(32), nullable=False, server_default="")
    if conn.dialect.name != "sqlite":
        add_column(conn, "subscribers", salt)  # PostgreSQL's sequences never hand an id out twice
        return
    # AUTOINCREMENT can only be given by a rebuild. Existing rows keep their ids and an empty
    # salt, so the unsubscribe links already in their inboxes keep working.
    v2 = sa.Table(
        "subscribers", sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("topics", sa.Text, nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
        salt,
        sqlite_autoincrement=True,
    )
    rebuild_table(conn, v2, ["id", "email", "name", "status", "topics", "created", "updated"])



@migration(3)
def _source_states(conn: sa.Connection) -> None:
    """Issue 10: what each source's last sync found, per source and per file; Markdown ids re-keyed once.

    Feed URLs move from source_files (which keeps files only) to source_states with their
    validators. Markdown files without url or id were named by their stem in release 1 and by
    their path in the source folder since: source_files starts empty, so the first sync after
    the upgrade reads every file and re-keys each old id that exactly one file claims
    (pipeline.sync), instead of storing a second copy of articles that issues already carried.
    """
    md = sa.MetaData()
    states = sa.Table(
        "source_states", md,
        sa.Column("key", sa.String(4096), primary_key=True),
        sa.Column("last_checked", sa.DateTime),
        sa.Column("last_read", sa.DateTime),
        sa.Column("articles", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("error", sa.Text),
        sa.Column("status", sa.Integer),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("moved_to", sa.Text),
        sa.Column("gone", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    states.create(conn)
    conn.execute(sa.text("INSERT INTO source_states (key, etag, last_modified) SELECT key, etag, last_modified "
                         "FROM source_files WHERE key LIKE 'http://%' OR key LIKE 'https://%'"))
    files = sa.Table(
        "source_files", md,
        sa.Column("key", sa.String(4096), primary_key=True),
        sa.Column("mtime_ns", sa.BigInteger),
        sa.Column("size", sa.BigInteger),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("error", sa.Text),
        sa.Column("articles", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    conn.execute(sa.text("DROP TABLE source_files"))
    files.create(conn)

# -- helpers for steps ---------------------------------------------------------

def add_column(conn: sa.Connection, table: str, column: sa.Column) -> None:
    """ALTER TABLE ... ADD COLUMN, with the column's type and default compiled for this database."""
    ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
    conn.execute(sa.text(f"ALTER TABLE {conn.dialect.identifier_preparer.quote(table)} ADD COLUMN {ddl}"))


def rebuild_table(conn: sa.Connection, new: sa.Table, columns: list[str]) -> None:
    """Replace a table by `new` (same name), copying `columns`; for changes ALTER TABLE cannot make on SQLite.

    `new` must be defined on its own MetaData. Foreign keys are off while migrations run on
    SQLite (see Store), so dropping the old table cascades to nothing; they are checked after.
    """
    quote = conn.dialect.identifier_preparer.quote
    name, temp = new.name, f"_new_{new.name}"
    staged = new.to_metadata(sa.MetaData(), name=temp)
    for index in list(staged.indexes):  # indexes are made under their real names after the rename
        staged.indexes.discard(index)
    staged.create(conn)
    cols = ", ".join(quote(c) for c in columns)
    conn.execute(sa.text(f"INSERT INTO {quote(temp)} ({cols}) SELECT {cols} FROM {quote(name)}"))
    conn.execute(sa.text(f"DROP TABLE {quote(name)}"))
    conn.execute(sa.text(f"ALTER TABLE {quote(temp)} RENAME TO {quote(name)}"))
    for index in new.indexes:
        index.create(conn)


# -- the steps -------------------------------------------------------------------

@migration(4)
def _editors_issue(conn: sa.Connection) -> None:
    """Issue 11: dated/draft articles, issue cut-offs and the editor's draft, per-digest unsubscribes."""
    add_column(conn, "articles", sa.Column("dated", sa.Boolean, nullable=False, server_default=sa.true()))
    add_column(conn, "articles", sa.Column("draft", sa.Boolean, nullable=False, server_default=sa.false()))
    for name in ("intro", "editor_subject", "editor_preheader"):
        add_column(conn, "issues", sa.Column(name, sa.Text))
    add_column(conn, "issues", sa.Column("cutoff", sa.DateTime))
    add_column(conn, "subscriber_digests", sa.Column("status", sa.String(16), nullable=False,
                                                     server_default="active"))
    schema = sa.MetaData()
    # Only the key columns the new tables refer to; these two are not created here.
    sa.Table("issues", schema, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table("articles", schema, sa.Column("id", sa.String(2048), primary_key=True))
    left_out = sa.Table(
        "issue_left_out", schema,
        sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("article_id", sa.String(2048), sa.ForeignKey("articles.id"), primary_key=True),
        sa.Index("ix_issue_left_out_article", "article_id"),
    )
    offers = sa.Table(
        "draft_offers", schema,
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("article_ids", sa.Text, nullable=False),
        sa.Column("written", sa.DateTime, nullable=False),
    )
    left_out.create(conn)
    offers.create(conn)


@migration(5)
def _archive(conn: sa.Connection) -> None:
    """Issue 12: each issue as sent, without any reader's token or address, for the public archive."""
    sa.Table(
        "archived_issues", sa.MetaData(),
        sa.Column("digest", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("issue_date", sa.Date, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("preheader", sa.Text, nullable=False),
        sa.Column("sent", sa.DateTime, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    ).create(conn)


@migration(6)
def _serve_tables(conn: sa.Connection) -> None:
    """Issue 12: pending sign-ups, the confirmation mail queue and shared rate limits of `newsletter serve`."""
    schema = sa.MetaData()
    sa.Table(
        "signups", schema,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("digests", sa.Text, nullable=False),
        sa.Column("topics", sa.Text, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("expires", sa.DateTime, nullable=False),
        sa.Index("ix_signups_email", "email"),
    )
    sa.Table(
        "mail_queue", schema,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("next_try", sa.DateTime, nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
        sa.Index("ix_mail_queue_status_next", "status", "next_try"),
    )
    sa.Table(
        "rate_events", schema,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Index("ix_rate_events_scope_key_at", "scope", "key", "at"),
    )
    schema.create_all(conn)


@migration(7)
def _open_deliveries_index(conn: sa.Connection) -> None:
    """Claims read an index of the ledger rows still to act on, not every row of the issue; the index of
    holders keeps only rows that are held."""
    open_rows = "status IN ('queued', 'claimed', 'unknown') OR (status = 'failed' AND NOT permanent)"
    held = "claimed_by IS NOT NULL"
    table = sa.Table("deliveries", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("issue_id", sa.Integer), sa.Column("claimed_by", sa.String(128)))
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_deliveries_claimed_by"))
    sa.Index("ix_deliveries_claimed_by", table.c.claimed_by, postgresql_where=sa.text(held),
             sqlite_where=sa.text(held)).create(conn)
    sa.Index("ix_deliveries_open", table.c.issue_id, table.c.id, postgresql_where=sa.text(open_rows),
             sqlite_where=sa.text(open_rows)).create(conn)
