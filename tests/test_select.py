"""Selection: topics, the issue window, the limit, what earlier issues sent, and empty issues."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter.config import parse_config
from newsletter.select import select_articles, slot_for_date, slot_for_run
from newsletter.store import Store

from tests.conftest import make_article

UTC = timezone.utc


def digest(tmp_path: Path, **values):
    raw = {"newsletter": {"timezone": values.pop("tz", "UTC")}, "digests": {"daily": values}}
    return parse_config(raw, tmp_path / "newsletter.toml").digests["daily"]


@pytest.fixture
def store(tmp_path: Path):
    # NEWSLETTER_DATABASE is a fresh PostgreSQL database when NEWSLETTER_TEST_STORE=postgresql (tests/pg.py).
    with Store(os.environ.get("NEWSLETTER_DATABASE") or f"sqlite:///{tmp_path / 'select.db'}") as s:
        yield s


def at(day: int, hour: int = 9, tz=UTC) -> datetime:
    return datetime(2024, 10, day, hour, tzinfo=tz)


def test_window_is_the_issue_day_in_the_digest_zone(tmp_path: Path):
    d = digest(tmp_path, tz="America/New_York", window="1d")
    slot = slot_for_date(d, date(2024, 10, 11))
    ny = ZoneInfo("America/New_York")
    assert slot.key == "2024-10-11"
    assert slot.start < datetime(2024, 10, 11, 0, 0, tzinfo=ny) <= slot.end
    assert slot.end < datetime(2024, 10, 12, 0, 0, tzinfo=ny)
    assert slot.end - slot.start == timedelta(days=1)


def test_day_window_picks_that_day_only(tmp_path: Path, store: Store):
    store.upsert([make_article(1, published=at(10, 23)), make_article(2, published=at(11, 0)),
                  make_article(3, published=at(11, 23)), make_article(4, published=at(12, 0))])
    d = digest(tmp_path, window="1d")
    picked = select_articles(store, d, slot_for_date(d, date(2024, 10, 11)))
    assert [a.title for a in picked] == ["Headline 3", "Headline 2"]


def test_window_in_new_york_shifts_utc_articles(tmp_path: Path, store: Store):
    # 02:00 UTC on the 12th is still the 11th in New York.
    store.upsert([make_article(1, published=datetime(2024, 10, 12, 2, tzinfo=UTC))])
    d = digest(tmp_path, tz="America/New_York", window="1d")
    assert len(select_articles(store, d, slot_for_date(d, date(2024, 10, 11)))) == 1
    assert select_articles(store, d, slot_for_date(d, date(2024, 10, 12))) == []


def test_seven_day_window(tmp_path: Path, store: Store):
    store.upsert([make_article(i, published=at(i)) for i in range(1, 12)])
    d = digest(tmp_path, window="7d")
    picked = select_articles(store, d, slot_for_date(d, date(2024, 10, 11)))
    assert [a.title for a in picked] == [f"Headline {i}" for i in range(11, 4, -1)]


def test_topics_match_by_slug_any_of(tmp_path: Path, store: Store):
    store.upsert([make_article(1, topics=("Gaza War 2023",)), make_article(2, topics=("Russia",)),
                  make_article(3, topics=("Iran", "Russia"))])
    d = digest(tmp_path, topics=["gaza war 2023", "IRAN"])
    picked = select_articles(store, d, slot_for_date(d, date(2024, 10, 11)))
    assert sorted(a.title for a in picked) == ["Headline 1", "Headline 3"]


def test_max_articles_keeps_the_newest(tmp_path: Path, store: Store):
    store.upsert([make_article(i, published=at(11, i)) for i in range(1, 8)])
    d = digest(tmp_path, max_articles=3)
    picked = select_articles(store, d, slot_for_date(d, date(2024, 10, 11)))
    assert [a.title for a in picked] == ["Headline 7", "Headline 6", "Headline 5"]


def test_articles_of_an_earlier_issue_are_left_out(tmp_path: Path, store: Store):
    store.upsert([make_article(i, published=at(11, i)) for i in range(1, 5)])
    d = digest(tmp_path, window="7d", max_articles=2)
    first = slot_for_date(d, date(2024, 10, 11))
    picked = select_articles(store, d, first)
    store.record_issue("daily", first.key, first.issue_date, [a.id for a in picked], "s", None)
    second = select_articles(store, d, slot_for_date(d, date(2024, 10, 12)))
    assert [a.title for a in picked] == ["Headline 4", "Headline 3"]
    assert [a.title for a in second] == ["Headline 2", "Headline 1"]
    # Another digest is not affected by what "daily" sent.
    other = parse_config({"digests": {"weekly": {"window": "7d"}}}, tmp_path / "x.toml").digests["weekly"]
    assert len(select_articles(store, other, slot_for_date(other, date(2024, 10, 12)))) == 4


def test_nothing_new_is_empty(tmp_path: Path, store: Store):
    d = digest(tmp_path)
    assert select_articles(store, d, slot_for_date(d, date(2024, 10, 11))) == []


def test_sub_day_cadence_keys_issues_by_time(tmp_path: Path):
    d = digest(tmp_path, cadence="every 10s", window="10s")
    slot = slot_for_run(d, datetime(2024, 10, 11, 7, 0, 10, tzinfo=UTC))
    assert slot.key == "2024-10-11T070010"
    assert slot.end - slot.start == timedelta(seconds=10)
    daily = digest(tmp_path, cadence="0 7 * * mon-fri")
    assert slot_for_run(daily, datetime(2024, 10, 11, 7, tzinfo=UTC)).key == "2024-10-11"


def test_undated_articles_come_after_the_dated_so_never_lead(tmp_path: Path, store: Store):
    undated = make_article(9, published=at(11, 8), title="Stamped with the import time")
    store.upsert([make_article(1, published=at(11, 1)), make_article(2, published=at(11, 2)), undated],
                 undated={undated.id})
    d = digest(tmp_path)
    picked = select_articles(store, d, slot_for_date(d, date(2024, 10, 11)))
    assert [a.title for a in picked] == ["Headline 2", "Headline 1", "Stamped with the import time"]
    # Full issues hold the undated one over first.
    two = digest(tmp_path, max_articles=2)
    assert [a.title for a in select_articles(store, two, slot_for_date(two, date(2024, 10, 11)))] == \
        ["Headline 2", "Headline 1"]


def test_draft_articles_are_never_picked_but_are_listed(tmp_path: Path, store: Store):
    store.upsert([make_article(1), make_article(2, draft=True)])
    d = digest(tmp_path)
    assert [a.title for a in select_articles(store, d, slot_for_date(d, date(2024, 10, 11)))] == ["Headline 1"]
    assert {a.title: a.draft for a in store.find_articles()} == {"Headline 1": False, "Headline 2": True}


def test_articles_left_out_by_the_editor_are_not_offered_again(tmp_path: Path, store: Store):
    store.upsert([make_article(i, published=at(11, i)) for i in range(1, 4)])
    d = digest(tmp_path)
    first = slot_for_date(d, date(2024, 10, 11))
    store.record_issue("daily", first.key, first.issue_date, [make_article(3).id], "s", None,
                       left_out=[make_article(2).id])
    later = select_articles(store, d, slot_for_date(d, date(2024, 10, 12)))
    assert [a.title for a in later] == ["Headline 1"]
    # Rebuilding the same issue with --force may offer it again: only other issues count.
    assert [a.title for a in select_articles(store, d, first)] == ["Headline 3", "Headline 2", "Headline 1"]


def test_renaming_an_article_keeps_what_the_editor_left_out(tmp_path: Path, store: Store):
    old = make_article(1, id="file:note")
    store.upsert([old, make_article(2)])
    store.record_issue("daily", "2024-10-11", date(2024, 10, 11), [make_article(2).id], "s", None, left_out=[old.id])
    assert store.rename_articles({"file:note": "file:2024/note.md"}) == 1
    issue = store.get_issue("daily", "2024-10-11")
    assert store.left_out(issue.id) == ["file:2024/note.md"]
    d = digest(tmp_path)
    assert [a.id for a in select_articles(store, d, slot_for_date(d, date(2024, 10, 12)))] == []
