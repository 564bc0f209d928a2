"""Cadence arithmetic, free of I/O: durations, cron and interval cadences, fire times, issue keys, cut-offs.

`config` parses with it; `schedule` (the APScheduler wiring) and `pipeline` (which must
recover a run's scheduled time) both compute fire times here, so neither imports the other.
APScheduler's trigger classes do the calendar work; they are imported inside the functions,
because APScheduler is slow to import and most commands never need it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

# "every" intervals count from local midnight of this day, so "every 6h" fires at 00, 06, 12, 18
# (in the zone's offset of that day) whenever the scheduler was started, and a restart keeps the times.
INTERVAL_ANCHOR = datetime(2000, 1, 1)
# A run starts within misfire_grace of its time (else APScheduler skips it); this covers the
# moment between APScheduler's check and the job reading the clock.
LOOKBACK_SLACK = timedelta(minutes=1)
MISSED_COUNT_LIMIT = 10_000

DURATION_RE = re.compile(r"(\d+)\s*([wdhms])")
DURATION_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}

CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
MONTH_NAMES = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
               "november", "december"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]


@dataclass(frozen=True)
class Cadence:
    """When a digest goes out: a cron expression (day names) or a fixed interval."""

    text: str
    cron: tuple[str, str, str, str, str] | None = None
    every: timedelta | None = None

    @property
    def shorter_than_a_day(self) -> bool:
        if self.every is not None:
            return self.every < timedelta(days=1)
        minute, hour = self.cron[0], self.cron[1]
        return not (minute.isdigit() and hour.isdigit())


class Scheduled(Protocol):
    """What the fire-time functions need of a digest (config.Digest has it)."""

    cadence: Cadence | None
    timezone: ZoneInfo
    misfire_grace: timedelta


# -- parsing -------------------------------------------------------------------

def parse_duration(text: str) -> timedelta:
    """'1d', '36h', '1d12h', '30m' -> timedelta; ValueError otherwise."""
    compact = text.strip().lower().replace(" ", "")
    parts = DURATION_RE.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration")
    total = timedelta()
    try:
        for number, unit in parts:
            total += timedelta(**{DURATION_UNITS[unit]: int(number)})
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None
    if total <= timedelta():
        raise ValueError(f"{text!r} is not a positive duration")
    return total


def parse_cadence(text: str) -> Cadence:
    """'0 7 * * mon-fri' or 'every 30m' -> Cadence; ValueError with the reason otherwise."""
    stripped = " ".join(text.split())
    if stripped.lower().startswith("every "):
        return Cadence(text=stripped, every=parse_duration(stripped[6:]))
    fields = stripped.split(" ")
    if len(fields) != 5:
        raise ValueError(f"{text!r} is neither a 5-field cron expression nor 'every <duration>'")
    out = []
    for value, (label, low, high) in zip(fields, CRON_FIELDS):
        out.append(_cron_field(value.lower(), label, low, high))
    return Cadence(text=stripped, cron=tuple(out))


def _cron_field(value: str, label: str, low: int, high: int) -> str:
    if label == "day of week" and value != "*":
        return _weekdays(value)
    month = label == "month"
    parts = []
    for part in value.split(","):
        m = re.fullmatch(r"(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?", part)
        if not m:
            raise ValueError(f"{label} field {value!r} is not valid cron")
        rng, step = m.group(1), m.group(2)
        if step is not None and int(step) < 1:
            raise ValueError(f"{label} field {value!r} has a zero step")
        if rng != "*":
            ends = [_cron_value(x, label, low, high, month) for x in rng.split("-")]
            if len(ends) == 2 and not month and int(ends[0]) > int(ends[1]):
                raise ValueError(f"{label} range {rng!r} runs backwards")
            rng = "-".join(ends)
        parts.append(rng + (f"/{step}" if step else ""))
    return ",".join(parts)


def _weekdays(value: str) -> str:
    """A day-of-week field as an explicit list of day names.

    Standard cron counts 0 and 7 as Sunday; APScheduler 3 counts 0 as Monday, and its
    name ranges cannot wrap past Sunday. An explicit list keeps the meaning the user wrote.
    """
    days: set[int] = set()
    for part in value.split(","):
        m = re.fullmatch(r"(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:/(\d+))?", part)
        if not m or (m.group(3) is not None and int(m.group(3)) < 1):
            raise ValueError(f"day of week field {value!r} is not valid cron")
        step = int(m.group(3) or 1)
        if m.group(1) == "*":
            first, last = 0, 6
        else:
            first = _weekday(m.group(1), value)
            last = _weekday(m.group(2), value) if m.group(2) else (6 if m.group(3) else first)
            if m.group(2) == "7":
                last = 7
        span = (last - first) % 7 if last != 7 else 7 - first
        days.update((first + i) % 7 for i in range(0, span + 1, step))
    return ",".join(DAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


def _weekday(token: str, field_text: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    # A name is its three letters or the whole word: "monkey" is not Monday.
    if token in DAYS:
        return DAYS.index(token)
    if token in DAY_NAMES:
        return DAY_NAMES.index(token)
    raise ValueError(f"day of week value {token!r} in {field_text!r} is not valid (use sun..sat or 0-7)")


def _cron_value(token: str, label: str, low: int, high: int, month: bool) -> str:
    if token.isdigit():
        n = int(token)
        if not low <= n <= high:
            raise ValueError(f"{label} value {n} is outside {low}-{high}")
        return token
    if month and token in MONTHS:
        return token
    if month and token in MONTH_NAMES:
        return MONTHS[MONTH_NAMES.index(token)]
    hint = " (use jan..dec or 1-12)" if month else ""
    raise ValueError(f"{label} value {token!r} is not valid{hint}")


# -- fire times ------------------------------------------------------------------

def trigger_for(digest: Scheduled):
    """The APScheduler trigger of a digest's cadence, in its time zone; None without a cadence."""
    cadence, tz = digest.cadence, digest.timezone
    if cadence is None:
        return None
    if cadence.every is not None:
        from apscheduler.triggers.interval import IntervalTrigger

        return IntervalTrigger(seconds=int(cadence.every.total_seconds()),
                               start_date=INTERVAL_ANCHOR.replace(tzinfo=tz), timezone=tz)
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, weekdays = cadence.cron

    def cron(days: str, dow: str):
        # Day names only (parse_cadence spells them out): in APScheduler 3, day 0 is Monday, in cron Sunday.
        return CronTrigger(minute=minute, hour=hour, day=days, month=month, day_of_week=dow, timezone=tz)

    if not day.startswith("*") and weekdays != "*":
        # Cron runs when either day field matches; APScheduler's CronTrigger wants both to match.
        from apscheduler.triggers.combining import OrTrigger

        return OrTrigger([cron(day, "*"), cron("*", weekdays)])
    return cron(day, weekdays)


