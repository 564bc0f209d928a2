"""The scheduled job, called directly with a fixed scheduled time: outbox, SMTP, idempotency, failures."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter.config import load_config
from newsletter.pipeline import open_store
from newsletter.pipeline import run as runs
from newsletter.pipeline.run import resume_interrupted, run_digest
from newsletter.pipeline.subscribers import add_subscriber
from tests.conftest import REPO, write_markdown
from tests.smtpd import Recorder, _free_port

UTC = timezone.utc
THURSDAY_7 = datetime(2024, 10, 10, 7, 0, tzinfo=UTC)
FRIDAY_7 = datetime(2024, 10, 11, 7, 0, tzinfo=UTC)


def make_project(tmp_path: Path, *, cadence: str = "0 7 * * mon-fri", delivery: str = "outbox", window: str = "2d",
                 newsletter: str = "", digest: str = "", smtp: dict | None = None, zone: str = "UTC") -> Path:
    """A project folder with an empty articles/ source; returns its newsletter.toml."""
    root = tmp_path / "project"
    (root / "articles").mkdir(parents=True, exist_ok=True)
    text = (f'[newsletter]\ntitle = "Editors\' Picks"\nfrom = "Editors <editors@example.org>"\n'
            f'timezone = "{zone}"\n{newsletter}\n\n[[sources]]\npath = "articles"\n\n'
            f'[digests.daily]\nwindow = "{window}"\ncadence = "{cadence}"\ndelivery = "{delivery}"\n{digest}\n')
    if smtp is not None:
        text += "\n[smtp]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in smtp.items())
    path = root / "newsletter.toml"
    path.write_text(text, encoding="utf-8")
    return path


def article(config: Path, slug: str, title: str, date: str, topics=("Iran",)) -> None:
    write_markdown(config.parent / "articles", f"{slug}.md", title, date=date, topics=topics)


def outbox(config: Path, key: str) -> Path:
    return config.parent / "outbox" / "daily" / key


def issue(config: Path, key: str):
    with open_store(load_config(config)) as store:
        return store.get_issue("daily", key)


def run_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "newsletter.pipeline.run"]


@pytest.fixture(autouse=True)
def _logs(caplog):
    caplog.set_level(logging.INFO, logger="newsletter")
    runs.STOP.clear()
    yield
    runs.STOP.clear()


# -- outbox -------------------------------------------------------------------

def test_outbox_runs_carry_only_new_articles(tmp_path, caplog):
    config = make_project(tmp_path)
    article(config, "a", "Thursday Piece", "2024-10-10 06:00")
    first = run_digest(str(config), "daily", THURSDAY_7)
    assert (first.status, first.key, first.articles) == ("built", "2024-10-10", 1)
    article(config, "b", "Friday Piece", "2024-10-11 06:00")
    second = run_digest(str(config), "daily", FRIDAY_7)
    assert (second.status, second.key, second.articles) == ("built", "2024-10-11", 1)
    # The two-day window covers Thursday too, but Thursday's piece went out in Thursday's issue.
    text = (outbox(config, "2024-10-11") / "message.txt").read_text()
    assert "Friday Piece" in text and "Thursday Piece" not in text
    files = sorted(p.name for p in outbox(config, "2024-10-11").iterdir())
    assert files == ["index.html", "message.eml", "message.txt"]
    # Each build is checked; this project sets no unsubscribe_url, hence the one warning.
    assert run_lines(caplog) == [
        f"digest daily issue 2024-10-10: 1 article, built: written to {outbox(config, '2024-10-10')}; "
        "check: 0 errors, 1 warning",
        f"digest daily issue 2024-10-11: 1 article, built: written to {outbox(config, '2024-10-11')}; "
        "check: 0 errors, 1 warning",
    ]


def test_a_second_run_of_the_same_issue_builds_nothing_also_in_a_new_process(tmp_path, caplog):
    config = make_project(tmp_path)
    article(config, "a", "Thursday Piece", "2024-10-10 06:00")
    assert run_digest(str(config), "daily", THURSDAY_7).status == "built"
    eml = outbox(config, "2024-10-10") / "message.eml"
    before = (eml.stat().st_mtime_ns, eml.read_bytes())
    article(config, "late", "Late Thursday Piece", "2024-10-10 06:00")
    again = run_digest(str(config), "daily", THURSDAY_7 + timedelta(minutes=5))
    assert again.status == "already" and "already built" in run_lines(caplog)[-1]
    assert (eml.stat().st_mtime_ns, eml.read_bytes()) == before
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout); "
            "from newsletter.pipeline.run import run_digest; "
            f"print(run_digest({str(config)!r}, 'daily', '2024-10-10T07:00:00+00:00').status)")
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert fresh.stdout.strip().endswith("already") and "already built" in fresh.stdout
    assert [a.title for a in issue(config, "2024-10-10").articles] == ["Thursday Piece"]


def test_nothing_new_makes_no_issue_unless_send_empty(tmp_path, caplog):
    config = make_project(tmp_path)
    skipped = run_digest(str(config), "daily", FRIDAY_7)
    assert skipped.status == "skipped" and "no new articles" in skipped.detail
    assert issue(config, "2024-10-11") is None and not outbox(config, "2024-10-11").exists()
    assert "skipped: no new articles" in run_lines(caplog)[-1]
    empty = make_project(tmp_path / "empty", digest="send_empty = true")
    built = run_digest(str(empty), "daily", FRIDAY_7)
    assert built.status == "built" and (outbox(empty, "2024-10-11") / "message.eml").is_file()


def test_sub_day_cadence_makes_one_issue_per_run(tmp_path):
    config = make_project(tmp_path, cadence="every 6h", window="6h")
    article(config, "early", "Early Piece", "2024-10-11T05:00:00Z")
    article(config, "noon", "Late Morning Piece", "2024-10-11T10:00:00Z")
    six = run_digest(str(config), "daily", datetime(2024, 10, 11, 6, tzinfo=UTC))
    noon = run_digest(str(config), "daily", datetime(2024, 10, 11, 12, tzinfo=UTC))
    assert (six.key, noon.key) == ("2024-10-11T060000", "2024-10-11T120000")
    assert [a.title for a in issue(config, six.key).articles] == ["Early Piece"]
    assert [a.title for a in issue(config, noon.key).articles] == ["Late Morning Piece"]


def test_without_a_time_the_job_takes_the_latest_fire_time_of_its_trigger(tmp_path):
    config = make_project(tmp_path, cadence="every 6h", window="6h")
    article(config, "noon", "Late Morning Piece", "2024-10-11T10:00:00Z")
    # The job starts a moment after its 12:00 fire time; the issue is keyed by 12:00, not the clock.
    late = run_digest(str(config), "daily", now=datetime(2024, 10, 11, 12, 0, 2, 500000, tzinfo=UTC))
    assert late.key == "2024-10-11T120000" and late.status == "built"
    daily = make_project(tmp_path / "d")
    article(daily, "a", "Friday Piece", "2024-10-11")
    assert run_digest(str(daily), "daily", now=FRIDAY_7 + timedelta(minutes=50)).key == "2024-10-11"


def test_the_repeated_hour_of_a_fall_back_builds_one_issue(tmp_path):
    config = make_project(tmp_path, cadence="30 1 * * *", zone="Europe/London", window="1d")
    article(config, "a", "Sunday Piece", "2024-10-27 01:00")
    london = ZoneInfo("Europe/London")
    first = run_digest(str(config), "daily", datetime(2024, 10, 27, 1, 30, tzinfo=london))           # BST
    second = run_digest(str(config), "daily", datetime(2024, 10, 27, 1, 30, fold=1, tzinfo=london))  # GMT
    assert (first.status, second.status) == ("built", "already") and first.key == second.key == "2024-10-27"


# -- SMTP ---------------------------------------------------------------------

EVERYONE = ["ada@example.org", "bob@example.org", "cy@example.org"]


def smtp_project(tmp_path: Path, port: int, **extra) -> Path:
    settings = {"host": "127.0.0.1", "port": port, "security": "none", "retries": 0, "timeout": 5, **extra}
    config = make_project(tmp_path, delivery="smtp", smtp=settings,
                          newsletter='unsubscribe_url = "https://example.org/u/{token}"\naddress = "1 Main Street"')
    article(config, "a", "Friday Piece", "2024-10-11 06:00")
    loaded = load_config(config)
    for who in EVERYONE:
        add_subscriber(loaded, who, name=None, digests=[], topics=[])
    return config


def test_smtp_run_sends_once_even_after_a_restart(tmp_path, smtp_server, caplog):
    config = smtp_project(tmp_path, smtp_server.port)
    first = run_digest(str(config), "daily", FRIDAY_7)
    assert first.status == "sent" and "sent to 3" in first.detail and first.articles == 1
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == EVERYONE
    assert b"Friday Piece" in smtp_server.messages[0].data
    second = run_digest(str(config), "daily", FRIDAY_7)
    assert second.status == "already" and "fully sent" in second.detail
    code = ("from newsletter.pipeline.run import run_digest; "
            f"print(run_digest({str(config)!r}, 'daily', '2024-10-11T07:00:00+00:00').status)")
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert fresh.stdout.strip() == "already"
    assert len(smtp_server.messages) == 3
    assert "1 article, sent: sent to 3, 0 skipped, 0 failed" in run_lines(caplog)[0]


def test_smtp_down_is_logged_recorded_and_resumed_later(tmp_path, start_smtp, caplog):
    port = _free_port()  # nothing listens there
    config = smtp_project(tmp_path, port)
    down = run_digest(str(config), "daily", FRIDAY_7)  # must not raise
    assert down.status == "failed" and "cannot connect to the SMTP server" in down.detail
    failure = [r for r in caplog.records if r.name == "newsletter.pipeline.run" and r.levelno == logging.ERROR]
    assert len(failure) == 1 and "recorded on the issue" in failure[0].getMessage()
    assert "cannot connect" in issue(config, "2024-10-11").error
    # The server comes back; on its next start the scheduler finishes the issue that is still queued.
    server = start_smtp()
    text = config.read_text().replace(f"port = {port}", f"port = {server.port}")
    config.write_text(text)
    resumed = resume_interrupted(load_config(config))
    assert [o.status for o in resumed] == ["resumed"] and len(server.messages) == 3
    assert issue(config, "2024-10-11").error is None  # it went out in the end
    assert resume_interrupted(load_config(config)) == []


def test_a_stopped_send_resumes_on_the_next_start_only_within_the_grace(tmp_path, smtp_server, caplog):
    config = smtp_project(tmp_path, smtp_server.port)
    runs.STOP.set()  # SIGTERM arrived before the first message
    stopped = run_digest(str(config), "daily", FRIDAY_7)
    assert stopped.status == "interrupted" and "3 not sent yet" in stopped.detail and not smtp_server.messages
    runs.STOP.clear()
    made = issue(config, "2024-10-11").created
    assert resume_interrupted(load_config(config), now=made + timedelta(hours=2)) == []
    assert "too old to resume" in caplog.text
    assert "newsletter send daily --subscribers --yes --date 2024-10-11" in caplog.text
    assert not smtp_server.messages
    resumed = resume_interrupted(load_config(config), now=made + timedelta(minutes=10))
    assert [o.status for o in resumed] == ["resumed"] and len(smtp_server.messages) == 3


def test_stop_during_a_send_finishes_the_current_message(tmp_path, start_smtp):
    # The server sets STOP while it holds the first message, before it answers: as SIGTERM would.
    server = start_smtp(Recorder(on_message=lambda recorder: recorder.count == 1 and runs.STOP.set()))
    config = smtp_project(tmp_path, server.port)
    stopped = run_digest(str(config), "daily", FRIDAY_7)
    assert stopped.status == "interrupted" and "sent to 1," in stopped.detail and "2 not sent yet" in stopped.detail
    assert len(server.messages) == 1
    runs.STOP.clear()
    assert [o.status for o in resume_interrupted(load_config(config))] == ["resumed"]
    assert sorted(m.rcpt_tos[0] for m in server.messages) == EVERYONE


def test_an_smtp_digest_without_subscribers_says_so(tmp_path, smtp_server, caplog):
    config = make_project(tmp_path, delivery="smtp", smtp={"host": "127.0.0.1", "port": smtp_server.port,
                                                           "security": "none"},
                          newsletter='unsubscribe_mailto = "unsubscribe@example.org"')
    article(config, "a", "Friday Piece", "2024-10-11 06:00")
    outcome = run_digest(str(config), "daily", FRIDAY_7)
    assert outcome.status == "sent" and "no active subscribers" in outcome.detail and not smtp_server.messages
    assert "newsletter.address is not set: CAN-SPAM asks for the sender's postal address" in caplog.text


def test_a_scheduled_smtp_run_without_a_way_to_unsubscribe_sends_nothing(tmp_path, smtp_server, caplog):
    config = make_project(tmp_path, delivery="smtp", smtp={"host": "127.0.0.1", "port": smtp_server.port,
                                                           "security": "none"})
    article(config, "a", "Friday Piece", "2024-10-11 06:00")
    add_subscriber(load_config(config), "ada@example.org", name=None, digests=[], topics=[])
    outcome = run_digest(str(config), "daily", FRIDAY_7)
    assert outcome.status == "failed" and not smtp_server.messages
    assert "newsletter.unsubscribe_url: is not set, nor unsubscribe_mailto" in outcome.detail
    assert issue(config, "2024-10-11") is None  # refused before anything was built or queued


# -- failures -----------------------------------------------------------------

def test_a_broken_theme_is_logged_and_recorded_when_the_issue_exists(tmp_path, caplog):
    config = make_project(tmp_path, newsletter='templates = "theme"')
    theme = config.parent / "theme"
    theme.mkdir()
    broken = theme / "email.html.j2"
    broken.write_text("{% if %}<p>oops</p>\n", encoding="utf-8")
    article(config, "a", "Friday Piece", "2024-10-11 06:00")
    failed = run_digest(str(config), "daily", FRIDAY_7)  # must not raise
    assert failed.status == "failed" and "email.html.j2" in failed.detail
    assert "not recorded: no issue yet" in failed.detail and issue(config, "2024-10-11") is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "digest daily issue 2024-10-11: failed" in errors[0].getMessage()
    # Recorded but not on disk (a crash between the two): the next run rebuilds, and its error is kept.
    broken.write_text((REPO / "templates" / "email.html.j2").read_text(encoding="utf-8"), encoding="utf-8")
    assert run_digest(str(config), "daily", FRIDAY_7).status == "built"
    for f in outbox(config, "2024-10-11").iterdir():
        f.unlink()
    broken.write_text("{% for %}\n", encoding="utf-8")
    again = run_digest(str(config), "daily", FRIDAY_7)
    assert again.status == "failed" and "recorded on the issue" in again.detail
    assert "email.html.j2" in issue(config, "2024-10-11").error


def test_a_theme_file_added_between_runs_is_used_by_the_next_run(tmp_path):
    config = make_project(tmp_path, newsletter='templates = "theme"', cadence="every 1h", window="1h")
    (config.parent / "theme").mkdir()
    article(config, "a", "First Piece", "2024-10-11T06:30:00+00:00")
    first = run_digest(str(config), "daily", datetime(2024, 10, 11, 7, tzinfo=UTC))
    assert first.status == "built"
    footer = (REPO / "templates" / "footer.html.j2").read_text(encoding="utf-8")
    (config.parent / "theme" / "footer.html.j2").write_text(footer + "<p>OVERRIDDEN FOOTER</p>\n", encoding="utf-8")
    article(config, "b", "Second Piece", "2024-10-11T07:30:00+00:00")
    second = run_digest(str(config), "daily", datetime(2024, 10, 11, 8, tzinfo=UTC))
    assert second.status == "built"
    assert "OVERRIDDEN FOOTER" not in (outbox(config, "2024-10-11T070000") / "index.html").read_text()
    assert "OVERRIDDEN FOOTER" in (outbox(config, "2024-10-11T080000") / "index.html").read_text()


def test_an_unexpected_error_is_logged_with_its_traceback_and_not_raised(tmp_path, caplog, monkeypatch):
    config = make_project(tmp_path)
    article(config, "a", "Friday Piece", "2024-10-11 06:00")

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runs, "build_slot", boom)
    outcome = run_digest(str(config), "daily", FRIDAY_7)
    assert outcome.status == "failed" and "RuntimeError: disk on fire" in outcome.detail
    assert any(r.exc_info for r in caplog.records) and "Traceback" in caplog.text


def test_config_problems_at_run_time_are_logged_not_raised(tmp_path, caplog):
    config = make_project(tmp_path)
    assert run_digest(str(config), "weekly", FRIDAY_7).status == "failed"
    config.write_text(config.read_text() + "\nbogus = 1\n")
    assert run_digest(str(config), "daily", FRIDAY_7).status == "failed"
    assert "no digest named 'weekly'" in caplog.text and "unknown key 'bogus'" in caplog.text


# -- scheduled retries (a fixed clock; the job function called directly) ----------------------------

def stored_retry(config: Path, outcome):
    """Hand the outcome to the scheduler's retry hook, as APScheduler would after the run; the stored job."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from newsletter import schedule

    scheduler = schedule.make_scheduler(load_config(config), scheduler_class=BackgroundScheduler)
    jid = schedule.schedule_retry(scheduler, load_config(config), outcome)
    scheduler.start(paused=True)  # paused: the job goes into the job store, none runs
    try:
        job = scheduler.get_job(jid) if jid else None
        if job is not None:
            # Gone before shutdown, whose last pass over due jobs would find this one (due in 2024) missed.
            scheduler.remove_job(jid)
        return job
    finally:
        scheduler.shutdown()


