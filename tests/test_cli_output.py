"""The command line as people expect it: plain listings when piped, --csv beside --json, help without
type labels, --open that says why it could not, and shell completion."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from newsletter.cli import app

from tests.conftest import REPO, write_config, write_markdown

runner = CliRunner()


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    config = write_config(tmp_path / "p")
    write_markdown(config.parent / "articles", "a.md", "=HYPERLINK(\"http://x\",\"click\")", topics=("Iran", "PLO"))
    write_markdown(config.parent / "articles", "b.md", "Plain, with a comma", date="2024-10-10 08:00",
                   topics=("Russia",), extra="draft: true\n")
    return config


LISTINGS = [["articles"], ["topics"], ["sources"], ["subscribers", "list"], ["issues"], ["schedule", "list"]]
SYNCING = {"articles", "topics", "sources"}


@pytest.mark.parametrize("listing", LISTINGS, ids=" ".join)
def test_every_listing_has_the_same_rows_in_json_and_csv(project: Path, listing):
    assert run("--config", project, "subscribers", "add", "ada@example.org", "--topic", "Iran").exit_code == 0
    assert run("--config", project, "build", "--date", "2024-10-11").exit_code == 0
    listing = [*listing, *(["--no-sync"] if listing[0] in SYNCING else [])]  # a sync between would move times
    as_json = json.loads(run("--config", project, *listing, "--json").stdout)
    as_csv = list(csv.DictReader(io.StringIO(run("--config", project, *listing, "--csv").stdout)))
    assert len(as_json) == len(as_csv) >= 1
    for row, line in zip(as_json, as_csv):
        assert list(row) == list(line)  # one schema, the same order
        for key, value in row.items():
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                assert line[key] == ";".join(value)
            elif isinstance(value, list):  # a source's problems: {input, error} items
                assert line[key] == ";".join(": ".join(v.values()) for v in value)
            elif value is None or isinstance(value, bool):
                assert line[key] == ("yes" if value else "")
            elif not str(value).startswith("="):
                assert line[key] == str(value)
    both = run("--config", project, *listing, "--json", "--csv")
    assert both.exit_code == 2 and "choose one of --json and --csv" in both.stderr


def test_piped_listings_are_plain_tab_separated_text(project: Path):
    result = run("--config", project, "articles")  # CliRunner's stdout is not a terminal
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["published", "title", "source", "topics", "draft"]
    assert lines[1].split("\t") == ["2024-10-11 06:00", '=HYPERLINK("http://x","click")', "Example Review",
                                    "Iran, PLO", ""]
    assert lines[2].split("\t")[-1] == "yes"
    assert not any(ch in result.stdout for ch in "│┃━─┏╭")  # no box drawing


def test_csv_cells_are_safe_in_spreadsheets(project: Path):
    rows = run("--config", project, "articles", "--csv").stdout
    assert "'=HYPERLINK" in rows and "\n=HYPERLINK" not in rows and ",=HYPERLINK" not in rows


def test_issues_shows_the_error_column(project: Path):
    assert run("--config", project, "build", "--date", "2024-10-11").exit_code == 0
    header = run("--config", project, "issues").stdout.splitlines()[0].split("\t")
    assert header[-1] == "error"


def test_help_shows_no_type_labels():
    group = typer.main.get_command(app)

    def walk(cmd, path):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + [name])

    for path in walk(group, []):
        text = run(*path, "--help", env={"COLUMNS": "200"}).stdout
        for label in ("<str>", "<bool>", "<int", "<list", "<path>", "<float"):
            assert label not in text, f"`newsletter {' '.join(path)} --help` shows {label}"
    assert re.search(r"--date\s+DATE\s+Issue date", run("build", "--help", env={"COLUMNS": "200"}).stdout)


def test_open_says_why_it_could_not(project: Path, tmp_path: Path):
    # A real process: Python's webbrowser reads $BROWSER once per process.
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["BROWSER"] = str(tmp_path / "no-such-browser")
    result = subprocess.run([sys.executable, "-m", "newsletter", "--config", str(project), "build", "--date",
                             "2024-10-11", "--open"], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "warning: could not open a browser:" in result.stderr and "index.html yourself" in result.stderr
    for editor, why in (("", "$EDITOR is not set"), (str(tmp_path / "no-such-editor"), "command not found"),
                        ("false", "exited with status 1")):
        opened = run("--config", project, "draft", "--date", "2024-10-11", "--open",
                     env={"EDITOR": editor, "VISUAL": ""})
        assert opened.exit_code == 0 and why in opened.stderr, opened.stderr
    quiet = run("--config", project, "draft", "--date", "2024-10-11", "--open", env={"EDITOR": "true", "VISUAL": ""})
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr


def test_shell_completion_completes_commands_and_options():
    env = {**os.environ, "_NEWSLETTER_COMPLETE": "complete_bash", "COMP_WORDS": "newsletter subscribers e",
           "COMP_CWORD": "2"}
    # The installed command, as a shell calls it: the completion variable is named after it.
    command = Path(sys.executable).with_name("newsletter")
    result = subprocess.run([str(command)], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert result.stdout.split() == ["edit", "export"]
    # --show-completion names the shell it runs under (found in the process tree): run it under bash,
    # so the answer does not depend on how pytest itself was started (a terminal, a background job).
    # (`; true` keeps bash from replacing itself with the command, which would hide it.)
    script = subprocess.run(["bash", "-c", f"'{command}' --show-completion; true"], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert "_NEWSLETTER_COMPLETE=complete_bash" in script.stdout, script.stderr
