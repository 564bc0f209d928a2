"""newsletter.toml -> Config: every key checked, every value validated, paths resolved."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newsletter.cadence import Cadence, parse_cadence, parse_duration
from newsletter.errors import ConfigError

CONFIG_NAME = "newsletter.toml"
# A digest name: it appears in paths, URLs and a String(200) column.
DIGEST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")
ENV_CONFIG = "NEWSLETTER_CONFIG"
# Overrides [newsletter] database: a URL with a password belongs in the environment, not in the file.
ENV_DATABASE = "NEWSLETTER_DATABASE"

NEWSLETTER_KEYS = {
    "title", "from", "reply_to", "site_url", "public_url", "topic_url", "unsubscribe_url",
    "unsubscribe_mailto", "address", "timezone", "database", "outbox", "templates",
    "language", "list_id", "drafts", "max_file_size", "max_article_size",
}
SOURCE_KEYS = {"path", "url", "format", "every", "timeout"}
DIGEST_KEYS = {
    "title", "subject", "preheader", "topics", "window", "max_articles", "cadence",
    "timezone", "delivery", "send_empty", "misfire_grace", "contents_above",
}
SMTP_KEYS = {"host", "port", "security", "username", "rate_limit", "connections", "timeout", "retries",
             "data_timeout", "lease", "ledger_timeout", "give_up_after"}
SERVE_KEYS = {"trusted_proxies", "client_limit", "address_limit", "confirm_expiry", "max_body", "delivery",
              "digests", "mail_retry"}
TOP_KEYS = {"newsletter", "sources", "digests", "smtp", "serve"}
# The names of newsletter.deliver.BACKENDS (a test checks that the two agree).
DELIVERIES = ("outbox", "smtp", "maildir", "memory")
SECURITIES = ("ssl", "starttls", "none")
FORMATS = ("markdown", "rss", "atom", "feed", "jsonfeed", "json", "jsonl", "digest")


_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
DEFAULT_MAX_FILE_SIZE = 20 * 1024 ** 2
DEFAULT_MAX_ARTICLE_SIZE = 100 * 1024


def parse_size(text: str) -> int:
    """'20MB', '100 KB', '512B' or '4096' -> bytes (KB = 1024 bytes); ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?B?)\s*", text, re.I)
    if not m or m[2].upper() not in _UNITS:
        raise ValueError(f"{text!r} is not a size")
    return int(float(m[1]) * _UNITS[m[2].upper()])


def format_size(size: int) -> str:
    """Bytes as the largest unit that keeps a whole number or one decimal: 100 KB, 1.5 MB, 900 bytes."""
    for unit in ("GB", "MB", "KB"):
        if size >= _UNITS[unit]:
            value = size / _UNITS[unit]
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


DEFAULT_FETCH_TIMEOUT = 30.0


@dataclass(frozen=True)
class Source:
    path: Path | None = None
    url: str | None = None
    format: str | None = None
    every: timedelta | None = None  # read it at most this often; None: on every sync
    timeout: float = DEFAULT_FETCH_TIMEOUT  # seconds for the whole fetch of a url

    @property
    def label(self) -> str:
        return self.url or str(self.path)


@dataclass(frozen=True)
class Digest:
    name: str
    title: str
    subject: str
    preheader: str
    topics: tuple[str, ...]
    window: timedelta
    max_articles: int
    cadence: Cadence | None
    timezone: ZoneInfo
    delivery: str
    send_empty: bool
    misfire_grace: timedelta
    contents_above: int = 6  # an "In this issue" list heads issues of more items than this


@dataclass(frozen=True)
class Smtp:
    """[smtp]; the sending settings (connections, lease, ledger_timeout) also serve the other personal backends."""

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    rate_limit: float = 0
    connections: int = 1
    timeout: float = 30
    retries: int = 3
    data_timeout: float = 600  # RFC 5321 4.5.3.2.6: the reply to the end of a message may take 10 minutes
    lease: float = 300  # how long a claim lasts without renewal before another sender may take it over
    ledger_timeout: float = 60  # how long results wait for a ledger that cannot be written
    give_up_after: float = 60  # how long a send waits out a server that refuses everything

    @property
    def password(self) -> str | None:
        return os.environ.get("NEWSLETTER_SMTP_PASSWORD")


