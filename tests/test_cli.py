"""Every command through Typer's CliRunner, on real project folders and SQLite files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from newsletter.cli import app

from tests.conftest import REPO, write_config, write_markdown

runner = CliRunner()


def run(*args: str, input: str | bytes | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


def test_every_command_has_help_with_an_example():
    group = typer.main.get_command(app)

    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, path + [name])
        else:
            yield path, cmd

    commands = list(walk(group, []))
    assert len(commands) >= 6
    for path, cmd in commands:
        assert cmd.help and "Example:" in cmd.help, f"`newsletter {' '.join(path)}` has no example in its help"
        result = run(*path, "--help")
        assert result.exit_code == 0 and "Example" in result.output


def test_no_args_prints_help():
    result = runner.invoke(app, [])
    assert "Usage" in result.output and "build" in result.output


def test_init_scaffolds_and_never_overwrites(tmp_path: Path):
    target = tmp_path / "digest"
    result = run("init", target)
    assert result.exit_code == 0, result.output
    assert (target / "newsletter.toml").read_text() == (REPO / "newsletter.toml").read_text()
    shipped = sorted(p.name for p in (REPO / "articles").glob("*.md"))
    assert sorted(p.name for p in (target / "articles").glob("*.md")) == shipped and len(shipped) == 2
    assert (target / "outbox").is_dir()
    (target / "newsletter.toml").write_text("# mine\n")
    again = run("init", target)
    assert again.exit_code == 0
    assert "kept existing" in again.output and (target / "newsletter.toml").read_text() == "# mine\n"


def test_missing_config_is_one_line_with_exit_1(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    result = run("articles")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "run `newsletter init`" in result.stderr and "Traceback" not in result.output


def test_import_reports_counts_and_is_idempotent(project: Path):
    folder = project.parent / "incoming"
    write_markdown(folder, "a.md", "First")
    write_markdown(folder / "nested", "b.md", "Second")
    first = run("--config", project, "import", folder)
    assert first.exit_code == 0, first.output
    assert "2 new, 0 updated, 0 unchanged, 0 rejected" in first.stdout
    write_markdown(folder, "a.md", "First, corrected")
    second = run("--config", project, "import", folder)
    assert "0 new, 1 updated, 1 unchanged, 0 rejected" in second.stdout
    listed = json.loads(run("--config", project, "articles", "--json", "--no-sync").stdout)
    assert sorted(a["title"] for a in listed) == ["First, corrected", "Second"]


def test_import_keeps_good_items_beside_bad_ones(project: Path):
    folder = project.parent / "mixed"
    write_markdown(folder, "good.md", "Good one")
    (folder / "bad.md").write_text("---\ndate: 2024-10-11\n---\nno title here\n")
    (folder / "binary.md").write_bytes(b"\x00\x01\x02\x03" * 10)
    result = run("--config", project, "import", folder)
    assert result.exit_code == 1
    assert "1 new, 0 updated, 0 unchanged, 2 rejected" in result.stdout
    assert "bad.md" in result.stderr and "binary.md" in result.stderr
    listed = json.loads(run("--config", project, "articles", "--json", "--no-sync").stdout)
    assert [a["title"] for a in listed] == ["Good one"]


def test_import_undated_from_stdin_with_date(project: Path):
    text = (REPO / "tests" / "data" / "digest" / "sample_two_items.txt").read_bytes()
    result = runner.invoke(app, ["--config", str(project), "import", "-", "--format", "digest", "--date", "2024-10-11"],
                           input=text)
    assert result.exit_code == 0, result.output
    assert "2 new" in result.stdout
    assert "has no date" in result.stderr and "--date 2024-10-11" in result.stderr
    listed = json.loads(run("--config", project, "articles", "--json", "--no-sync").stdout)
    assert {a["published"][:10] for a in listed} == {"2024-10-11"}


def test_import_missing_path_and_bad_options(project: Path):
    missing = run("--config", project, "import", project.parent / "nope")
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    bad_date = run("--config", project, "import", project.parent, "--date", "11/10/2024")
    assert bad_date.exit_code == 2 and "is not a date" in bad_date.stderr
    assert bad_date.stderr.strip().count("\n") == 0
    bad_format = run("--config", project, "import", project.parent, "--format", "docx")
    assert bad_format.exit_code == 2 and "'docx' is not a format" in bad_format.stderr


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "No such option: --bogus"),
    (["--config"], "Option '--config' requires an argument"),
    (["-v", "nosuchcommand"], "No such command 'nosuchcommand'"),
    (["build", "--bogus"], "No such option: --bogus"),
])
def test_usage_errors_are_one_line_wherever_they_are(args, message):
    # The global options are parsed before any command runs: their mistakes read like every other.
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "╭" not in result.stderr + result.stdout


def test_sync_reads_config_sources_incrementally(project: Path):
    articles = project.parent / "articles"
    write_markdown(articles, "a.md", "Alpha")
    assert "1 new" in run("--config", project, "sync").stdout
    again = run("--config", project, "sync")
    assert "0 new, 0 updated, 0 unchanged, 0 rejected (1 of 1 inputs unchanged" in again.stdout
    write_markdown(articles, "b.md", "Beta")
    assert "1 new, 0 updated, 0 unchanged" in run("--config", project, "sync").stdout


def test_articles_filters(project: Path):
    articles = project.parent / "articles"
    write_markdown(articles, "a.md", "Alpha", date="2024-10-01", topics=("Iran",))
    write_markdown(articles, "b.md", "Beta", date="2024-10-05", topics=("Russia",))
    write_markdown(articles, "c.md", "Gamma", date="2024-10-09", topics=("Iran", "PLO"))
    def titles(*args):
        result = run("--config", project, "articles", "--json", *args)
        assert result.exit_code == 0, result.output
        return [a["title"] for a in json.loads(result.stdout)]
    assert titles() == ["Gamma", "Beta", "Alpha"]
    assert titles("--topic", "iran") == ["Gamma", "Alpha"]
    assert titles("--since", "2024-10-02", "--until", "2024-10-05") == ["Beta"]
    assert titles("--limit", "1") == ["Gamma"]
    assert titles("--source", "example review", "--topic", "PLO") == ["Gamma"]
    row = json.loads(run("--config", project, "articles", "--json", "--limit", "1").stdout)[0]
    assert set(row) >= {"id", "title", "url", "source", "published", "topics", "author"}
    table = run("--config", project, "articles")
    assert "Gamma" in table.stdout and "Alpha" in table.stdout


def test_topics_lists_counts(project: Path):
    articles = project.parent / "articles"
    write_markdown(articles, "a.md", "Alpha", date="2024-10-01", topics=("Iran",))
    write_markdown(articles, "c.md", "Gamma", date="2024-10-09", topics=("Iran", "Gaza War 2023"))
    rows = json.loads(run("--config", project, "topics", "--json").stdout)
    assert rows == [
        {"name": "Gaza War 2023", "slug": "gaza-war-2023", "count": 1, "latest": "2024-10-09T12:00:00+00:00"},
        {"name": "Iran", "slug": "iran", "count": 2, "latest": "2024-10-09T12:00:00+00:00"},
    ]


def test_unknown_config_key_through_cli(tmp_path: Path):
    path = write_config(tmp_path, '\n[smtp]\nhots = "x"\n')
    result = run("--config", path, "topics")
    assert result.exit_code == 1
    assert "smtp.hots: unknown key 'hots' (did you mean 'host'?)" in result.stderr


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.startswith("newsletter ")


def _sample_project(tmp_path: Path) -> Path:
    target = tmp_path / "sample"
    assert run("init", target).exit_code == 0
    return target / "newsletter.toml"


def test_build_the_sample_digest(tmp_path: Path):
    config = _sample_project(tmp_path)
    result = run("--config", config, "build", "--date", "2024-10-11", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["digest"] == "daily" and data["date"] == "2024-10-11" and len(data["articles"]) == 2
    assert data["subject"] == "Editors' Picks: Iran Gives in to Spy Mania"
    folder = config.parent / "outbox" / "daily" / "2024-10-11"
    assert {Path(p) for p in data["files"].values()} == {folder / "message.eml", folder / "index.html", folder / "message.txt"}
    html = (folder / "index.html").read_text()
    assert "The Long History of Cooperation between Iran and Russia" in html and "Read more at New York Sun" in html
    assert not list(folder.glob(".*.tmp"))  # no temporary file left behind
    listed = json.loads(run("--config", config, "issues", "--json").stdout)
    assert [(i["key"], i["articles"]) for i in listed] == [("2024-10-11", 2)]
    # An outbox digest's issue is not waiting for subscribers added later.
    assert run("--config", config, "subscribers", "add", "ada@example.org").exit_code == 0
    assert json.loads(run("--config", config, "issues", "--json").stdout)[0]["pending"] == 0


def test_build_rebuilds_the_same_articles_and_force_repicks(tmp_path: Path):
    config = _sample_project(tmp_path)
    first = json.loads(run("--config", config, "build", "--date", "2024-10-11", "--json").stdout)
    write_markdown(config.parent / "articles", "late.md", "A Late Addition", date="2024-10-11 06:45")
    again = json.loads(run("--config", config, "build", "--date", "2024-10-11", "--json").stdout)
    assert again["articles"] == first["articles"]  # a recorded issue keeps its articles
    assert again["held_over"] == 1
    hint = run("--config", config, "build", "--date", "2024-10-11")
    assert "1 eligible article not in this issue, recorded earlier, waits for the next one: --force" in hint.stderr
    forced = json.loads(run("--config", config, "build", "--date", "2024-10-11", "--force", "--json").stdout)
    assert len(forced["articles"]) == 3 and set(first["articles"]) < set(forced["articles"])


def test_build_with_nothing_new_writes_nothing(tmp_path: Path):
    config = _sample_project(tmp_path)
    assert run("--config", config, "build", "--date", "2024-10-11").exit_code == 0
    # The next day has nothing published, and what the 11th carried is not repeated.
    result = run("--config", config, "build", "--date", "2024-10-12", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["skipped"] is True
    assert not (config.parent / "outbox" / "daily" / "2024-10-12").exists()
    plain = run("--config", config, "build", "--date", "2024-10-12")
    assert plain.stdout.startswith("nothing written: no new articles for digest 'daily'")


def test_build_errors(tmp_path: Path):
    config = _sample_project(tmp_path)
    bad_date = run("--config", config, "build", "--date", "2024-13-01")
    assert bad_date.exit_code == 2 and "'2024-13-01' is not a date" in bad_date.stderr
    unknown = run("--config", config, "build", "weekly")
    assert unknown.exit_code == 1 and "no digest named 'weekly'" in unknown.stderr
    text = config.read_text().replace("[digests.daily]", "[digests.weekly]\nwindow = \"7d\"\n\n[digests.daily]")
    config.write_text(text)
    several = run("--config", config, "build")
    assert several.exit_code == 1 and "several digests are configured: daily, weekly" in several.stderr


def test_build_with_a_broken_user_theme_is_one_line(tmp_path: Path):
    config = _sample_project(tmp_path)
    theme = config.parent / "theme"
    theme.mkdir()
    (theme / "item.html.j2").write_text("<p>{{ item.title }</p>\n")
    config.write_text(config.read_text().replace('# templates = "theme"', 'templates = "theme"'))
    result = run("--config", config, "build", "--date", "2024-10-11")
    assert result.exit_code == 1
    assert "item.html.j2:1" in result.stderr and result.stderr.count("\n") == 1
    assert not (config.parent / "outbox" / "daily" / "2024-10-11").exists()
    assert json.loads(run("--config", config, "issues", "--json").stdout) == []  # nothing recorded
