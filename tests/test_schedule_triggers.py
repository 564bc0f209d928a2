"""Triggers, run times and `schedule list`, all on a fixed clock."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from newsletter import cadence, schedule
from newsletter.cli import app
from newsletter.select import slot_for_run
from tests.conftest import REPO, config_from, write_config

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
runner = CliRunner()


def digest(tmp_path: Path, cadence: str, zone: str = "UTC", grace: str = "1h"):
    """A digest parsed from a real config file, as the scheduler sees it."""
    path = write_config(tmp_path / "p", digests=textwrap.dedent(f"""
        [digests.daily]
        cadence = "{cadence}"
        timezone = "{zone}"
        misfire_grace = "{grace}"
    """))
    return config_from(path).digests["daily"]


def iso(moments) -> list[str]:
    return [m.isoformat() for m in moments]


FRIDAY_8AM = datetime(2024, 10, 11, 8, 0, tzinfo=UTC)


def test_cron_day_names_skip_the_weekend(tmp_path):
    runs = cadence.next_runs(digest(tmp_path, "0 7 * * mon-fri"), FRIDAY_8AM)
    assert iso(runs) == ["2024-10-14T07:00:00+00:00", "2024-10-15T07:00:00+00:00", "2024-10-16T07:00:00+00:00"]
    assert [r.strftime("%a") for r in runs] == ["Mon", "Tue", "Wed"]


@pytest.mark.parametrize("numbers, names", [
    ("1-5", "mon-fri"),
    ("0", "sun"),
    ("7", "sun"),
    ("0,6", "sat,sun"),
    ("5-1", "fri-mon"),   # wraps past Sunday
    ("*/2", "sun,tue,thu,sat"),
])
def test_cron_day_numbers_mean_what_cron_means(tmp_path, numbers, names):
    # APScheduler 3 counts 0 as Monday; config.py turns cron numbers into names, so 0 stays Sunday.
    by_number = cadence.next_runs(digest(tmp_path / "n", f"0 7 * * {numbers}"), FRIDAY_8AM, 8)
    by_name = cadence.next_runs(digest(tmp_path / "a", f"0 7 * * {names}"), FRIDAY_8AM, 8)
    assert by_number == by_name


def test_sunday_is_sunday(tmp_path):
    runs = cadence.next_runs(digest(tmp_path, "0 9 * * 0"), FRIDAY_8AM, 2)
    assert iso(runs) == ["2024-10-13T09:00:00+00:00", "2024-10-20T09:00:00+00:00"]


def test_day_of_month_and_weekday_match_either_as_in_cron(tmp_path):
    # "the 13th, and every Friday": cron ORs the two day fields; APScheduler alone would AND them.
    runs = cadence.next_runs(digest(tmp_path, "0 7 13 * fri"), FRIDAY_8AM, 4)
    assert iso(runs) == ["2024-10-13T07:00:00+00:00", "2024-10-18T07:00:00+00:00",
                         "2024-10-25T07:00:00+00:00", "2024-11-01T07:00:00+00:00"]


def test_month_names_and_steps(tmp_path):
    runs = cadence.next_runs(digest(tmp_path, "*/20 6 1 jan,jul *"), FRIDAY_8AM, 4)
    assert iso(runs) == ["2025-01-01T06:00:00+00:00", "2025-01-01T06:20:00+00:00",
                         "2025-01-01T06:40:00+00:00", "2025-07-01T06:00:00+00:00"]


@pytest.mark.parametrize("text, now, expected", [
    ("every 30m", datetime(2024, 10, 11, 8, 10, tzinfo=UTC),
     ["2024-10-11T08:30:00+00:00", "2024-10-11T09:00:00+00:00", "2024-10-11T09:30:00+00:00"]),
    ("every 6h", FRIDAY_8AM, ["2024-10-11T12:00:00+00:00", "2024-10-11T18:00:00+00:00", "2024-10-12T00:00:00+00:00"]),
    ("every 10s", datetime(2024, 10, 11, 8, 0, 5, tzinfo=UTC),
     ["2024-10-11T08:00:10+00:00", "2024-10-11T08:00:20+00:00", "2024-10-11T08:00:30+00:00"]),
    ("every 1d", FRIDAY_8AM, ["2024-10-12T00:00:00+00:00", "2024-10-13T00:00:00+00:00", "2024-10-14T00:00:00+00:00"]),
])
def test_intervals_count_from_a_fixed_midnight(tmp_path, text, now, expected):
    # Anchored, so the times do not depend on when the scheduler started and survive a restart.
    assert iso(cadence.next_runs(digest(tmp_path, text), now)) == expected


def test_interval_is_elapsed_time_across_a_clock_change(tmp_path):
    d = digest(tmp_path, "every 12h", "Europe/London")
    runs = cadence.next_runs(d, datetime(2024, 3, 30, 13, 0, tzinfo=UTC), 3)
    # Anchored at local midnight in winter (GMT): 00:00/12:00 GMT, which is 01:00/13:00 in summer.
    assert iso(runs) == ["2024-03-31T00:00:00+00:00", "2024-03-31T13:00:00+01:00", "2024-04-01T01:00:00+01:00"]
    assert all(b.astimezone(UTC) - a.astimezone(UTC) == timedelta(hours=12) for a, b in zip(runs, runs[1:]))


def test_time_zone_7am_london_is_6_utc_in_summer_and_7_in_winter(tmp_path):
    d = digest(tmp_path, "0 7 * * *", "Europe/London")
    summer = cadence.next_runs(d, datetime(2024, 7, 1, tzinfo=UTC), 1)[0]
    winter = cadence.next_runs(d, datetime(2024, 12, 2, tzinfo=UTC), 1)[0]
    assert summer.astimezone(UTC).hour == 6 and winter.astimezone(UTC).hour == 7
    assert summer.isoformat() == "2024-07-01T07:00:00+01:00" and winter.isoformat() == "2024-12-02T07:00:00+00:00"


def test_london_spring_forward_runs_the_missing_time_once_an_hour_later(tmp_path):
    # 31 March 2024: clocks go 01:00 GMT -> 02:00 BST, so 01:30 does not exist that day.
    d = digest(tmp_path, "30 1 * * *", "Europe/London")
    runs = cadence.next_runs(d, datetime(2024, 3, 30, 12, tzinfo=UTC))
    assert iso(runs) == ["2024-03-31T02:30:00+01:00", "2024-04-01T01:30:00+01:00", "2024-04-02T01:30:00+01:00"]
    assert [slot_for_run(d, r).key for r in runs] == ["2024-03-31", "2024-04-01", "2024-04-02"]


def test_london_fall_back_fires_twice_into_one_issue(tmp_path):
    # 27 October 2024: 01:30 happens twice (BST, then GMT). APScheduler fires at both; a daily
    # digest keys its issue by date, so the second run finds the issue done (see test_schedule_run).
    d = digest(tmp_path, "30 1 * * *", "Europe/London")
    runs = cadence.next_runs(d, datetime(2024, 10, 26, 12, tzinfo=UTC))
    assert iso(runs) == ["2024-10-27T01:30:00+01:00", "2024-10-27T01:30:00+00:00", "2024-10-28T01:30:00+00:00"]
    assert runs[1].astimezone(UTC) - runs[0].astimezone(UTC) == timedelta(hours=1)
    assert slot_for_run(d, runs[0]).key == slot_for_run(d, runs[1]).key == "2024-10-27"


def test_new_york_changes(tmp_path):
    spring = cadence.next_runs(digest(tmp_path / "s", "30 2 * * *", "America/New_York"),
                                datetime(2024, 3, 9, 12, tzinfo=UTC), 2)
    assert iso(spring) == ["2024-03-10T03:30:00-04:00", "2024-03-11T02:30:00-04:00"]
    fall = cadence.next_runs(digest(tmp_path / "f", "30 1 * * *", "America/New_York"),
                              datetime(2024, 11, 2, 12, tzinfo=UTC), 3)
    assert [t.astimezone(UTC).strftime("%d %H:%M") for t in fall] == ["03 05:30", "03 06:30", "04 06:30"]


def test_latest_run_is_the_fire_time_a_job_is_doing(tmp_path):
    d = digest(tmp_path, "0 7 * * mon-fri", "Europe/London", grace="1h")
    monday_7 = datetime(2024, 10, 14, 7, 0, tzinfo=LONDON)
    assert cadence.latest_run(d, monday_7) == monday_7                             # on time
    assert cadence.latest_run(d, monday_7 + timedelta(minutes=40)) == monday_7     # late, within the grace
    assert cadence.latest_run(d, monday_7 + timedelta(hours=3)) is None            # nothing due now
    assert cadence.latest_run(d, monday_7 - timedelta(seconds=1)) is None          # Sunday's was skipped
    fast = digest(tmp_path / "fast", "every 10s")
    assert cadence.latest_run(fast, datetime(2024, 10, 11, 8, 0, 9, 900000, tzinfo=UTC)) == \
        datetime(2024, 10, 11, 8, 0, 0, tzinfo=UTC)


def test_sub_day_cadences_key_each_run_by_its_time(tmp_path):
    d = digest(tmp_path, "every 6h", "Europe/London")
    keys = [slot_for_run(d, t).key for t in cadence.next_runs(d, datetime(2024, 10, 11, 1, tzinfo=UTC), 3)]
    # Anchored at midnight GMT (1 January), so in summer the runs fall at 01, 07, 13 and 19 BST.
    assert keys == ["2024-10-11T070000", "2024-10-11T130000", "2024-10-11T190000"]
    assert digest(tmp_path / "c", "0 7,19 * * *").cadence.shorter_than_a_day


def test_trigger_repr_is_stable_and_pickles(tmp_path):
    # The scheduler keeps a stored job's next run time only when the trigger's repr is unchanged.
    for text in ("every 10s", "0 7 * * mon-fri", "0 7 13 * fri"):
        d = digest(tmp_path / text.replace(" ", "_").replace("*", "x"), text, "Europe/London")
        trigger = cadence.trigger_for(d)
        assert repr(trigger) == repr(cadence.trigger_for(d))
        assert repr(pickle.loads(pickle.dumps(trigger))) == repr(trigger)
    unscheduled = config_from(write_config(tmp_path / "none", digests="[digests.d]\n")).digests["d"]
    assert cadence.trigger_for(unscheduled) is None and cadence.next_runs(unscheduled, FRIDAY_8AM) == []


# -- schedule list ------------------------------------------------------------

LIST_CONFIG = """
[digests.daily]
cadence = "0 7 * * mon-fri"
timezone = "Europe/London"

