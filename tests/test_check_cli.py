"""`newsletter check`, and the checks build, send and the scheduler run on every issue."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.pipeline import open_store
from newsletter.pipeline.run import run_digest

from tests.conftest import SAMPLE, write_config
from tests.emails import CLEAN_BODY, message, page

runner = CliRunner()
SETTINGS = """
site_url = "https://example.org"
unsubscribe_url = "https://example.org/unsubscribe?token={token}"
address = "Example Media, 1 Main Street, Springfield"
"""
# A theme whose items are laid out with flexbox, which Outlook and some Gmail apps drop.
FLEX_ITEM = '<tr><td><div style="display:flex"><p>{{ item.title }}</p><p>{{ item.date }}</p></div></td></tr>\n'


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


def sample_project(tmp_path: Path, body: str = SETTINGS, digests: str | None = None) -> Path:
    """A project whose store holds the sample digest: two items for the issue of 2024-10-11."""
    config = write_config(tmp_path / "project", body, digests=digests)
    # Undated items take noon of --date: the day before, so the 07:00 issue of the 11th carries them.
    result = run("--config", config, "import", SAMPLE, "--date", "2024-10-10")
    assert result.exit_code == 0, result.output
    return config


def flex_theme(config: Path) -> None:
    theme = config.parent / "theme"
    theme.mkdir()
    (theme / "item.html.j2").write_text(FLEX_ITEM, encoding="utf-8")
    config.write_text(config.read_text().replace('timezone = "UTC"\n', 'timezone = "UTC"\ntemplates = "theme"\n'))


def test_check_on_the_sample_digest_prints_no_findings(tmp_path: Path):
    config = sample_project(tmp_path)
    result = run("--config", config, "check", "--date", "2024-10-11")
    assert result.exit_code == 0, result.output
    assert result.stdout == "daily 2024-10-11: no findings\n"


def test_check_names_each_problem_of_a_hand_broken_email_with_the_clients_it_affects(tmp_path: Path):
    body = CLEAN_BODY.replace("</td>", '<div style="display:flex"><img src="https://example.org/a.jpg" width="200">'
                                       '<p>Side by side</p></div></td>')
    filler = '<p style="margin:0">' + "Words of an article that goes on and on. " * 50 + "</p>\n"
    broken = page(body + filler * 60)  # about 120 KB
    path = tmp_path / "broken.eml"
    path.write_bytes(message(broken))
    result = run("check", path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("error: ") and "the HTML is 12" in line and "Gmail clips" in line for line in lines)
    assert any(line.startswith("error: line 8 <img") and "without alt text" in line for line in lines)
    flex = next(line for line in lines if "display:flex" in line)
    assert flex.startswith("error: line 8 <div>: display:flex:")
    assert "Outlook (Windows)" in flex and "Gmail (Android), Gmail (iOS)" in flex
    assert "Not supported with non Google accounts" in flex
    assert lines[-1] == f"{path}: 3 errors, 0 warnings"

    as_json = json.loads(run("check", path, "--json").stdout)
    assert (as_json["errors"], as_json["warnings"]) == (3, 0)
    flex = next(f for f in as_json["findings"] if f["message"].startswith("display:flex"))
    assert set(flex) == {"check", "severity", "message", "fix", "element", "line", "clients", "count"}
    assert flex["clients"] == ["Gmail (Android)", "Gmail (iOS)", "Outlook (Windows)"] and flex["line"] == 8


def test_check_an_html_file_and_the_usage_errors(tmp_path: Path):
    good = tmp_path / "issue.html"
    good.write_text(page(), encoding="utf-8")
    assert run("check", good).stdout == f"{good}: no findings\n"
    missing = run("check", tmp_path / "nope.html")
    assert missing.exit_code == 2 and "is not a file" in missing.stderr
    dated = run("check", good, "--date", "2024-10-11")
    assert dated.exit_code == 2 and "--date goes with a digest" in dated.stderr
    text = tmp_path / "notes.txt"
    text.write_text("not an email\n")
    bad = run("check", text)
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and "does not start with mail headers" in bad.stderr


def test_check_a_day_with_nothing_to_check(tmp_path: Path):
    config = sample_project(tmp_path)
    result = run("--config", config, "check", "--date", "2024-10-01")
    assert result.exit_code == 0 and result.stdout.startswith("nothing to check: no new articles")


def test_build_prints_the_count_and_json_has_it(tmp_path: Path):
    config = sample_project(tmp_path)
    result = run("--config", config, "build", "--date", "2024-10-11")
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "check: no findings"
    flex_theme(config)
    broken = run("--config", config, "build", "--date", "2024-10-11")
    assert broken.exit_code == 0  # build writes the issue; sending it is what the errors stop
    assert broken.stdout.splitlines()[-1] == "check: 1 error, 0 warnings (see `newsletter check daily --date 2024-10-11`)"
    data = json.loads(run("--config", config, "build", "--date", "2024-10-11", "--json").stdout)
    assert data["check"] == {"errors": 1, "warnings": 0} and data["notes"] == []


def smtp_project(tmp_path: Path, server) -> Path:
    smtp = f'\n[smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "none"\ntimeout = 10\n'
    digests = '\n[digests.daily]\ndelivery = "smtp"\ncadence = "0 7 * * mon-fri"\n'
    config = sample_project(tmp_path, SETTINGS, digests + smtp)
    assert run("--config", config, "subscribers", "add", "ada@example.org").exit_code == 0
    return config


def test_send_refuses_an_issue_with_errors_unless_forced(tmp_path: Path, smtp_server):
    config = smtp_project(tmp_path, smtp_server)
    flex_theme(config)
    refused = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11")
    assert refused.exit_code == 1 and smtp_server.messages == []
    assert "error: line" in refused.stderr and "display:flex" in refused.stderr
    assert "issue daily 2024-10-11 has 1 error" in refused.stderr and "--force" in refused.stderr
    dry = run("--config", config, "send", "--subscribers", "--dry-run", "--date", "2024-10-11")
    assert dry.exit_code == 0 and "check: 1 error, 0 warnings" in dry.stdout
    test_copy = run("--config", config, "send", "--to", "me@example.org", "--date", "2024-10-11")
    assert test_copy.exit_code == 0 and "check: 1 error" in test_copy.stdout and len(smtp_server.messages) == 1
    forced = run("--config", config, "send", "--subscribers", "--yes", "--force", "--date", "2024-10-11")
    assert forced.exit_code == 0, forced.output
    assert "check: 1 error, 0 warnings" in forced.stdout and "1 sent" in forced.stdout
    assert [list(m.rcpt_tos) for m in smtp_server.messages[1:]] == [["ada@example.org"]]


def test_send_of_a_clean_issue_prints_no_findings(tmp_path: Path, smtp_server):
    config = smtp_project(tmp_path, smtp_server)
    result = run("--config", config, "send", "--subscribers", "--yes", "--date", "2024-10-11")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "check: no findings" and len(smtp_server.messages) == 1


def test_a_scheduled_send_of_an_issue_with_errors_fails_and_says_why_on_the_issue(tmp_path: Path, smtp_server):
    config = smtp_project(tmp_path, smtp_server)
    flex_theme(config)
    outcome = run_digest(str(config), "daily", datetime(2024, 10, 11, 7, tzinfo=timezone.utc))
    assert outcome.status == "failed" and "has 1 error" in outcome.detail and smtp_server.messages == []
    with open_store(load_config(config)) as store:
        assert "has 1 error" in store.get_issue("daily", "2024-10-11").error
