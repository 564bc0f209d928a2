"""Config parsing: defaults, validation, and one-line errors that name the field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from newsletter.cadence import parse_cadence, parse_duration
from newsletter.config import find_config, load_config, parse_config
from newsletter.errors import ConfigError

from tests.conftest import config_from, write_config


@pytest.mark.sqlite_only
def test_defaults_and_resolved_paths(project: Path):
    config = config_from(project)
    assert config.database == "sqlite:///" + str(project.parent / "newsletter.db")
    assert config.outbox == project.parent / "outbox"
    assert config.sources[0].path == project.parent / "articles"
    daily = config.digest(None)
    assert daily.window == timedelta(days=1) and daily.max_articles == 10 and daily.delivery == "outbox"
    assert daily.cadence.cron == ("0", "7", "*", "*", "mon,tue,wed,thu,fri")


@pytest.mark.parametrize("text, expected", [
    ("1d", timedelta(days=1)), ("36h", timedelta(hours=36)), ("7d", timedelta(days=7)),
    ("1d12h", timedelta(days=1, hours=12)), ("30m", timedelta(minutes=30)), ("10s", timedelta(seconds=10)),
])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "d", "1x", "-1d", "0d", "1 day"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text, weekdays", [
    ("0 7 * * mon-fri", "mon,tue,wed,thu,fri"),
    ("0 7 * * 1-5", "mon,tue,wed,thu,fri"),  # numbers mean what standard cron means
    ("0 7 * * 0", "sun"), ("0 7 * * 7", "sun"), ("0 7 * * fri-mon", "mon,fri,sat,sun"),
    ("0 7 * * monday-friday", "mon,tue,wed,thu,fri"), ("0 7 * * SAT", "sat"),
])
def test_cron_day_names(text, weekdays):
    assert parse_cadence(text).cron[4] == weekdays


@pytest.mark.parametrize("text", ["0 7 * *", "61 7 * * *", "0 25 * * *", "0 7 * * funday", "0 7 32 * *", "every", "every 0s",
                                  # a name is three letters or the whole word, never a longer word that starts like one
                                  "0 7 * * monkey", "0 7 * janitor *", "0 7 * * sunny", "0 7 * * mo", "0 7 * ja *"])
def test_bad_cadences(text):
    with pytest.raises(ValueError):
        parse_cadence(text)


def test_month_names_whole_or_short():
    assert parse_cadence("0 7 1 january,JUL *").cron[3] == "jan,jul"


def test_interval_cadence_shorter_than_a_day():
    assert parse_cadence("every 10s").shorter_than_a_day
    assert not parse_cadence("every 1d").shorter_than_a_day
    assert not parse_cadence("0 7 * * *").shorter_than_a_day
    assert parse_cadence("*/15 * * * *").shorter_than_a_day


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "newsletter.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


@pytest.mark.parametrize("text, expected", [
    ('[newsletter]\ntitel = "x"\n', "newsletter.titel: unknown key 'titel' (did you mean 'title'?)"),
    ('[digests.daily]\nwindoe = "1d"\n', "digests.daily.windoe: unknown key 'windoe' (did you mean 'window'?)"),
    ('[newsletter]\ntimezone = "Mars/Olympus"\n', "newsletter.timezone: 'Mars/Olympus' is not a known time zone"),
    ('[digests.daily]\ncadence = "0 7 * * funday"\n', "digests.daily.cadence: day of week value 'funday'"),
    ('[digests.daily]\nwindow = "forever"\n', "digests.daily.window: 'forever' is not a duration"),
    ('[digests.daily]\nmax_articles = 0\n', "digests.daily.max_articles: must be a whole number of 1 or more"),
    ('[digests.daily]\ndelivery = "pigeon"\n', "digests.daily.delivery: 'pigeon' is not one of outbox, smtp"),
    ('[digests.daily]\ndelivery = "smtp"\n', "digests.daily.delivery: \"smtp\" needs an [smtp] table"),
    ('[newsletter]\nsite_url = "example.org"\n', "newsletter.site_url: 'example.org' is not an absolute http(s) URL"),
    ('[newsletter]\nfrom = "nobody"\n', "newsletter.from: 'nobody' holds no email address"),
    ('[[sources]]\nformat = "markdown"\n', "sources[1]: needs exactly one of path or url"),
    ('[smtp]\nport = 70000\n', "smtp.port: must be a whole number from 1 to 65535"),
    ('[smtp]\nsecurity = "tls"\n', "smtp.security: 'tls' is not one of ssl, starttls, none"),
    ("[newsletter\n", "is not valid TOML"),
    ('[newsletter]\nmax_file_size = "lots"\n', "newsletter.max_file_size: 'lots' is not a size"),
    ('[newsletter]\nmax_article_size = "10B"\n', "newsletter.max_article_size: '10B' is out of range"),
    ('[[sources]]\nurl = "https://x.example/f"\nevery = "often"\n', "sources[1].every: 'often' is not a duration"),
    ('[[sources]]\nurl = "https://x.example/f"\ntimeout = 0\n', "sources[1].timeout: must be a number from 0.1"),
    ('[[sources]]\npath = "a"\ntimeout = 5\n', "sources[1].timeout: applies to url sources only"),
    ('[[sources]]\npath = "a"\n[[sources]]\npath = "./a"\n', "sources[2]: is the same source as sources[1]"),
])
def test_config_errors_name_file_and_field(tmp_path: Path, text: str, expected: str):
    message = _error(tmp_path, text)
    assert str(tmp_path / "newsletter.toml") in message
    assert expected in message
    assert "\n" not in message


def test_non_utf8_config(tmp_path: Path):
    path = tmp_path / "newsletter.toml"
    path.write_bytes(b'[newsletter]\ntitle = "\xe9"\n')
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path)


def test_missing_config_says_to_run_init(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="run `newsletter init`"):
        find_config()


def test_config_from_environment(tmp_path: Path, monkeypatch, project: Path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(project))
    assert find_config() == project


def test_several_digests_need_a_name(tmp_path: Path):
    path = write_config(tmp_path, digests='[digests.daily]\n[digests.weekly]\nwindow = "7d"\n')
    config = config_from(path)
    with pytest.raises(ConfigError, match="several digests are configured: daily, weekly"):
        config.digest(None)
    with pytest.raises(ConfigError, match="no digest named 'weekli'.*did you mean 'weekly'"):
        config.digest("weekli")
    assert config.digest("weekly").window == timedelta(days=7)


def test_digest_timezone_defaults_to_newsletter(tmp_path: Path):
    config = parse_config({"newsletter": {"timezone": "Europe/London"}, "digests": {"d": {}, "e": {"timezone": "Asia/Tokyo"}}},
                          tmp_path / "newsletter.toml")
    assert config.digests["d"].timezone.key == "Europe/London"
    assert config.digests["e"].timezone.key == "Asia/Tokyo"


@pytest.mark.sqlite_only
def test_the_database_can_come_from_the_environment(project: Path, monkeypatch):
    # A URL with a password belongs in the environment, not in newsletter.toml.
    monkeypatch.setenv("NEWSLETTER_DATABASE", "postgresql+psycopg://news:pw@db.example/news")
    assert config_from(project).database == "postgresql+psycopg://news:pw@db.example/news"
    monkeypatch.setenv("NEWSLETTER_DATABASE", "elsewhere.db")  # a path is relative to the config, as in the file
    assert config_from(project).database == "sqlite:///" + str(project.parent / "elsewhere.db")


def test_sizes_and_source_options(tmp_path: Path):
    from newsletter.config import format_size, parse_size

    assert [parse_size(t) for t in ("20MB", "100 KB", "512B", "4096", "1.5MB")] == [
        20 * 1024 ** 2, 100 * 1024, 512, 4096, 1536 * 1024]
    assert [format_size(n) for n in (900, 1024, 1536, 20 * 1024 ** 2, 2 * 1024 ** 2 + 11)] == [
        "900 bytes", "1 KB", "1.5 KB", "20 MB", "2 MB"]
    path = write_config(tmp_path, 'max_file_size = "1MB"\nmax_article_size = 4096\n'
                                  '[[sources]]\nurl = "https://x.example/f"\nevery = "1h"\ntimeout = 5\n')
    config = config_from(path)
    assert (config.max_file_size, config.max_article_size) == (1024 ** 2, 4096)
    feed, folder = config.sources
    assert (feed.every, feed.timeout) == (timedelta(hours=1), 5.0)
    assert (folder.every, folder.timeout) == (None, 30.0)


def test_public_url_gives_the_one_click_unsubscribe_url(tmp_path: Path):
    config = parse_config({"newsletter": {"public_url": "https://news.example.org/"}}, tmp_path / "n.toml")
    assert config.public_url == "https://news.example.org"
    assert config.unsubscribe_url == "https://news.example.org/unsubscribe/{token}"
    own = parse_config({"newsletter": {"public_url": "https://news.example.org",
                                       "unsubscribe_url": "https://example.org/u?t={token}"}}, tmp_path / "n.toml")
    assert own.unsubscribe_url == "https://example.org/u?t={token}"


@pytest.mark.parametrize("value", ["news.example.org", "ftp://news.example.org", "https://news.example.org/?a=1",
                                   "https://news.example.org/#top"])
def test_bad_public_url(tmp_path: Path, value: str):
    with pytest.raises(ConfigError, match="newsletter.public_url"):
        parse_config({"newsletter": {"public_url": value}}, tmp_path / "n.toml")