def test_a_failed_scheduled_send_is_retried_with_backoff_within_the_grace(tmp_path, start_smtp, caplog):
    from apscheduler.util import ref_to_obj

    port = _free_port()  # the server is down at 07:00
    config = smtp_project(tmp_path, port)
    now = FRIDAY_7 + timedelta(seconds=5)
    failed = run_digest(str(config), "daily", FRIDAY_7, now=now)
    assert failed.status == "failed" and failed.retry_at == now + timedelta(seconds=30)
    assert "retry 1 at 2024-10-11T07:00:35+00:00" in run_lines(caplog)[-1]
    job = stored_retry(config, failed)
    assert job.id == "retry:daily:2024-10-11" and job.func_ref == "newsletter.pipeline.run:run_digest"
    assert job.args == (str(config), "daily", "2024-10-11T07:00:00+00:00", 1)
    assert job.trigger.run_date == failed.retry_at
    assert job.misfire_grace_time == 3600 - 35  # it ends where the digest's misfire_grace does
    # Still down at the retry: the next one waits twice as long.
    second = ref_to_obj(job.func_ref)(*job.args, now=failed.retry_at)
    assert second.status == "failed" and second.retry_at == failed.retry_at + timedelta(seconds=60)
    # Back up: the job function, called as the scheduler would, sends to everyone once, and asks for no retry.
    server = start_smtp()
    config.write_text(config.read_text().replace(f"port = {port}", f"port = {server.port}"))
    third = ref_to_obj(job.func_ref)(*job.args[:3], 2, now=second.retry_at)
    assert third.status == "sent" and third.retry_at is None
    assert sorted(m.rcpt_tos[0] for m in server.messages) == EVERYONE