@dataclass(frozen=True)
class Serve:
    """[serve]: the public web app of `newsletter serve`."""

    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-For is believed
    client_limit: int = 10  # sign-ups per client address per hour
    address_limit: int = 3  # confirmation mails per address per day
    confirm_expiry: timedelta = timedelta(hours=48)
    max_body: int = 16 * 1024
    delivery: str = "outbox"  # how confirmation mails go out: smtp, or written to the outbox
    digests: tuple[str, ...] = ()  # offered on the sign-up form; () = every digest
    mail_retry: timedelta = timedelta(minutes=1)  # the first wait after a failed confirmation mail; doubles


@dataclass(frozen=True)
class Config:
    path: Path
    title: str
    sender: str
    reply_to: str | None
    site_url: str | None
    public_url: str | None
    topic_url: str | None
    unsubscribe_url: str | None
    unsubscribe_mailto: str | None
    address: str | None
    timezone: ZoneInfo
    database: str
    outbox: Path
    drafts: Path
    templates: Path | None
    language: str
    list_id: str | None
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    max_article_size: int = DEFAULT_MAX_ARTICLE_SIZE
    sources: tuple[Source, ...] = ()
    digests: dict[str, Digest] = field(default_factory=dict)
    smtp: Smtp | None = None
    serve: Serve = field(default_factory=Serve)

    @property
    def root(self) -> Path:
        return self.path.parent

    def digest(self, name: str | None) -> Digest:
        """The named digest, or the only one when no name is given."""
        names = sorted(self.digests)
        if name is None:
            if len(names) == 1:
                return self.digests[names[0]]
            if not names:
                raise ConfigError("no digest is configured", where=str(self.path),
                                  hint="add a [digests.NAME] table")
            raise ConfigError(f"several digests are configured: {', '.join(names)}",
                              hint="name the one you mean")
        if name not in self.digests:
            raise ConfigError(f"no digest named {name!r}", where=str(self.path),
                              hint=_choices_hint(name, names))
        return self.digests[name]


def find_config(explicit: str | os.PathLike | None = None) -> Path:
    """The config file: --config, else $NEWSLETTER_CONFIG, else ./newsletter.toml."""
    chosen = explicit or os.environ.get(ENV_CONFIG)
    path = Path(chosen) if chosen else Path.cwd() / CONFIG_NAME
    if path.is_dir():
        path = path / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"no config file at {path}",
                          hint="run `newsletter init` to create one, or pass --config PATH")
    return path