def fire_times(trigger, start: datetime, end: datetime | None = None,
               limit: int = MISSED_COUNT_LIMIT) -> list[datetime]:
    """The trigger's fire times from `start` (to `end`, when given), at most `limit` of them."""
    out: list[datetime] = []
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and (end is None or moment <= end) and len(out) < limit:
        out.append(moment)
        moment = trigger.get_next_fire_time(moment, moment)
    return out


def next_runs(digest: Scheduled, now: datetime, n: int = 3) -> list[datetime]:
    """The digest's next `n` run times at or after `now`, in its time zone; [] without a cadence."""
    trigger = trigger_for(digest)
    if trigger is None:
        return []
    return [wall_time(moment, digest.timezone) for moment in fire_times(trigger, now, limit=n)]


def latest_run(digest: Scheduled, now: datetime) -> datetime | None:
    """The digest's latest fire time at or before `now` within its misfire grace: the run a job is doing."""
    trigger = trigger_for(digest)
    if trigger is None:
        return None
    since = now - digest.misfire_grace - LOOKBACK_SLACK
    if digest.cadence.every is not None:
        since = max(since, now - digest.cadence.every)  # one interval back holds exactly one fire time
    found = fire_times(trigger, since, now)
    return wall_time(found[-1], digest.timezone) if found else None


def wall_time(moment: datetime, tz: ZoneInfo) -> datetime:
    """A fire time as the wall-clock time it happens at: a time in a spring-forward gap comes back
    from APScheduler with the offset before the change. Via UTC, as astimezone() to the same zone is a no-op."""
    return moment.astimezone(timezone.utc).astimezone(tz)


# -- issue keys and cut-offs -------------------------------------------------------

TIME_KEY_FORMAT = "%Y-%m-%dT%H%M%S"


def issue_key(digest: Scheduled, scheduled: datetime) -> str:
    """The key of a scheduled run's issue: its date for daily-or-longer cadences, its time for shorter ones."""
    local = scheduled.astimezone(digest.timezone)
    if digest.cadence is not None and digest.cadence.shorter_than_a_day:
        return local.strftime(TIME_KEY_FORMAT)
    return local.date().isoformat()


def parse_issue_key(key: str, tz: ZoneInfo) -> date | datetime | None:
    """An issue key back to its date ("2024-10-11") or scheduled time ("2024-10-11T070000"); None if neither."""
    try:
        if "T" in key:
            return datetime.strptime(key, TIME_KEY_FORMAT).replace(tzinfo=tz)
        return date.fromisoformat(key)
    except ValueError:
        return None


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The last microsecond of a day in a zone."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz) - timedelta(microseconds=1)


def cutoff_on(digest: Scheduled, day: date) -> datetime | None:
    """The cadence's latest fire time on a day (the cut-off of that day's issue); None if it does not run that day.

    Without a cadence the caller uses the end of the day instead.
    """
    trigger = trigger_for(digest)
    if trigger is None:
        return None
    tz = digest.timezone
    start, end = datetime.combine(day, time(0), tzinfo=tz), end_of_day(day, tz)
    # The last hour first: a cadence that fires every minute has 1,440 times in a day.
    for since in (end - timedelta(hours=1), start):
        found = fire_times(trigger, max(since, start), end)
        if found:
            return wall_time(found[-1], tz)
    return None
