"""The shipped caniemail data and the script that makes it from a caniemail checkout."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from newsletter.check.caniemail import DATA

REPO = Path(__file__).resolve().parent.parent
SHARED = Path("/work/shared/data/caniemail")  # the copy this project's machines keep; see scripts/caniemail_data.py


def script():
    spec = importlib.util.spec_from_file_location("caniemail_data", REPO / "scripts" / "caniemail_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FEATURE = """---
title: "display:flex"
category: css
stats: {
\tgmail: {
\t\tandroid: {
\t\t\t"2019-02": "y",
\t\t\t"2020-11": "a #1"
\t\t}
\t},
\toutlook: {
\t\twindows: {
\t\t\t"2019": "n"
\t\t},
\t\toutlook-com: {
\t\t\t"2019-02": "y"
\t\t}
\t}
}
notes_by_num: {
\t"1": "Not supported with non Google accounts. See [this](https://example.org)."
}
---
"""


def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "caniemail"
    (root / "_features").mkdir(parents=True)
    (root / "_features" / "css-display-flex.md").write_text(FEATURE, encoding="utf-8")
    (root / "_features" / "css-color.md").write_text(FEATURE.replace('"a #1"', '"y"').replace('"n"', '"y"'))
    (root / "_features" / "_template.md").write_text("---\ntitle: x\n---\n")
    (root / "LICENSE").write_text("MIT License\n\nCopyright (c) 2019 Rémi Parmentier\n", encoding="utf-8")
    return root


def test_the_script_keeps_what_a_target_client_lacks_with_the_latest_status_and_notes(tmp_path):
    out = tmp_path / "out" / "caniemail.json"
    assert script().main([str(checkout(tmp_path)), "-o", str(out), "--commit", "c0ffee"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["source"]["commit"] == "c0ffee"
    assert [f["id"] for f in data["features"]] == ["css-display-flex"]  # fully supported features are left out
    flex = data["features"][0]
    assert flex["match"] == {"property": ["display"], "value": r"^(inline[- ])?flex\b"}
    assert flex["support"] == {"gmail-android": ["a", [0]], "outlook-windows": ["n", []]}
    # Markdown links become their text; the wording gives the condition the note applies under.
    assert flex["notes"] == [{"text": "Not supported with non Google accounts. See this.", "when": {"inline": True}}]
    notice = out.with_name("caniemail-LICENSE.txt").read_text(encoding="utf-8")
    assert "commit c0ffee" in notice and "Rémi Parmentier" in notice


def test_a_folder_that_is_not_a_checkout_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        script().main([str(tmp_path)])
    assert "no _features folder" in capsys.readouterr().err


@pytest.mark.parametrize("note,when", [
    ("Partial. Not supported on `<span>` and `<body>` elements.", {"element": ["span", "body"]}),
    ("Partial. Only supported on table cells.", {"element_except": ["td", "th"]}),
    ("Partial. Only works on `<table>` elements.", {"element_except": ["table"]}),
    ("Partial. `auto` value is not supported.", {"values": ["auto"]}),
    ("Partial. Supports `relative` but not `absolute`, `sticky` and `fixed`.", {"values": ["absolute", "sticky", "fixed"]}),
    ("Buggy. `em` and `px` units behave weirdly. Use `mso-line-height-rule:exactly`.",
     {"unless_declared": "mso-line-height-rule"}),
    ("Partial. Negative values are not supported.", {"negative": True}),
    ("Partial. A border can not be bigger than 8px.", {"px_over": 8}),
    ("Partial. Only supported with non Google accounts.", {}),
    ("Buggy. Sizes set in attributes don't scale in 120 dpi mode.", None),
])
def test_note_wording_becomes_a_condition(note, when):
    assert script().note_condition(note) == when


def test_the_shipped_data_is_what_the_script_makes_of_its_source(tmp_path):
    if not (SHARED / "_features").is_dir():
        pytest.skip(f"no caniemail checkout at {SHARED} to regenerate from")
    out = tmp_path / "caniemail.json"
    script().main([str(SHARED), "-o", str(out)])
    assert out.read_text(encoding="utf-8") == DATA.read_text(encoding="utf-8")
    assert (DATA.parent / "caniemail-LICENSE.txt").read_text() == out.with_name("caniemail-LICENSE.txt").read_text()


def test_the_shipped_data_names_the_clients_the_checks_target():
    data = json.loads(DATA.read_text(encoding="utf-8"))
    assert list(data["clients"].values()) == ["Gmail (web)", "Gmail (Android)", "Gmail (iOS)", "Outlook (Windows)",
                                              "Outlook.com", "Apple Mail (macOS)", "Apple Mail (iOS)",
                                              "Yahoo Mail (web)"]
    assert len(data["features"]) > 150 and "MIT" in data["source"]["licence"]