def load_config(explicit: str | os.PathLike | None = None) -> Config:
    """Find, parse and validate the config."""
    path = find_config(explicit).resolve()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", where=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"is not valid TOML: {exc}", where=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", where=str(path)) from None
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path) -> Config:
    """Validate a parsed TOML document; `path` locates relative paths and error messages."""
    v = _Validator(path)
    v.keys(raw, TOP_KEYS, "")
    nl = v.table(raw, "newsletter")
    v.keys(nl, NEWSLETTER_KEYS, "newsletter")
    root = path.parent
    tz = v.zone(nl, "timezone", "newsletter", "UTC")
    title = v.string(nl, "title", "newsletter", "Editors' Picks")
    sender = v.string(nl, "from", "newsletter", "editors@example.com")
    if "@" not in sender:
        v.fail("newsletter.from", f"{sender!r} holds no email address", 'write it as "Name <you@example.org>"')
    sender = _with_name(sender, title)
    database = os.environ.get(ENV_DATABASE) or v.string(nl, "database", "newsletter", "newsletter.db")
    if "://" not in database:
        database = "sqlite:///" + str((root / database).resolve())
    templates = v.string(nl, "templates", "newsletter", "")
    public_url = v.base_url(nl, "public_url", "newsletter")
    config = dict(
        path=path,
        title=title,
        sender=sender,
        reply_to=v.string(nl, "reply_to", "newsletter", None),
        site_url=v.url(nl, "site_url", "newsletter"),
        public_url=public_url,
        topic_url=v.url(nl, "topic_url", "newsletter"),
        # With `newsletter serve` reachable at public_url, its one-click page is the way out.
        unsubscribe_url=v.url(nl, "unsubscribe_url", "newsletter")
        or (public_url + "/unsubscribe/{token}" if public_url else None),
        unsubscribe_mailto=v.string(nl, "unsubscribe_mailto", "newsletter", None),
        address=v.string(nl, "address", "newsletter", None),
        timezone=tz,
        database=database,
        outbox=(root / v.string(nl, "outbox", "newsletter", "outbox")).resolve(),
        drafts=(root / v.string(nl, "drafts", "newsletter", "drafts")).resolve(),
        templates=(root / templates).resolve() if templates else None,
        language=v.string(nl, "language", "newsletter", "en"),
        list_id=v.string(nl, "list_id", "newsletter", None),
        max_file_size=v.size(nl, "max_file_size", "newsletter", DEFAULT_MAX_FILE_SIZE),
        max_article_size=v.size(nl, "max_article_size", "newsletter", DEFAULT_MAX_ARTICLE_SIZE),
    )
    if config["templates"] is not None and not config["templates"].is_dir():
        v.fail("newsletter.templates", f"{config['templates']} is not a folder", "create it or remove the key")

    sources = []
    raw_sources = raw.get("sources", [])
    if not isinstance(raw_sources, list):
        v.fail("sources", "must be an array of tables", "write each one as [[sources]]")
    for i, src in enumerate(raw_sources, 1):
        where = f"sources[{i}]"
        if not isinstance(src, dict):
            v.fail(where, "must be a table", "write it as [[sources]] with path = or url =")
        v.keys(src, SOURCE_KEYS, where)
        fmt = v.choice(src, "format", where, FORMATS, None)
        if ("path" in src) == ("url" in src):
            v.fail(where, "needs exactly one of path or url", 'e.g. path = "articles"')
        every = v.duration(src, "every", where, None) if "every" in src else None
        timeout = v.number(src, "timeout", where, DEFAULT_FETCH_TIMEOUT, float, 0.1, 3600)
        if "url" in src:
            sources.append(Source(url=v.url(src, "url", where), format=fmt, every=every, timeout=timeout))
        else:
            if "timeout" in src:
                v.fail(f"{where}.timeout", "applies to url sources only", "remove it from this path source")
            sources.append(Source(path=(root / v.string(src, "path", where, "")).resolve(), format=fmt, every=every))
        twin = next((n for n, other in enumerate(sources[:-1], 1) if other.label == sources[-1].label), None)
        if twin is not None:
            v.fail(where, f"is the same source as sources[{twin}] ({sources[-1].label})", "remove one of them")

    digests = {}
    raw_digests = v.table(raw, "digests")
    for name, d in raw_digests.items():
        where = f"digests.{name}"
        if not isinstance(d, dict):
            v.fail(where, "must be a table", f"write it as [digests.{name}]")
        if not DIGEST_NAME.fullmatch(name):
            v.fail(where, "a digest name uses letters, digits, - and _ only (200 at most)", "rename the table")
        v.keys(d, DIGEST_KEYS, where)
        topics = d.get("topics", [])
        if isinstance(topics, str):
            topics = [topics]
        if not isinstance(topics, list) or not all(isinstance(t, str) and t.strip() for t in topics):
            v.fail(f"{where}.topics", "must be a list of topic names", 'e.g. topics = ["Iran", "Russia"]')
        max_articles = d.get("max_articles", 10)
        if not isinstance(max_articles, int) or isinstance(max_articles, bool) or max_articles < 1:
            v.fail(f"{where}.max_articles", f"must be a whole number of 1 or more, not {max_articles!r}", "e.g. 10")
        contents_above = d.get("contents_above", 6)
        if not isinstance(contents_above, int) or isinstance(contents_above, bool) or contents_above < 0:
            v.fail(f"{where}.contents_above", f"must be a whole number of 0 or more, not {contents_above!r}",
                   "e.g. 6: the list heads issues of 7 items or more; 0: every issue")
        send_empty = d.get("send_empty", False)
        if not isinstance(send_empty, bool):
            v.fail(f"{where}.send_empty", "must be true or false", "e.g. send_empty = false")
        cadence = d.get("cadence")
        digests[name] = Digest(
            name=name,
            title=v.string(d, "title", where, config["title"]),
            subject=v.string(d, "subject", where, "{{ title }}: {{ date }}"),
            preheader=v.string(d, "preheader", where, ""),
            topics=tuple(t.strip() for t in topics),
            # The greatest age of an article an issue may carry; what is new since the last issue is
            # found by what earlier issues carried, so this only bounds how far back that looks.
            window=v.duration(d, "window", where, "7d"),
            max_articles=max_articles,
            cadence=None if cadence is None else _cadence(v, cadence, f"{where}.cadence"),
            timezone=v.zone(d, "timezone", where, None) or tz,
            delivery=v.choice(d, "delivery", where, DELIVERIES, "outbox"),
            send_empty=send_empty,
            misfire_grace=v.duration(d, "misfire_grace", where, "1h"),
            contents_above=contents_above,
        )

    smtp = None
    if "smtp" in raw:
        s = v.table(raw, "smtp")
        v.keys(s, SMTP_KEYS, "smtp")
        security = v.choice(s, "security", "smtp", SECURITIES, "starttls")
        smtp = Smtp(
            host=v.string(s, "host", "smtp", "localhost"),
            port=v.number(s, "port", "smtp", {"ssl": 465, "starttls": 587, "none": 25}[security], int, 1, 65535),
            security=security,
            username=v.string(s, "username", "smtp", None),
            rate_limit=v.number(s, "rate_limit", "smtp", 0, float, 0, 1e6),
            connections=v.number(s, "connections", "smtp", 1, int, 1, 64),
            timeout=v.number(s, "timeout", "smtp", 30, float, 0.1, 3600),
            retries=v.number(s, "retries", "smtp", 3, int, 0, 20),
            data_timeout=v.number(s, "data_timeout", "smtp", 600, float, 0.1, 3600),
            lease=v.number(s, "lease", "smtp", 300, float, 1, 86400),
            ledger_timeout=v.number(s, "ledger_timeout", "smtp", 60, float, 0, 3600),
            give_up_after=v.number(s, "give_up_after", "smtp", 60, float, 0, 86400),
        )
    for digest in digests.values():
        if digest.delivery == "smtp" and smtp is None:
            v.fail(f"digests.{digest.name}.delivery", '"smtp" needs an [smtp] table', "add one or use \"outbox\"")
    serve = _serve(v, v.table(raw, "serve"), digests, smtp is not None)
    return Config(**config, sources=tuple(sources), digests=digests, smtp=smtp, serve=serve)