def test_transient_failures_left_by_a_run_are_retried(tmp_path, start_smtp):
    server = start_smtp(Recorder(tempfail_data={"bob@example.org"}, tempfail_times=1))
    config = smtp_project(tmp_path, server.port)
    first = run_digest(str(config), "daily", FRIDAY_7, now=FRIDAY_7)
    assert first.status == "sent" and "1 failed" in first.detail and "1 to retry" in first.detail
    assert first.retry_at == FRIDAY_7 + timedelta(seconds=30)
    retried = run_digest(str(config), "daily", FRIDAY_7.isoformat(), 1, now=first.retry_at)
    assert retried.status == "sent" and retried.retry_at is None
    assert sorted(m.rcpt_tos[0] for m in server.messages) == EVERYONE  # bob once, by the retry


def test_a_failure_late_in_the_grace_asks_for_no_retry_beyond_it(tmp_path, caplog):
    late = smtp_project(tmp_path, _free_port())
    outcome = run_digest(str(late), "daily", FRIDAY_7, now=FRIDAY_7 + timedelta(minutes=59, seconds=50))
    assert outcome.status == "failed" and outcome.retry_at is None
    assert "not retried: the next retry would fall after misfire_grace" in run_lines(caplog)[-1]
    assert stored_retry(late, outcome) is None
