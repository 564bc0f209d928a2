"""Each issue carries what is new since the previous one: cut-offs, the weekend, late imports, held-over articles.

Scheduled runs are driven with fixed scheduled times (run_digest), builds with fixed dates, on a
real project and database (SQLite, or PostgreSQL with NEWSLETTER_TEST_STORE=postgresql).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

from newsletter.config import load_config
from newsletter.pipeline import build, open_store
from newsletter.pipeline.run import run_digest

from tests.conftest import write_config, write_markdown

UTC = timezone.utc
THU, FRI, MON, TUE = (datetime(2024, 10, d, 7, 0, tzinfo=UTC) for d in (10, 11, 14, 15))
MON_FRI = """
[digests.daily]
cadence = "0 7 * * mon-fri"
"""


def project(tmp_path: Path, digests: str = MON_FRI) -> Path:
    return write_config(tmp_path / "project", digests=digests)


def publish(config: Path, slug: str, when: str) -> None:
    """An article titled `slug`, published at `when` (UTC)."""
    write_markdown(config.parent / "articles", f"{slug}.md", slug, date=when)


def carried(config: Path, key: str, digest: str = "daily") -> list[str]:
    with open_store(load_config(config)) as store:
        issue = store.get_issue(digest, key)
        return [a.title for a in issue.articles] if issue else []


# Published across a week of a mon-fri 07:00 digest: after 07:00, overnight, over the weekend.
WEEK = {
    "thu-0600": "2024-10-10T06:00:00Z", "thu-1800": "2024-10-10T18:00:00Z",
    "fri-0659": "2024-10-11T06:59:00Z", "fri-0700": "2024-10-11T07:00:00Z", "fri-0701": "2024-10-11T07:01:00Z",
    "fri-2000": "2024-10-11T20:00:00Z", "sat-1100": "2024-10-12T11:00:00Z", "sun-2330": "2024-10-13T23:30:00Z",
    "mon-0630": "2024-10-14T06:30:00Z", "mon-0900": "2024-10-14T09:00:00Z",
}


def test_friday_and_monday_issues_carry_each_article_once_and_lose_none(tmp_path: Path):
    config = project(tmp_path)
    for slug, when in WEEK.items():
        publish(config, slug, when)
    outcomes = [run_digest(str(config), "daily", moment) for moment in (THU, FRI, MON, TUE)]
    assert [o.status for o in outcomes] == ["built"] * 4
    issues = {key: carried(config, key) for key in ("2024-10-10", "2024-10-11", "2024-10-14", "2024-10-15")}
    assert issues == {
        "2024-10-10": ["thu-0600"],
        # Up to and including the 07:00 cut-off: Thursday after the run, the night, Friday at seven.
        "2024-10-11": ["fri-0700", "fri-0659", "thu-1800"],
        # Everything after Friday 07:00 through the weekend to Monday 07:00.
        "2024-10-14": ["mon-0630", "sun-2330", "sat-1100", "fri-2000", "fri-0701"],
        "2024-10-15": ["mon-0900"],
    }
    every = Counter(title for titles in issues.values() for title in titles)
    assert set(every) == set(WEEK) and set(every.values()) == {1}


def test_an_article_published_before_an_issue_but_imported_after_it_goes_out_next(tmp_path: Path):
    config = project(tmp_path)
    publish(config, "fri-0600", "2024-10-11T06:00:00Z")
    assert run_digest(str(config), "daily", FRI).articles == 1
    # Dated Thursday evening, before Friday's cut-off, but only written (imported) after Friday's run.
    publish(config, "thu-2100-late", "2024-10-10T21:00:00Z")
    publish(config, "sat-0900", "2024-10-12T09:00:00Z")
    assert run_digest(str(config), "daily", MON).status == "built"
    assert carried(config, "2024-10-11") == ["fri-0600"]
    assert carried(config, "2024-10-14") == ["sat-0900", "thu-2100-late"]


def test_articles_over_max_articles_are_held_over_and_said(tmp_path: Path):
    config = project(tmp_path, MON_FRI + "max_articles = 2\n")
    for hour in range(1, 6):  # a1 .. a5, Friday 01:00 .. 05:00
        publish(config, f"a{hour}", f"2024-10-11T0{hour}:00:00Z")
    loaded = load_config(config)
    friday = build(loaded, day=date(2024, 10, 11))
    assert [carried(config, "2024-10-11"), friday.held_over] == [["a5", "a4"], 3]
    assert "3 more eligible articles held over for the next issue (max_articles = 2)" in friday.notes
    publish(config, "mon-0600", "2024-10-14T06:00:00Z")
    monday = build(loaded, day=date(2024, 10, 14))
    assert [carried(config, "2024-10-14"), monday.held_over] == [["mon-0600", "a3"], 2]
    tuesday = build(loaded, day=date(2024, 10, 15))
    assert [carried(config, "2024-10-15"), tuesday.held_over, tuesday.notes] == [["a2", "a1"], 0, []]


def test_window_is_the_greatest_age_of_an_article(tmp_path: Path):
    config = project(tmp_path, MON_FRI + '\n[digests.wide]\ncadence = "0 7 * * mon-fri"\nwindow = "10d"\n')
    publish(config, "eight-days-old", "2024-10-03T06:00:00Z")
    publish(config, "six-days-old", "2024-10-05T06:00:00Z")
    for name in ("daily", "wide"):
        build(load_config(config), name, date(2024, 10, 11))
    assert carried(config, "2024-10-11") == ["six-days-old"]  # the default window is 7d
    assert carried(config, "2024-10-11", "wide") == ["six-days-old", "eight-days-old"]


def test_build_on_a_day_the_cadence_skips_is_cut_off_at_the_end_of_that_day(tmp_path: Path):
    config = project(tmp_path)
    publish(config, "sat-2300", "2024-10-12T23:00:00Z")
    saturday = build(load_config(config), day=date(2024, 10, 12))
    assert carried(config, "2024-10-12") == ["sat-2300"]
    assert saturday.cutoff == datetime(2024, 10, 13, tzinfo=UTC) - saturday.cutoff.resolution
    assert any("does not run on Saturday 2024-10-12" in note for note in saturday.notes)


def test_without_a_cadence_the_issue_of_a_day_is_cut_off_at_its_end_in_the_digest_zone(tmp_path: Path):
    config = project(tmp_path, '\n[digests.daily]\ntimezone = "America/New_York"\n')
    publish(config, "ny-evening", "2024-10-12T02:00:00Z")  # 22:00 on the 11th in New York
    result = build(load_config(config), day=date(2024, 10, 11))
    assert carried(config, "2024-10-11") == ["ny-evening"] and result.notes == []
    assert result.cutoff.isoformat() == "2024-10-11T23:59:59.999999-04:00"