def _serve(v: "_Validator", s: dict, digests: dict[str, Digest], has_smtp: bool) -> Serve:
    import ipaddress

    v.keys(s, SERVE_KEYS, "serve")
    proxies = s.get("trusted_proxies", [])
    if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
        v.fail("serve.trusted_proxies", "must be a list of addresses or CIDRs", 'e.g. ["127.0.0.1/32", "10.0.0.0/8"]')
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            v.fail("serve.trusted_proxies", f"{proxy!r} is not an address or CIDR", 'e.g. "10.0.0.0/8"')
    offered = s.get("digests", [])
    if not isinstance(offered, list) or not all(isinstance(d, str) for d in offered):
        v.fail("serve.digests", "must be a list of digest names", 'e.g. ["daily"]')
    for name in offered:
        if name not in digests:
            v.fail("serve.digests", f"no digest named {name!r}", _choices_hint(name, digests))
    if s.get("delivery") == "smtp" and not has_smtp:
        v.fail("serve.delivery", '"smtp" needs an [smtp] table', 'add one or use "outbox"')
    return Serve(
        trusted_proxies=tuple(proxies),
        client_limit=v.number(s, "client_limit", "serve", 10, int, 1, 100000),
        address_limit=v.number(s, "address_limit", "serve", 3, int, 1, 100),
        # Bounded above: a link good for centuries overflowed the date of every sign-up (500), and waits past the
        # hour the retries are capped at overflowed the doubling (the mailer failed on every retry).
        # At least an hour: the mail says "within N hours", and a link must outlive a slow mail server.
        confirm_expiry=v.duration(s, "confirm_expiry", "serve", "48h", most="30d", least="1h"),
        max_body=v.size(s, "max_body", "serve", 16 * 1024),
        delivery=v.choice(s, "delivery", "serve", ("smtp", "outbox"), "smtp" if has_smtp else "outbox"),
        digests=tuple(dict.fromkeys(offered)),  # a name listed twice was offered twice on the forms
        mail_retry=v.duration(s, "mail_retry", "serve", "1m", most="1h"),
    )


def _with_name(sender: str, title: str) -> str:
    """A bare address is shown with the newsletter's title as its name, so the title is set in one place."""
    from email.headerregistry import Address
    from email.utils import parseaddr

    name, address = parseaddr(sender)
    if name or "@" not in address:
        return sender
    local, _, domain = address.rpartition("@")
    # Address quotes a name that needs it and never turns it into an encoded word.
    return str(Address(display_name=title, username=local, domain=domain))


