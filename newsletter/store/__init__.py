"""The store: SQLAlchemy tables, migrations and the queries the other stages need (SQLite by default).

The delivery ledger and its claims live here too: ledger.py (the rows and their states),
claims.py (one sending process's claims, leases and durable results), journal.py (results
kept on disk when the ledger cannot be written).
"""

from newsletter.store.claims import LedgerSession, new_worker_id
from newsletter.store.core import Store, TopicRow, UpsertCounts
from newsletter.store.engine import database_label, sqlite_path
from newsletter.store.journal import Journal, replay_journals
from newsletter.store.leader import LeaderLock
from newsletter.store.ledger import (CLAIMED, FAILED, QUEUED, SENT, SKIPPED, UNKNOWN, Counts, Outcome, Pending)
from newsletter.store.migrations import latest_version
from newsletter.store.subscriber_csv import CSV_COLUMNS
from newsletter.store.subscribers import KEEP, CsvReport, normalise_address
from newsletter.store.web import Limits, QueuedMail, Signup

__all__ = ["CLAIMED", "CSV_COLUMNS", "FAILED", "KEEP", "QUEUED", "SENT", "SKIPPED", "UNKNOWN", "Counts", "CsvReport",
           "Journal", "LeaderLock", "LedgerSession", "Limits", "Outcome", "Pending", "QueuedMail", "Signup", "Store",
           "TopicRow", "UpsertCounts", "database_label", "latest_version", "new_worker_id", "normalise_address",
           "replay_journals", "sqlite_path"]
