"""The editor's draft file: written from the picks, edited, and used by build, the text part and scheduled runs."""

from __future__ import annotations

import email
import json
from datetime import datetime, timezone
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.errors import DraftError
from newsletter.pipeline import open_store
from newsletter.pipeline.run import run_digest
from newsletter.select import parse_draft
from newsletter.sources import ReadContext
from newsletter.sources.digest import read_digest

from tests.conftest import write_config, write_markdown

DAY = "2024-10-11"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def project(tmp_path: Path) -> Path:
    """Four articles before Friday's 07:00 cut-off, three to an issue: a4, a3, a2 picked, a1 held over."""
    config = write_config(tmp_path / "project", digests='\n[digests.daily]\ncadence = "0 7 * * mon-fri"\n'
                                                         'max_articles = 3\n')
    for n in range(1, 5):
        write_markdown(config.parent / "articles", f"a{n}.md", f"Article {n}", date=f"{DAY} 0{n}:00",
                       extra=f"url: https://example.org/a{n}\n")
    return config


def draft_file(config: Path, key: str = DAY) -> Path:
    return config.parent / "drafts" / "daily" / f"{key}.md"


def edit(path: Path, *, subject: str = "", preheader: str = "", intro: str = "", lines: list[str]) -> None:
    """Rewrite a draft file as an editor would: front matter, intro, and the article lines given."""
    text = path.read_text()
    head, marker, _ = text.partition("<!-- articles")
    head = head.replace('subject: ""', f'subject: {json.dumps(subject)}').replace(
        'preheader: ""', f'preheader: {json.dumps(preheader)}')
    path.write_text(f"{head}{intro}\n\n{marker}: edited -->\n" + "\n".join(lines) + "\n")


def test_draft_lists_the_picks_in_order_and_the_held_over_in_a_comment(tmp_path: Path):
    config = project(tmp_path)
    result = run("--config", config, "draft", "--date", DAY)
    assert result.exit_code == 0, result.output
    assert "3 articles; 1 held over" in result.stdout
    text = draft_file(config).read_text()
    listed = [line for line in text.splitlines() if line.startswith("- ")]
    assert listed == ["- https://example.org/a4  Article 4", "- https://example.org/a3  Article 3",
                      "- https://example.org/a2  Article 2", "- https://example.org/a1  Article 1"]
    parsed = parse_draft(text, "d.md")
    assert [line.refs[0] for line in parsed.lines] == ["https://example.org/a4", "https://example.org/a3",
                                                       "https://example.org/a2"]  # a1 is in the comment
    # Never overwritten: the editor's work is safe from a second `draft`.
    draft_file(config).write_text(text + "\nmine\n")
    again = run("--config", config, "draft", "--date", DAY)
    assert "exists: edit it" in again.stdout and draft_file(config).read_text().endswith("mine\n")


def test_the_draft_round_trip_through_build_and_the_text_part(tmp_path: Path):
    config = project(tmp_path)
    assert run("--config", config, "draft", "--date", DAY).exit_code == 0
    # Reorder (a2 first), drop a3, add the held-over a1 by a URL with tracking, write an intro and a subject.
    edit(draft_file(config), subject="Four minus one", preheader="The editor's line for the inbox",
         intro="A note from the desk.\n\nTwo *paragraphs* of it.<script>alert(1)</script>",
         lines=["- https://example.org/a2  Article 2", "- https://example.org/a4  Article 4",
                "- https://EXAMPLE.org/a1?utm_source=newsletter"])
    result = run("--config", config, "build", "--date", DAY, "--json")
    assert result.exit_code == 0, result.output
    built = json.loads(result.stdout)
    assert built["articles"] == ["https://example.org/a2", "https://example.org/a4", "https://example.org/a1"]
    assert built["subject"] == "Four minus one" and built["held_over"] == 0
    folder = config.parent / "outbox" / "daily" / DAY
    message = email.message_from_bytes((folder / "message.eml").read_bytes(), policy=policy.default)
    assert message["Subject"] == "Four minus one"
    html = (folder / "index.html").read_text()
    assert "A note from the desk." in html and "Two <em>paragraphs</em> of it." in html
    assert "<script" not in html.lower() and "alert(1)" not in html  # the intro is sanitized like a lede
    assert "The editor&#39;s line for the inbox" in html or "The editor's line for the inbox" in html
    assert html.index("A note from the desk.") < html.index("Article 2") < html.index("Article 4")
    text = (folder / "message.txt").read_text()
    assert text.index("A note from the desk.") < text.index("Article 2")
    # The text part still imports as exactly the issue's articles, in its order: the intro is not one.
    back = read_digest(text.encode(), ReadContext("message.txt", ZoneInfo("UTC"),
                                                  datetime(2030, 1, 1, tzinfo=timezone.utc), "test"))
    assert back.rejected == [] and [a.title for a in back.articles] == ["Article 2", "Article 4", "Article 1"]
    # The line deleted from the draft is recorded: the next issue does not offer it again.
    with open_store(load_config(config)) as store:
        issue = store.get_issue("daily", DAY)
        assert store.left_out(issue.id) == ["https://example.org/a3"]
        assert issue.intro.startswith("<p>A note from the desk.</p>")
    monday = run("--config", config, "build", "--date", "2024-10-14", "--json")
    assert json.loads(monday.stdout)["skipped"] is True