def _cadence(v: "_Validator", value: Any, where: str) -> Cadence:
    if not isinstance(value, str):
        v.fail(where, "must be a string", 'e.g. "0 7 * * mon-fri" or "every 6h"')
    try:
        return parse_cadence(value)
    except ValueError as exc:
        v.fail(where, str(exc), 'e.g. "0 7 * * mon-fri" (minute hour day month weekday) or "every 30m"')


def _choices_hint(value: str, choices) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    if close:
        return f"did you mean {close[0]!r}?"
    return "valid: " + ", ".join(sorted(choices))


class _Validator:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, message: str, hint: str | None = None):
        raise ConfigError(message, where=f"{self.path}: {where}" if where else str(self.path), hint=hint)

    def keys(self, table: dict, allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                label = f"{where}.{key}" if where else key
                self.fail(label, f"unknown key {key!r}", _choices_hint(key, allowed))

    def table(self, raw: dict, key: str) -> dict:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, "must be a table", f"write it as [{key}]")
        return value

    def string(self, table: dict, key: str, where: str, default):
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str):
            self.fail(f"{where}.{key}", f"must be a string, not {value!r}")
        if "\n" in value or "\r" in value:
            self.fail(f"{where}.{key}", "must be one line")
        return value

    def number(self, table: dict, key: str, where: str, default, kind, low, high):
        if key not in table:
            return default
        value = table[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
        if not ok or not low <= value <= high:
            self.fail(f"{where}.{key}", f"must be a {'whole ' if kind is int else ''}number from {low} to {high}, not {value!r}")
        return kind(value)

    def choice(self, table: dict, key: str, where: str, choices, default):
        value = self.string(table, key, where, default)
        if value is not None and value not in choices:
            self.fail(f"{where}.{key}", f"{value!r} is not one of {', '.join(choices)}", _choices_hint(value, choices))
        return value

    def url(self, table: dict, key: str, where: str) -> str | None:
        value = self.string(table, key, where, None)
        if value is None:
            return None
        if key == "unsubscribe_mailto":
            return value
        parts = urlsplit(value.replace("{slug}", "x").replace("{token}", "x"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.fail(f"{where}.{key}", f"{value!r} is not an absolute http(s) URL", 'e.g. "https://example.org/..."')
        return value

    def base_url(self, table: dict, key: str, where: str) -> str | None:
        """An absolute http(s) URL that paths are appended to: no query or fragment, no trailing /."""
        value = self.url(table, key, where)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.query or parts.fragment or "{" in value:
            self.fail(f"{where}.{key}", f"{value!r} has a query, fragment or placeholder", 'give where the site starts, e.g. "https://news.example.org"')
        return value.rstrip("/")

    def duration(self, table: dict, key: str, where: str, default: str, most: str | None = None,
                 least: str | None = None) -> timedelta:
        value = table.get(key, default)
        if not isinstance(value, str):
            self.fail(f"{where}.{key}", f"must be a string like \"1d\", not {value!r}")
        try:
            found = parse_duration(value)
        except ValueError as exc:
            self.fail(f"{where}.{key}", str(exc), 'use a number and a unit: "7d", "36h", "30m"')
        if most is not None and found > parse_duration(most):
            self.fail(f"{where}.{key}", f"{value!r} is longer than {most}", f"use at most {most}")
        if least is not None and found < parse_duration(least):
            self.fail(f"{where}.{key}", f"{value!r} is shorter than {least}", f"use at least {least}")
        return found

    def size(self, table: dict, key: str, where: str, default: int) -> int:
        value = table.get(key)
        if value is None:
            return default
        try:
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise ValueError
            size = value if isinstance(value, int) else parse_size(value)
        except ValueError:
            self.fail(f"{where}.{key}", f"{value!r} is not a size", 'write it like "20MB" or "100KB" (KB = 1024 bytes)')
        if not 1024 <= size <= 1024 ** 3:
            self.fail(f"{where}.{key}", f"{value!r} is out of range", "use 1KB to 1GB")
        return size

    def zone(self, table: dict, key: str, where: str, default):
        name = table.get(key, default)
        if name is None:
            return None
        try:
            if not isinstance(name, str) or not name:
                raise ValueError
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.fail(f"{where}.{key}", f"{name!r} is not a known time zone", 'use an IANA name such as "Europe/London"')
