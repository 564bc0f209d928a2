"""Selection: which articles go into one issue of a digest."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from newsletter.config import Digest
from newsletter.model import Article

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssueSlot:
    """One issue of a digest: its key, its date, and the window of publication it covers."""

    key: str
    issue_date: date
    start: datetime  # exclusive
    end: datetime    # inclusive


def slot_for_date(digest: Digest, day: date) -> IssueSlot:
    """The issue of day D covers (end of D - window, end of D] in the digest's time zone."""
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=digest.timezone) - timedelta(microseconds=1)
    return IssueSlot(key=day.isoformat(), issue_date=day, start=end - digest.window, end=end)


def slot_for_run(digest: Digest, scheduled: datetime) -> IssueSlot:
    """A scheduled run: keyed by its date for daily-or-longer cadences, by its time for shorter ones."""
    local = scheduled.astimezone(digest.timezone)
    if digest.cadence is not None and digest.cadence.shorter_than_a_day:
        return IssueSlot(key=local.strftime("%Y-%m-%dT%H%M%S"), issue_date=local.date(),
                         start=local - digest.window, end=local)
    return slot_for_date(digest, local.date())


def select_articles(store, digest: Digest, slot: IssueSlot) -> list[Article]:
    """The digest's topics (any of; none = all), in the slot's window, newest first, not in another issue."""
    picked = store.find_articles(topics_any=digest.topics, since=slot.start, until=slot.end,
                                 include_since=False, limit=digest.max_articles, not_in_digest=digest.name,
                                 except_issue=slot.key)
    log.debug("digest %s issue %s: %d articles in (%s, %s]", digest.name, slot.key, len(picked), slot.start, slot.end)
    return picked
