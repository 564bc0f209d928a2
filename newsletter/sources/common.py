"""What every reader needs: ids, URL checks, dates, titles, topics, text cleaning, failure messages."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import date, datetime, time, timezone
from pathlib import PurePath
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

TRACKING_PARAMS = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid)$", re.I)
# An id is a primary key (2,048 characters on PostgreSQL); longer ones are stored as their hash.
MAX_ID = 2000
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls but tab and line breaks: invisible in a digest, and NUL cannot be stored on PostgreSQL.
# Each becomes a space, as in headers (compose.headers): NEL and VT separate words, and a space folds away.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class ItemError(ValueError):
    """One item is unusable; the reader records it as a rejection and goes on."""


def scrub(text: str) -> tuple[str, bool]:
    """Text with control characters as spaces, lone surrogates replaced by U+FFFD; and whether any were replaced."""
    cleaned, replaced = _SURROGATE.subn("\ufffd", text)
    return _CONTROL.sub(" ", cleaned), bool(replaced)


def describe_failure(exc: BaseException, fix: str = "fix or remove it") -> str:
    """What a parser's exception means for an input or item, as the end of a one-line rejection."""
    if isinstance(exc, RecursionError):
        return "is nested too deeply to read; flatten it"
    if isinstance(exc, MemoryError):
        return "is too large to read; split it into smaller files"
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        return "holds a number of over 4,300 digits; remove it"
    detail = scrub(" ".join(str(exc).split()))[0]
    detail = detail if len(detail) <= 120 else detail[:119] + "…"
    return f"cannot be read: the parser failed on malformed content ({type(exc).__name__}: {detail}); {fix}"


def split_lede(markdown: str) -> tuple[str, str]:
    """The first paragraph of a Markdown text is the lede, the rest the body."""
    parts = re.split(r"\n[ \t]*\n", markdown.strip(), maxsplit=1)
    lede = parts[0] if parts else ""
    body = parts[1] if len(parts) > 1 else ""
    if lede.lstrip().startswith(">"):
        # A text that opens with a quotation has no editor's lede.
        return "", markdown.strip()
    return lede, body


def clean_title(value) -> str:
    """One trimmed line; CR/LF and runs of white space fold to single spaces."""
    if value is None:
        raise ItemError("has no title")
    if not isinstance(value, str):
        raise ItemError(f"title must be text, not {type(value).__name__}")
    title = " ".join(value.split())
    if not title:
        raise ItemError("has an empty title")
    if len(title) > 500:
        raise ItemError("has a title over 500 characters")
    return title


def check_url(value, field: str = "url") -> str | None:
    """An absolute http(s) URL, or None when absent; ItemError otherwise."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ItemError(f"{field} must be text")
    url = value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on "http://host:abc/", which canonical_url would hit later
    except ValueError:
        raise ItemError(f"{field} {value!r} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c in url for c in "\r\n \t"):
        raise ItemError(f"{field} {value!r} is not an absolute http(s) URL")
    return url


def canonical_url(url: str, keep_fragment: bool = False) -> str:
    """The form of a URL used as an article id: lower-case host, no tracking params, no fragment unless asked."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.port and not (parts.scheme == "http" and parts.port == 80 or parts.scheme == "https" and parts.port == 443):
        host = f"{host}:{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)])
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", query, parts.fragment if keep_fragment else ""))


def article_id(url: str | None, guid: str | None, source: str | None, title: str, stamp: str,
               keep_fragment: bool = False) -> str:
    """Canonical URL, else the feed's own id, else a hash of source, title and timestamp as written."""
    if url:
        return bounded_id(canonical_url(url, keep_fragment))
    if guid and guid.strip():
        return bounded_id(guid.strip())
    key = "\x1f".join([source or "", title, stamp])
    return _hashed(key)


def file_id(origin: str, root: str | None) -> str | None:
    """A local file's own identity: its path below the source folder; None for stdin and URLs."""
    if origin.startswith(("<", "http://", "https://")):
        return None
    return "file:" + PurePath(os.path.relpath(origin, root or os.path.dirname(origin) or ".")).as_posix()


def legacy_id(origin: str) -> str:
    """The id release 1 gave a Markdown file without url or id: its stem alone (2024/note.md and 2025/note.md collided)."""
    return f"file:{PurePath(origin).stem}"