def test_a_line_that_names_no_stored_article_is_one_line_with_its_number(tmp_path: Path):
    config = project(tmp_path)
    assert run("--config", config, "draft", "--date", DAY).exit_code == 0
    edit(draft_file(config), lines=["- https://example.org/a4  Article 4", "- https://example.org/nope  Gone"])
    result = run("--config", config, "build", "--date", DAY)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert f"{draft_file(config)}:14: 'https://example.org/nope' names no stored article" in result.stderr
    assert not (config.parent / "outbox" / "daily" / DAY).exists()


@pytest.mark.parametrize("lines, message", [
    (["- https://example.org/a4", "- https://example.org/a4  again"], ":14: names the same article as line 13"),
    (["- https://example.org/a4", "Article 3 please"], ":14: 'Article 3 please' is not an article line"),
    (["- https://example.org/secret"], ":13: 'Not Yet' is marked draft: true"),
])
def test_lines_that_cannot_be_used_name_their_line(tmp_path: Path, lines, message):
    config = project(tmp_path)
    write_markdown(config.parent / "articles", "secret.md", "Not Yet", extra="url: https://example.org/secret\n"
                                                                            "draft: true\n")
    assert run("--config", config, "draft", "--date", DAY).exit_code == 0
    edit(draft_file(config), lines=lines)
    result = run("--config", config, "build", "--date", DAY)
    assert result.exit_code == 1 and message in result.stderr, result.stderr


def test_parse_draft_ignores_comments_and_refuses_what_would_break_the_text_part():
    text = ("---\nsubject: Hello\n---\nIntro.\n\n<!-- articles -->\n- file:my article  Title with  gaps\n"
            "<!-- held over:\n- skipped  Not this\n-->\n* https://example.org/x\n")
    parsed = parse_draft(text, "d.md")
    assert parsed.subject == "Hello" and parsed.preheader is None and parsed.intro == "Intro."
    assert [line.refs for line in parsed.lines] == [("file:my article", "file:my"), ("https://example.org/x",)]
    assert [line.line for line in parsed.lines] == [7, 11]
    with pytest.raises(DraftError, match=r"d.md:4: an intro paragraph may not begin with 'Read more'"):
        parse_draft("---\nsubject: x\n---\nMore about: this week\n\n<!-- articles -->\n", "d.md")
    with pytest.raises(DraftError, match=r"d.md:2: has an unknown key 'subjet'.*did you mean 'subject'"):
        parse_draft("---\nsubjet: x\n---\n<!-- articles -->\n", "d.md")
    with pytest.raises(DraftError, match="has no line starting '<!-- articles'"):
        parse_draft("- https://example.org/x\n", "d.md")
    with pytest.raises(DraftError, match=r"d.md:1: has an HTML comment '<!--' that is never closed"):
        parse_draft("<!-- articles: one per line\n- https://example.org/x\n", "d.md")


def test_a_scheduled_run_uses_the_draft(tmp_path: Path):
    config = project(tmp_path)
    assert run("--config", config, "draft", "--date", DAY).exit_code == 0
    edit(draft_file(config), intro="Friday's note.", lines=["- https://example.org/a1", "- https://example.org/a4"])
    outcome = run_digest(str(config), "daily", datetime(2024, 10, 11, 7, tzinfo=timezone.utc))
    assert (outcome.status, outcome.articles) == ("built", 2)
    with open_store(load_config(config)) as store:
        assert [a.title for a in store.get_issue("daily", DAY).articles] == ["Article 1", "Article 4"]
    assert "Friday's note." in (config.parent / "outbox" / "daily" / DAY / "message.txt").read_text()


def test_the_readme_draft_example_is_a_draft_file():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("### The editor's draft of an issue"):]
    example = section[section.index("```markdown\n") + 12:section.index("\n```", section.index("```markdown"))]
    parsed = parse_draft(example + "\n", "README.md")
    assert parsed.subject == "Spies, allies and a long memory" and parsed.preheader is None
    assert parsed.intro == "Two pieces on **Iran** this Friday."
    assert [line.refs[0] for line in parsed.lines] == ["https://example.org/long-history",
                                                       "https://example.org/spy-mania"]


def test_two_drafts_written_at_once_make_one_whole_file(tmp_path: Path):
    import subprocess
    import sys

    config = project(tmp_path)
    assert run("--config", config, "sync").exit_code == 0
    command = [str(Path(sys.executable).with_name("newsletter")), "--config", str(config), "draft", "--date", DAY,
               "--no-sync"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert sum("wrote " in out for out, _ in outs) == 1 and sum("exists" in out for out, _ in outs) == 2
    assert len(parse_draft(draft_file(config).read_text(), "d.md").lines) == 3
    assert [p.name for p in draft_file(config).parent.iterdir()] == [f"{DAY}.md"]  # no temporary left behind


def test_a_draft_emptied_after_a_build_builds_nothing(tmp_path: Path):
    config = project(tmp_path)
    assert run("--config", config, "build", "--date", DAY).exit_code == 0
    assert run("--config", config, "draft", "--date", DAY).exit_code == 0
    edit(draft_file(config), lines=[])
    result = json.loads(run("--config", config, "build", "--date", DAY, "--json").stdout)
    assert result["skipped"] is True and result["reason"].startswith("no articles in the draft")
