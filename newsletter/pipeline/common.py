"""What every part of the pipeline shares."""

from __future__ import annotations

from newsletter.config import Config
from newsletter.store import Store


def open_store(config: Config) -> Store:
    """The configured database, schema checked."""
    return Store(config.database)
