"""The first run: init's printed command builds an issue, the title is set once, the theme can be copied."""

from __future__ import annotations

import email
import json
import shlex
from email import policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.errors import ConfigError
from newsletter.scaffold import SAMPLE_ISSUE, set_newsletter_key

from tests.conftest import REPO, write_config

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_init_prints_the_command_that_builds_the_sample_issue_at_once(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", "my digest")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("next: ")]
    words = shlex.split(line.removeprefix("next: "))
    assert words[:2] == ["cd", "my digest"] and words[2] == "&&" and words[3] == "newsletter"
    monkeypatch.chdir(tmp_path / words[1])
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    built = run(*words[4:], "--json")
    assert built.exit_code == 0, built.output
    data = json.loads(built.stdout)
    assert len(data["articles"]) == 2 and data["date"] == SAMPLE_ISSUE.isoformat()
    assert Path(data["files"]["html"]).is_file()


def test_the_readme_quick_start_builds_the_samples_issue():
    readme = (REPO / "README.md").read_text()
    assert f"pip install . && newsletter build --date {SAMPLE_ISSUE.isoformat()}" in readme
    assert f"outbox/daily/{SAMPLE_ISSUE.isoformat()}/index.html" in readme


def test_the_title_is_set_in_one_place(tmp_path: Path):
    target = tmp_path / "p"
    assert run("init", target).exit_code == 0
    config = target / "newsletter.toml"
    starter = config.read_text()
    assert starter.count("Editors' Picks") == 2  # the title, and a comment showing how From reads
    assert "\nwindow =" not in starter  # the default, 7d
    config.write_text(starter.replace('title = "Editors\' Picks"', 'title = "The Tehran Brief"'))
    built = json.loads(run("--config", config, "build", "--date", SAMPLE_ISSUE.isoformat(), "--json").stdout)
    assert built["subject"] == "The Tehran Brief: Iran Gives in to Spy Mania"
    message = email.message_from_bytes(Path(built["files"]["eml"]).read_bytes(), policy=policy.default)
    assert message["From"] == "The Tehran Brief <editors@example.org>"
    html = Path(built["files"]["html"]).read_text()
    assert "Editors' Picks" not in html and "Editors&#39; Picks" not in html and 'class="kicker"' not in html


def test_theme_copy_copies_the_default_theme_and_points_templates_at_it(tmp_path: Path):
    target = tmp_path / "p"
    assert run("init", target).exit_code == 0
    config = target / "newsletter.toml"
    before = config.read_text()
    result = run("--config", config, "theme", "copy")
    assert result.exit_code == 0, result.output
    # The web pages of `newsletter serve` (templates/web/) are part of the theme too.
    shipped = sorted(str(p.relative_to(REPO / "templates")) for p in (REPO / "templates").rglob("*") if p.is_file())
    copied = sorted(str(p.relative_to(target / "theme")) for p in (target / "theme").rglob("*") if p.is_file())
    assert copied == shipped and "web/unsubscribe.html" in copied and "web/archive/index.html.j2" in copied
    assert (target / "theme" / "style.css").read_bytes() == (REPO / "templates" / "style.css").read_bytes()
    after = config.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert changed == [('# templates = "theme"            # your own theme folder; overrides the default file by file',
                        'templates = "theme"            # your own theme folder; overrides the default file by file')]
    (target / "theme" / "item.html.j2").write_text('<tr><td class="item">MINE {{ item.title }}</td></tr>\n')
    built = json.loads(run("--config", config, "build", "--date", SAMPLE_ISSUE.isoformat(), "--json").stdout)
    assert "MINE Iran Gives in to Spy Mania" in Path(built["files"]["html"]).read_text()
    # Never over the editor's files: the second copy stops before it starts.
    again = run("--config", config, "theme", "copy")
    assert again.exit_code == 1 and "exists; nothing was copied" in again.stderr and again.stderr.count("\n") == 1
    assert "MINE" in (target / "theme" / "item.html.j2").read_text()


def test_theme_copy_into_a_named_folder_of_a_config_without_the_commented_line(tmp_path: Path):
    config = write_config(tmp_path / "p")  # no templates line at all
    result = run("--config", config, "theme", "copy", tmp_path / "p" / "looks" / "autumn")
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert 'templates = "looks/autumn"\n' in text and text.index("templates") < text.index("[[sources]]")
    assert (tmp_path / "p" / "looks" / "autumn" / "email.html.j2").is_file()


@pytest.mark.parametrize("text, expected", [
    ('[newsletter]\ntitle = "x"\ntemplates = "old"  # mine\n', '[newsletter]\ntitle = "x"\ntemplates = "new"  # mine\n'),
    ('[newsletter]\n# templates = \'old\'\n[x]\n', '[newsletter]\ntemplates = "new"\n[x]\n'),
    ('# top\n[newsletter] # the table\ntitle = "x"\n\n# a comment\n[[sources]]\npath = "a"\n',
     '# top\n[newsletter] # the table\ntitle = "x"\ntemplates = "new"\n\n# a comment\n[[sources]]\npath = "a"\n'),
])
def test_set_newsletter_key_keeps_the_rest_of_the_text(text, expected):
    assert set_newsletter_key(text, "templates", "new", "n.toml") == expected


def test_set_newsletter_key_refuses_what_it_cannot_do_cleanly():
    with pytest.raises(ConfigError, match="has no \\[newsletter\\] table"):
        set_newsletter_key('title = "x"\n', "templates", "new", "n.toml")
    with pytest.raises(ConfigError, match="could not set templates"):  # a dotted key above: a second definition
        set_newsletter_key('newsletter.templates = "a"\n[newsletter]\n', "templates", "new", "n.toml")
