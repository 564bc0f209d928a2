"""The store: SQLAlchemy tables, migrations and the queries the other stages need (SQLite by default)."""

from newsletter.store.core import Store, TopicRow, UpsertCounts
from newsletter.store.engine import database_label, sqlite_path
from newsletter.store.migrations import latest_version

__all__ = ["Store", "TopicRow", "UpsertCounts", "database_label", "latest_version", "sqlite_path"]
