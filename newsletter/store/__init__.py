"""The store: SQLAlchemy tables and the queries the other stages need (SQLite by default)."""

from newsletter.store.core import Store, TopicRow, UpsertCounts
from newsletter.store.tables import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "Store", "TopicRow", "UpsertCounts"]
