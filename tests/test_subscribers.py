"""Subscribers: export reads back, per-digest unsubscribes, explicit edits, topics, CSV rows and formulas."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_config
from newsletter.csvcells import neutralize, restore
from newsletter.pipeline import open_store
from newsletter.pipeline.send import secret_key
from newsletter.tokens import make_token

from tests.conftest import write_config, write_markdown

runner = CliRunner()
TWO_DIGESTS = """
[digests.daily]
cadence = "0 7 * * mon-fri"

[digests.weekly]
cadence = "0 8 * * mon"
"""


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def listed(config: Path) -> list[dict]:
    return json.loads(ok("--config", config, "subscribers", "list", "--json").stdout)


@pytest.fixture
def fresh_database(request, monkeypatch):
    """Point later configs at a database of their own (NEWSLETTER_DATABASE is shared by a test on PostgreSQL)."""
    def switch(root: Path) -> None:
        if os.environ.get("NEWSLETTER_DATABASE"):
            server = request.getfixturevalue("postgres")
            url = server.create()
            request.addfinalizer(lambda: server.drop(url))
            monkeypatch.setenv("NEWSLETTER_DATABASE", url)
    return switch


def test_export_then_import_on_a_fresh_database_gives_the_same_subscribers(tmp_path: Path, fresh_database):
    config = write_config(tmp_path / "old", digests=TWO_DIGESTS)
    ok("--config", config, "subscribers", "add", "ada@example.org", "--name", "Ada Lovelace", "-d", "daily",
       "-d", "weekly", "--topic", "Iran", "--topic", "Gaza War 2023")
    ok("--config", config, "subscribers", "add", "formula@example.org", "--name", '=HYPERLINK("http://x","y")',
       "-d", "daily")
    ok("--config", config, "subscribers", "add", "--name", "+plus", "-d", "weekly", "--", "-dash@example.org")
    ok("--config", config, "subscribers", "add", "quit@example.org", "-d", "daily")
    ok("--config", config, "subscribers", "unsubscribe", "quit@example.org")
    ok("--config", config, "subscribers", "add", "half@example.org", "-d", "daily", "-d", "weekly")
    ok("--config", config, "subscribers", "unsubscribe", "half@example.org", "--digest", "weekly")
    before = listed(config)
    export = ok("--config", config, "subscribers", "export").stdout
    # Spreadsheets would run these as formulas: each is written with a ' in front.
    assert '"\'=HYPERLINK(""http://x"",""y"")"' in export and "'-dash@example.org,'+plus," in export
    assert export.splitlines()[0] == "email,name,digests,topics,status,unsubscribed"
    assert export == ok("--config", config, "subscribers", "list", "--csv").stdout
    (tmp_path / "readers.csv").write_text(export)

    fresh_database(tmp_path / "new")
    fresh = write_config(tmp_path / "new", digests=TWO_DIGESTS)
    result = ok("--config", fresh, "subscribers", "import", tmp_path / "readers.csv")
    assert "5 added, 0 updated, 0 rejected" in result.stdout
    assert listed(fresh) == before
    assert {r["email"]: (r["status"], r["digests"], r["unsubscribed"]) for r in before}["half@example.org"] == \
        ("active", ["daily"], ["weekly"])
    # Importing it again changes nothing, and an address that left stays out.
    again = ok("--config", fresh, "subscribers", "import", tmp_path / "readers.csv")
    assert "0 added, 5 updated" in again.stdout and listed(fresh) == before


def test_an_unsubscribed_address_stays_unsubscribed_on_import_unless_resubscribe(tmp_path: Path):
    config = write_config(tmp_path / "p")
    ok("--config", config, "subscribers", "add", "quit@example.org")
    ok("--config", config, "subscribers", "unsubscribe", "quit@example.org")
    csv_file = tmp_path / "plain.csv"
    csv_file.write_text("email,name\nquit@example.org,Quitter\n")  # no status column: as people's own files are
    refused = run("--config", config, "subscribers", "import", csv_file)
    assert refused.exit_code == 1 and "line 2: quit@example.org unsubscribed earlier" in refused.stderr
    assert listed(config)[0]["status"] == "unsubscribed"
    ok("--config", config, "subscribers", "import", csv_file, "--resubscribe")
    assert [(r["status"], r["digests"]) for r in listed(config)] == [("active", ["daily"])]


def test_rows_that_name_no_digest(tmp_path: Path):
    two = write_config(tmp_path / "two", digests=TWO_DIGESTS)
    rows = tmp_path / "rows.csv"
    rows.write_text("email,digests,status\nnone@example.org,,\nleft@example.org,,unsubscribed\n"
                    "both@example.org,daily;weekly,\n")
    result = run("--config", two, "subscribers", "import", rows)
    assert result.exit_code == 1 and "2 added, 0 updated, 1 rejected" in result.stdout
    assert "rows.csv: line 2: names no digest, so it would subscribe none@example.org to nothing" in result.stderr
    assert "configured: daily, weekly" in result.stderr
    assert [(r["email"], r["status"]) for r in listed(two)] == [("both@example.org", "active"),
                                                             ("left@example.org", "unsubscribed")]
    # With one digest, a row that names none is for that digest.
    one = write_config(tmp_path / "one")
    rows.write_text("email\nsolo@example.org\n")
    ok("--config", one, "subscribers", "import", rows)
    assert [r["digests"] for r in listed(one) if r["email"] == "solo@example.org"] == [["daily"]]


def test_a_token_unsubscribes_from_its_own_digest_only(tmp_path: Path, smtp_server):
    config = write_config(tmp_path / "p", f'unsubscribe_url = "https://example.org/u/{{token}}"\n\n[smtp]\n'
                                          f'host = "{smtp_server.host}"\nport = {smtp_server.port}\nsecurity = "none"\n',
                          digests=TWO_DIGESTS)
    write_markdown(config.parent / "articles", "a.md", "Monday News", date="2024-10-14 06:00")
    for address in ("ada@example.org", "bob@example.org"):
        ok("--config", config, "subscribers", "add", address, "-d", "daily", "-d", "weekly")
    with open_store(load_config(config)) as store:
        key = secret_key(store)
        ada = store.subscribers.get("ada@example.org").id
        salt = store.subscribers.salt(ada)
    result = ok("--config", config, "subscribers", "unsubscribe", "--token", make_token(key, ada, "daily", salt))
    assert "unsubscribed ada@example.org from daily" in result.stdout
    assert {r["email"]: (r["digests"], r["unsubscribed"]) for r in listed(config)}["ada@example.org"] == \
        (["weekly"], ["daily"])
    for status, who in (("active", ["bob@example.org"]), ("unsubscribed", ["ada@example.org"])):
        rows = json.loads(ok("--config", config, "subscribers", "list", "--digest", "daily", "--status", status,
                             "--json").stdout)
        assert [r["email"] for r in rows] == who
    for name in ("daily", "weekly"):
        ok("--config", config, "send", name, "--subscribers", "--yes", "--date", "2024-10-14")
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == ["ada@example.org", "bob@example.org",
                                                                   "bob@example.org"]
    # Adding her back to daily needs her consent; the token with --all leaves everything.
    refused = run("--config", config, "subscribers", "add", "ada@example.org", "-d", "daily")
    assert refused.exit_code == 1 and "unsubscribed from 'daily' earlier" in refused.stderr
    everything = ok("--config", config, "subscribers", "unsubscribe", "--token", make_token(key, ada, "weekly", salt),
                    "--all")
    assert "from every digest" in everything.stdout
    assert {r["email"]: r["status"] for r in listed(config)}["ada@example.org"] == "unsubscribed"


def test_edit_sets_and_clears_digests_and_topics(tmp_path: Path):
    config = write_config(tmp_path / "p", digests=TWO_DIGESTS)
    ok("--config", config, "subscribers", "add", "ada@example.org", "-d", "daily", "--topic", "Iran")
    # add widens: a digest and a topic more, nothing taken away
    added = ok("--config", config, "subscribers", "add", "ada@example.org", "-d", "weekly", "--topic", "Russia")
    assert "(daily, weekly; topics: Iran, Russia)" in added.stdout
    ok("--config", config, "subscribers", "edit", "ada@example.org", "-d", "weekly", "--topic", "PLO")
    assert [(r["digests"], r["topics"]) for r in listed(config)] == [(["weekly"], ["PLO"])]
    cleared = ok("--config", config, "subscribers", "edit", "ada@example.org", "--all-topics", "--name", "Ada")
    assert "(weekly; all topics)" in cleared.stdout
    assert [(r["name"], r["topics"]) for r in listed(config)] == [("Ada", [])]
    ok("--config", config, "subscribers", "unsubscribe", "ada@example.org", "--digest", "weekly")
    refused = run("--config", config, "subscribers", "edit", "ada@example.org", "-d", "weekly")
    assert refused.exit_code == 1 and "--resubscribe" in refused.stderr
    ok("--config", config, "subscribers", "edit", "ada@example.org", "-d", "weekly", "--resubscribe")
    assert [(r["digests"], r["unsubscribed"]) for r in listed(config)] == [(["weekly"], [])]
    nothing = run("--config", config, "subscribers", "edit", "ada@example.org")
    assert nothing.exit_code == 2 and "nothing to change" in nothing.stderr
    missing = run("--config", config, "subscribers", "edit", "zed@example.org", "--all-topics")
    assert missing.exit_code == 1 and "zed@example.org is not a subscriber" in missing.stderr


@pytest.mark.parametrize("command, fix", [(["add", "ada@example.org"], "leave --topic out for all topics"),
                                          (["edit", "ada@example.org"], "use --all-topics for all topics")])
def test_an_empty_topic_is_an_error_that_says_what_to_do(tmp_path: Path, command, fix):
    config = write_config(tmp_path / "p")
    ok("--config", config, "subscribers", "add", "ada@example.org")
    result = run("--config", config, "subscribers", *command, "--topic", "")
    assert result.exit_code == 2 and "an empty topic matches nothing" in result.stderr and fix in result.stderr
    assert listed(config)[0]["topics"] == []


@given(st.text())
def test_neutralized_cells_read_back_exactly(cell):
    safe = neutralize(cell)
    assert restore(safe) == cell
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
