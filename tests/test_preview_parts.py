"""The preview's parts on their own: the file watcher, issue keys, watched paths, template reset."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from newsletter import compose
from newsletter.config import load_config
from newsletter.compose import forget_templates
from newsletter.pipeline.preview import today_path, watched_paths
from newsletter.select import slot_for_key
from newsletter.preview.server import is_loopback
from newsletter.preview.watch import Watcher, snapshot
from newsletter.resources import data_path


def bump(path: Path, text: str) -> None:
    """Write a file and move its mtime on, so the test never depends on the clock's resolution."""
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(old + 10**9, old + 10**9))


def test_the_watcher_counts_saves_additions_and_removals(tmp_path: Path):
    folder = tmp_path / "articles"
    folder.mkdir()
    bump(folder / "a.md", "one")
    watcher = Watcher(lambda: [folder], interval=60)
    assert watcher.check() is False and watcher.version == 0
    bump(folder / "a.md", "two")
    assert watcher.check() is True and watcher.version == 1
    bump(folder / "b.md", "new")
    assert watcher.check() is True and watcher.version == 2
    (folder / "b.md").unlink()
    assert watcher.check() is True and watcher.version == 3
    assert watcher.check() is False and watcher.version == 3


def test_the_watcher_skips_editor_scratch_files(tmp_path: Path):
    (tmp_path / ".a.md.swp").write_text("x")
    (tmp_path / "a.md~").write_text("x")
    (tmp_path / "#a.md#").write_text("x")
    (tmp_path / "a.md").write_text("x")
    assert list(snapshot([tmp_path])) == [str(tmp_path / "a.md")]


def test_a_missing_root_appearing_is_a_change(tmp_path: Path):
    theme = tmp_path / "theme"
    watcher = Watcher(lambda: [theme], interval=60)
    theme.mkdir()
    (theme / "style.css").write_text("a {}")
    assert watcher.check() is True


def test_watched_paths_are_the_config_sources_and_both_themes(project: Path):
    (project.parent / "theme").mkdir()
    project.write_text(project.read_text().replace('timezone = "UTC"\n', 'timezone = "UTC"\ntemplates = "theme"\n'))
    config = load_config(project)
    assert watched_paths(config) == [project.resolve(), (project.parent / "articles").resolve(),
                                     (project.parent / "drafts").resolve(), (project.parent / "theme").resolve(),
                                     data_path("templates")]


def test_issue_keys(project: Path):
    digest = load_config(project).digest(None)
    slot = slot_for_key(digest, "2024-10-11")
    assert slot.key == "2024-10-11" and slot.issue_date == date(2024, 10, 11)
    assert slot.end == datetime(2024, 10, 11, 7, tzinfo=timezone.utc)  # the cadence's 07:00 that day
    saturday = slot_for_key(digest, "2024-10-12")  # a mon-fri cadence does not run: the end of the day
    assert saturday.end == datetime(2024, 10, 13, tzinfo=timezone.utc) - timedelta(microseconds=1)
    assert "does not run on Saturday 2024-10-12" in saturday.note
    timed = slot_for_key(digest, "2024-10-11T070000")
    assert timed.key == "2024-10-11T070000" and timed.end == datetime(2024, 10, 11, 7, tzinfo=timezone.utc)
    assert slot_for_key(digest, "2024-02-30") is None and slot_for_key(digest, "yesterday") is None
    assert today_path(load_config(project), None, date(2024, 10, 11)) == "/daily/2024-10-11/"


def test_forget_templates_empties_the_compiled_template_cache(project: Path):
    config = load_config(project)
    env = compose.load_theme(config)
    env.get_template("email.html.j2")
    assert len(env.cache) > 0
    forget_templates(config)
    assert len(env.cache) == 0 and len(compose.plain_environment(config).cache) == 0


def test_loopback_addresses():
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.10", "::", "example.org"))