[digests.hourly]
cadence = "every 6h"
delivery = "smtp"

[digests.manual]
title = "By hand"

[smtp]
host = "127.0.0.1"
"""


def test_schedule_list_json_with_a_fixed_clock(tmp_path, monkeypatch):
    path = write_config(tmp_path / "p", digests=LIST_CONFIG)
    monkeypatch.setattr(schedule, "clock", lambda: FRIDAY_8AM)
    result = runner.invoke(app, ["--config", str(path), "schedule", "list", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"digest": "daily", "cadence": "0 7 * * mon-fri", "timezone": "Europe/London", "delivery": "outbox",
         "next_runs": ["2024-10-14T07:00:00+01:00", "2024-10-15T07:00:00+01:00", "2024-10-16T07:00:00+01:00"]},
        {"digest": "hourly", "cadence": "every 6h", "timezone": "UTC", "delivery": "smtp",
         "next_runs": ["2024-10-11T12:00:00+00:00", "2024-10-11T18:00:00+00:00", "2024-10-12T00:00:00+00:00"]},
        {"digest": "manual", "cadence": None, "timezone": "UTC", "delivery": "outbox", "next_runs": []},
    ]


def test_schedule_list_table(tmp_path, monkeypatch):
    path = write_config(tmp_path / "p", digests=LIST_CONFIG)
    monkeypatch.setattr(schedule, "clock", lambda: FRIDAY_8AM)
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["--config", str(path), "schedule", "list"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "Mon 2024-10-14 07:00 BST" in result.stdout and "Fri 2024-10-11 12:00 UTC" in result.stdout
    assert "not scheduled" in result.stdout


@pytest.mark.parametrize("line, field, words", [
    ('cadence = "0 7 * * funday"', "digests.daily.cadence", "funday"),
    ('cadence = "0 25 * * *"', "digests.daily.cadence", "outside 0-23"),
    ('cadence = "every fortnight"', "digests.daily.cadence", "not a duration"),
    ('cadence = "7am"', "digests.daily.cadence", "5-field"),
    ('timezone = "Mars/Olympus"', "digests.daily.timezone", "not a known time zone"),
    ('delivery = "pigeon"', "digests.daily.delivery", "not one of"),
    ('misfire_grace = "soon"', "digests.daily.misfire_grace", "not a duration"),
])
def test_bad_schedule_settings_are_one_line_config_errors(tmp_path, line, field, words):
    path = write_config(tmp_path / "p", digests=f"[digests.daily]\n{line}\n")
    for command in (["schedule", "list"], ["schedule", "run"]):
        result = runner.invoke(app, ["--config", str(path), *command])
        assert result.exit_code == 1, result.output
        assert field in result.stderr and words in result.stderr
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.output


def test_help_does_not_import_apscheduler():
    code = ("import sys; from typer.testing import CliRunner; from newsletter.cli import app; "
            "r = CliRunner(); r.invoke(app, ['--help']); r.invoke(app, ['schedule', '--help']); "
            "r.invoke(app, ['schedule', 'run', '--help']); "
            "print(sorted(m for m in sys.modules if m.startswith('apscheduler')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_cutoff_on_a_day_is_the_cadences_latest_time_that_day(tmp_path):
    from datetime import date

    twice = digest(tmp_path / "a", "0 7,19 * * mon-fri", "Europe/London")
    assert cadence.cutoff_on(twice, date(2024, 10, 11)).isoformat() == "2024-10-11T19:00:00+01:00"
    assert cadence.cutoff_on(twice, date(2024, 10, 12)) is None  # Saturday: it does not run
    # Every minute: 1,440 fire times, the last one found without walking the whole day.
    assert cadence.cutoff_on(digest(tmp_path / "b", "* * * * *"), date(2024, 10, 11)).isoformat() == \
        "2024-10-11T23:59:00+00:00"
    assert cadence.cutoff_on(digest(tmp_path / "c", "every 6h"), date(2024, 10, 11)).hour == 18
    # The day the clocks go back in London has 25 hours; the 01:30 run happens twice, the later one counts.
    fall = cadence.cutoff_on(digest(tmp_path / "d", "30 1 * * *", "Europe/London"), date(2024, 10, 27))
    assert fall.isoformat() == "2024-10-27T01:30:00+00:00"


def test_issue_keys_round_trip(tmp_path):
    daily, often = digest(tmp_path / "a", "0 7 * * *"), digest(tmp_path / "b", "every 10m")
    moment = datetime(2024, 10, 11, 7, 10, tzinfo=UTC)
    assert cadence.issue_key(daily, moment) == "2024-10-11"
    assert cadence.issue_key(often, moment) == "2024-10-11T071000"
    assert cadence.parse_issue_key("2024-10-11T071000", UTC) == moment
    assert cadence.parse_issue_key("2024-10-11", UTC).isoformat() == "2024-10-11"
    assert cadence.parse_issue_key("2024-02-30", UTC) is None