def bounded_id(value: str) -> str:
    """An id as given, or its hash when it is too long to be a key."""
    return value if len(value) <= MAX_ID else _hashed(value)


def _hashed(key: str) -> str:
    return "sha1:" + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()


def topics_from(value) -> tuple[str, ...]:
    """A list or comma-separated string of topics -> unique, trimmed display names."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        raise ItemError("topics must be a list or a comma-separated string")
    seen: dict[str, str] = {}
    for t in value:
        if not isinstance(t, (str, int, float)):
            raise ItemError("topics must be text")
        name = " ".join(str(t).split())
        if name and name.lower() not in seen:
            seen[name.lower()] = name
    return tuple(seen.values())


MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_DATE_PATTERNS = [
    # Oct. 11 2024 / October 11, 2024 / Oct 11 2024
    (re.compile(r"([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})"), ("mon", "day", "year")),
    # 11 October 2024
    (re.compile(r"(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})"), ("day", "mon", "year")),
]


def parse_date_text(text: str) -> date | None:
    """A date written as 'Oct. 11 2024', 'October 11, 2024', '11 October 2024' or '2024-10-11'; else None."""
    text = text.strip()
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    for pattern, order in _DATE_PATTERNS:
        m = pattern.fullmatch(text)
        if not m:
            continue
        parts = dict(zip(order, m.groups()))
        month = MONTHS.get(parts["mon"][:3].lower())
        full = parts["mon"].lower()
        if month is None or not (len(full) == 3 or full == "sept" or _month_name(month).startswith(full)):
            return None
        try:
            return date(int(parts["year"]), month, int(parts["day"]))
        except ValueError:
            return None
    return None


def _month_name(month: int) -> str:
    return ["january", "february", "march", "april", "may", "june", "july", "august",
            "september", "october", "november", "december"][month - 1]


def day_to_datetime(day: date, tz: ZoneInfo) -> datetime:
    """A date without a time is taken as noon in the newsletter's zone, so it lands on that day."""
    return datetime.combine(day, time(12, 0), tzinfo=tz)


def parse_datetime(value, tz: ZoneInfo) -> datetime:
    """ISO 8601 date or date-time, or a written date -> aware datetime; ItemError otherwise."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return day_to_datetime(value, tz)
    if not isinstance(value, str) or not value.strip():
        raise ItemError(f"date {value!r} is not a date")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        day = parse_date_text(text)
        if day is None:
            raise ItemError(f"date {value!r} is not a date (use 2024-10-11 or 2024-10-11T07:00:00+00:00)") from None
        return day_to_datetime(day, tz)
    if len(text) == 10:  # a bare date
        return day_to_datetime(parsed.date(), tz)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def to_utc(dt: datetime) -> datetime:
    """The same moment in UTC; ItemError for a date that has none (the first or last hours of the calendar)."""
    try:
        return dt.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise ItemError(f"date {dt.isoformat()} is out of range (years 1 to 9999 in UTC)") from None


def decode_text(data: bytes, origin: str) -> str:
    """UTF-8 text (a BOM is dropped); a SourceError-worthy ItemError for binary or other encodings."""
    if b"\x00" in data[:4096]:
        raise ItemError("is a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ItemError(f"is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8") from None


def add_article(result, article, dated: bool, ctx, where: str = "") -> None:
    """Keep an article in a ReadResult; an undated one is marked, and the date it was given is noted."""
    if not dated:
        result.undated.add(article.id)
        item = f"{where} " if where else ""
        result.notes.append(f"{ctx.origin}: {item}'{article.title}' has no date; "
                            f"dated {ctx.undated:%Y-%m-%d} ({ctx.undated_label})")
    result.articles.append(article)


def unknown_keys(given, known, aliases: dict[str, str], noun: str = "key") -> str | None:
    """"ignored unknown key 'tittle' (did you mean 'title'?)" for keys outside `known`, or None."""
    import difflib

    unknown = [key for key in given if key not in known]
    if not unknown:
        return None

    def suggest(key) -> str:
        # Another tool's name for our field first, else the nearest of ours.
        near = aliases.get(str(key).lower()) or next(iter(difflib.get_close_matches(str(key), known, n=1)), None)
        return f"{key!r} (did you mean {near!r}?)" if near else repr(key)

    return f"ignored unknown {noun}{'s' if len(unknown) > 1 else ''} {', '.join(map(suggest, unknown))}"
