"""The sync of configured sources: problems said once, every syncing command going on past a bad
file, folders walked safely, `newsletter sources`, and Markdown ids re-keyed after an upgrade."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.pipeline import open_store, sync
from tests.conftest import REPO, config_from, make_article, write_config, write_markdown

CRASH = REPO / "tests" / "data" / "crash"
UPGRADE = REPO / "tests" / "data" / "upgrade"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def synced(project: Path):
    config = config_from(project)
    with open_store(config) as store:
        return sync(config, store), {a.title for a in store.find_articles()}


def bad_file(project: Path, name: str = "json_nested_deeply.json") -> Path:
    target = project.parent / "articles" / name
    shutil.copyfile(CRASH / name, target)
    return target


def rejected_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("rejected:")]


# -- a problem is said once ------------------------------------------------------

def test_a_rejected_file_is_reported_once_and_again_only_when_it_changes(project: Path):
    write_markdown(project.parent / "articles", "good.md", "Good")
    bad = bad_file(project)
    first, titles = synced(project)
    assert [r.origin for r in first.rejected] == [str(bad)] and titles == {"Good"}
    second, _ = synced(project)
    assert second.rejected == [] and second.known_problems == 1
    os.utime(bad, ns=(1, 1))  # touched, same bytes: still nothing new to say
    assert synced(project)[0].rejected == []
    bad.write_bytes(bad.read_bytes() + b"\n")  # changed (and still broken): said again
    assert len(synced(project)[0].rejected) == 1
    bad.write_text('[{"title": "Fixed", "published": "2024-10-11"}]')
    fixed, titles = synced(project)
    assert fixed.rejected == [] and fixed.known_problems == 0 and titles == {"Good", "Fixed"}


def test_sync_exits_1_when_it_finds_a_problem_and_0_while_the_file_is_unchanged(project: Path):
    bad_file(project)
    first = run("--config", project, "sync")
    assert first.exit_code == 1 and len(rejected_lines(first)) == 1
    again = run("--config", project, "sync")
    assert again.exit_code == 0 and rejected_lines(again) == []
    assert "1 known problem not repeated: see `newsletter sources`" in again.stdout


@pytest.mark.parametrize("command", [
    ["articles"], ["topics"], ["build", "--date", "2024-10-11"], ["sources"],
    ["send", "--subscribers", "--dry-run", "--date", "2024-10-11"],
])
def test_every_syncing_command_goes_on_past_a_bad_file_and_says_so_once(project: Path, command):
    write_markdown(project.parent / "articles", "good.md", "Good", date="2024-10-11 06:00")
    bad = bad_file(project)
    result = run("--config", project, *command)
    assert result.exit_code == 0, result.output
    assert rejected_lines(result) == [f"rejected: {bad}: is nested too deeply to read; flatten it"]
    assert "Traceback" not in result.output
    again = run("--config", project, *command)
    assert again.exit_code == 0 and rejected_lines(again) == []


def test_a_scheduled_run_and_the_preview_go_on_past_a_bad_file(project: Path, caplog):
    from newsletter.pipeline.preview import PreviewSession
    from newsletter.pipeline.run import run_digest

    write_markdown(project.parent / "articles", "good.md", "Good", date="2024-10-11 06:00")
    bad = bad_file(project)
    caplog.set_level(logging.WARNING, logger="newsletter")
    outcome = run_digest(str(project), "daily", datetime(2024, 10, 11, 7, 0, tzinfo=timezone.utc))
    assert (outcome.status, outcome.articles) == ("built", 1)
    assert [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()] == [
        f"sync: rejected {bad}: is nested too deeply to read; flatten it"]
    bad.write_bytes(b"{" * 50_000)  # changed: the preview's sync says it (once)
    session = PreviewSession(project)
    try:
        session.reload()
        assert [r.origin for r in session.report.rejected] == [str(bad)]
        session.reload()
        assert session.report.rejected == []
    finally:
        session.close()


def test_import_of_only_bad_inputs_exits_1(project: Path):
    result = run("--config", project, "import", CRASH / "json_nested_deeply.json")
    assert result.exit_code == 1 and len(rejected_lines(result)) == 1
    assert "0 new, 0 updated, 0 unchanged, 1 rejected" in result.stdout


def test_two_processes_syncing_at_once_store_each_article_once(project: Path):
    folder = project.parent / "articles"
    for n in range(300):
        write_markdown(folder / f"d{n % 7}", f"a{n:03}.md", f"Article {n}")
    bad_file(project)
    code = ("import sys; from newsletter.config import load_config; from newsletter.pipeline import sync_store; "
            "r = sync_store(load_config(sys.argv[1])); print(r.new, len(r.rejected))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(project)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum(int(out.split()[0]) for out, _ in outs) == 300
    again, titles = synced(project)
    assert len(titles) == 300 and again.new == again.updated == 0 and again.rejected == []


# -- folders ------------------------------------------------------------------------

def test_links_out_of_the_folder_and_loops_are_not_followed_and_said_once(project: Path, tmp_path: Path):
    articles = project.parent / "articles"
    outside = tmp_path / "outside"
    write_markdown(outside, "secret.md", "Outside")
    write_markdown(articles / "real", "inside.md", "Inside")
    (articles / "away").symlink_to(outside)
    (articles / "real" / "loop").symlink_to(articles)
    (articles / "again.md").symlink_to(articles / "real" / "inside.md")
    first, titles = synced(project)
    assert titles == {"Inside"} and first.new == 1  # the link to a file inside is read once, not twice
    assert first.notes == [f"{articles / 'away'}: is a link to {outside}, outside the source folder: not followed",
                           f"{articles / 'real' / 'loop'}: is a symlink loop: not followed"]
    assert synced(project)[0].notes == []


def test_a_file_name_that_is_not_utf8_is_skipped_with_a_note(project: Path):
    articles = project.parent / "articles"
    write_markdown(articles, "good.md", "Good")
    (Path(os.fsdecode(bytes(articles))) / os.fsdecode(b"bad\xffname.md")).write_text("---\ntitle: Bad\n---\n")
    report, titles = synced(project)
    assert titles == {"Good"}
    assert report.notes == [f"{articles}/bad\ufffdname.md: has a name that is not UTF-8: rename it"]
    assert synced(project)[0].notes == []


def test_hidden_backup_and_scratch_files_are_skipped(project: Path):
    articles = project.parent / "articles"
    for name in ("kept.md", ".hidden.md", "kept.md~", "#kept.md#", "draft.md.swp", "old.md.bak"):
        write_markdown(articles, name, name)
    assert synced(project)[1] == {"kept.md"}


def test_a_file_over_max_file_size_is_rejected_once(tmp_path: Path):
    project = write_config(tmp_path / "p", 'max_file_size = "1KB"\n')
    big = write_markdown(project.parent / "articles", "big.md", "Big", text="x" * 2000)
    first, titles = synced(project)
    assert [(r.origin, r.reason) for r in first.rejected] == [(str(big), "is 2 KB, over max_file_size (1 KB)")]
    assert titles == set() and synced(project)[0].rejected == []


def test_a_folder_inside_another_configured_folder_is_read_once_with_one_id(tmp_path: Path):
    project = write_config(tmp_path / "p", '\n[[sources]]\npath = "articles/inner"\n')
    write_markdown(project.parent / "articles" / "inner", "a.md", "Inner")
    report, _ = synced(project)
    config = config_from(project)
    with open_store(config) as store:
        assert [a.id for a in store.find_articles()] == ["file:inner/a.md"]
    assert report.rejected == [] and report.new == 1
    assert synced(project)[0].inputs_unchanged == 1


def test_markdown_files_of_one_name_in_two_folders_are_two_articles(project: Path):
    articles = project.parent / "articles"
    write_markdown(articles / "2024", "note.md", "Note of 2024")
    write_markdown(articles / "2025", "note.md", "Note of 2025")
    assert synced(project)[1] == {"Note of 2024", "Note of 2025"}


# -- newsletter sources -----------------------------------------------------------------

def test_sources_lists_each_source_with_its_state(project: Path):
    write_markdown(project.parent / "articles", "good.md", "Good")
    bad = bad_file(project)
    result = run("--config", project, "sources", "--json")
    assert result.exit_code == 0
    (row,) = json.loads(result.stdout)
    assert row["source"] == str(project.parent / "articles") and row["kind"] == "folder"
    assert row["articles"] == 1 and row["last_error"] == "1 of 2 files rejected" and row["next_fetch"] is None
    assert row["problems"] == [{"input": str(bad), "error": "is nested too deeply to read; flatten it"}]
    assert set(row) == {"source", "kind", "format", "every", "last_checked", "last_read", "articles", "http_status",
                        "etag", "last_modified", "last_error", "moved_to", "gone", "next_fetch", "problems"}
    table = run("--config", project, "sources", "--no-sync")
    # rich wraps the cells to the width of the (absent) terminal: look for words, not phrases.
    assert table.exit_code == 0 and "rejected" in table.stdout and "every" in table.stdout


# -- ids after an upgrade ---------------------------------------------------------------------

def _v1_project(tmp_path: Path, pg_url: str | None = None) -> Path:
    root = tmp_path / "upgraded"
    shutil.copytree(REPO / "articles", root / "articles")
    for path in (root / "articles").glob("*.md"):  # as release 1 shipped them: dated without a time
        path.write_text(re.sub(r"^date: (\d{4}-\d{2}-\d{2}) \d\d:\d\d$", r"date: \1", path.read_text(), flags=re.M))
    config = root / "newsletter.toml"
    config.write_text((UPGRADE / "v1.toml").read_text())
    if pg_url is None:
        shutil.copyfile(UPGRADE / "v1.db", root / "newsletter.db")
    return config


def _upgrade_keeps_one_copy(config: Path) -> None:
    loaded = config_from(config)
    with open_store(loaded) as store:
        report = sync(loaded, store)
        ids = sorted(a.id for a in store.find_articles())
        assert (report.new, report.unchanged, report.rejected) == (0, 2, [])
        assert ids == ["file:iran-gives-in-to-spy-mania.md", "file:long-history-of-cooperation-between-iran-and-russia.md"]
        # The issues sent before the upgrade still hold their articles, under the new ids.
        assert [a.id for a in store.get_issue("daily", "2024-10-11").articles] == ids
    # So the next weekly issue does not carry them again.
    result = run("--config", config, "build", "weekly", "--date", "2024-10-14", "--no-sync")
    assert result.exit_code == 0 and "nothing written" in result.stdout


@pytest.mark.sqlite_only
def test_an_upgraded_sqlite_store_re_keys_markdown_ids_instead_of_copying(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_DATABASE", raising=False)
    _upgrade_keeps_one_copy(_v1_project(tmp_path))


def test_an_upgraded_postgresql_store_re_keys_markdown_ids_instead_of_copying(tmp_path: Path, pg_url, monkeypatch):
    import psycopg

    with psycopg.connect(sa.engine.make_url(pg_url).set(drivername="postgresql").render_as_string(False),
                         autocommit=True) as conn:
        conn.execute((UPGRADE / "v1-postgresql.sql").read_text(encoding="utf-8"))
    monkeypatch.setenv("NEWSLETTER_DATABASE", pg_url)
    _upgrade_keeps_one_copy(_v1_project(tmp_path, pg_url))


def test_an_old_id_two_files_claim_is_left_alone_and_said(project: Path):
    config = config_from(project)
    with open_store(config) as store:
        store.upsert([make_article(1, id="file:note", title="The old note")])
    articles = project.parent / "articles"
    write_markdown(articles / "2024", "note.md", "Note of 2024")
    write_markdown(articles / "2025", "note.md", "Note of 2025")
    report, titles = synced(project)
    assert titles == {"The old note", "Note of 2024", "Note of 2025"}
    assert any("file:note" in note and "left as it was" in note for note in report.notes)
