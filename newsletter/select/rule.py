"""The selection rule: which articles go into one issue of a digest.

The rule (README, "Which articles an issue carries"): an issue has a cut-off time; it carries
the digest's topics published at or before the cut-off and no older than `window`, that no
other issue of the digest carried or had left out by the editor, that are not drafts, newest
first (undated ones after the dated), up to `max_articles`. What does not fit stays eligible
for the next issue. The arithmetic of keys and cut-offs is in `cadence`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Sequence

from newsletter.cadence import cutoff_on, end_of_day, issue_key, parse_issue_key
from newsletter.config import Digest
from newsletter.model import Article

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssueSlot:
    """One issue of a digest: its key, its date, and what it may carry: published in (start, end]."""

    key: str
    issue_date: date
    start: datetime  # exclusive: the cut-off minus the digest's window
    end: datetime    # inclusive: the cut-off
    note: str | None = None  # how the cut-off was chosen, when that is not the obvious way

    @property
    def cutoff(self) -> datetime:
        return self.end


@dataclass(frozen=True)
class Selection:
    """The articles the rule picks for an issue, and how many more were eligible but did not fit."""

    articles: list[Article]
    held_over: int


def slot_for_date(digest: Digest, day: date) -> IssueSlot:
    """The issue of day D: cut off at the cadence's (latest) time on D, else at the end of D, in the digest's zone."""
    note = None
    cutoff = cutoff_on(digest, day) if digest.cadence is not None else None
    if cutoff is None:
        cutoff = end_of_day(day, digest.timezone)
        if digest.cadence is not None:
            note = (f"the cadence {digest.cadence.text!r} does not run on {day:%A} {day.isoformat()}, "
                    f"so this issue is cut off at the end of that day")
    return IssueSlot(key=day.isoformat(), issue_date=day, start=cutoff - digest.window, end=cutoff, note=note)


def slot_for_run(digest: Digest, scheduled: datetime) -> IssueSlot:
    """A scheduled run: cut off at its scheduled time; keyed by date (daily or longer) or by time (shorter)."""
    local = scheduled.astimezone(digest.timezone)
    return IssueSlot(key=issue_key(digest, local), issue_date=local.date(), start=local - digest.window, end=local)


def slot_for_key(digest: Digest, key: str) -> IssueSlot | None:
    """The slot of an issue key: a date ("2024-10-11") or a scheduled time ("2024-10-11T070000"); None if neither."""
    found = parse_issue_key(key, digest.timezone)
    if found is None:
        return None
    if isinstance(found, datetime):
        # A time key is a sub-daily run's: cut off at that time, whatever the cadence says today.
        return IssueSlot(key=key, issue_date=found.date(), start=found - digest.window, end=found)
    return slot_for_date(digest, found)


def _rule(digest: Digest, slot: IssueSlot) -> dict:
    """The filters of the selection rule, as Store.find_articles takes them."""
    return dict(topics_any=digest.topics, since=slot.start, until=slot.end, include_since=False,
                not_in_digest=digest.name, except_issue=slot.key, skip_drafts=True)


def select_articles(store, digest: Digest, slot: IssueSlot) -> list[Article]:
    """The articles the rule picks: eligible, newest first (undated after dated), up to max_articles."""
    picked = store.find_articles(**_rule(digest, slot), undated_last=True, limit=digest.max_articles)
    log.debug("digest %s issue %s: %d articles in (%s, %s]", digest.name, slot.key, len(picked), slot.start, slot.end)
    return picked


def held_over(store, digest: Digest, slot: IssueSlot, carried: Sequence[str]) -> int:
    """How many articles the rule finds eligible for this issue that it does not carry (they wait for the next)."""
    return store.count_articles(**_rule(digest, slot), exclude_ids=list(carried))


def select_issue(store, digest: Digest, slot: IssueSlot) -> Selection:
    """The rule's pick for an issue and the number held over."""
    picked = select_articles(store, digest, slot)
    return Selection(picked, held_over(store, digest, slot, [a.id for a in picked]))
