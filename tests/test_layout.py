"""The dependency rules of DESIGN.md section 1, checked on the source: stages never import each other,
only `pipeline` wires them, callers go through `pipeline`, and a stage is entered through its
`__init__.py`."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "newsletter"
# Small modules every part may use; they import nothing of ours but each other.
LEAVES = {"model", "errors", "config", "cadence", "tokens", "resources", "masking", "csvcells", "walk", "scaffold",
          "__init__"}
STAGES = {"sources", "store", "select", "compose", "check", "deliver"}
PIPELINE = {"pipeline"}
CALLERS = {"cli", "schedule", "preview", "serve", "__main__"}


def unit_of(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def imports(path: Path) -> list[tuple[str, int]]:
    """The newsletter modules a file imports (dotted names below `newsletter`), with line numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "newsletter":
                found += [(alias.name, node.lineno) for alias in node.names]
            elif node.module.startswith("newsletter."):
                found.append((node.module.removeprefix("newsletter."), node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name.removeprefix("newsletter."), node.lineno) for a in node.names
                      if a.name.startswith("newsletter.")]
    return found


ALLOWED = {
    "leaf": LEAVES,
    "stage": LEAVES,
    "pipeline": LEAVES | STAGES | PIPELINE,
    "caller": LEAVES | PIPELINE | CALLERS,
}


def kind(unit: str) -> str:
    if unit in LEAVES:
        return "leaf"
    if unit in STAGES:
        return "stage"
    if unit in PIPELINE:
        return "pipeline"
    assert unit in CALLERS, f"newsletter/{unit} is in no layer of DESIGN.md: add it to tests/test_layout.py"
    return "caller"


def test_every_import_follows_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = unit_of(path)
        for name, line in imports(path):
            target = name.split(".")[0]
            if target in ("__version__",):
                continue
            if target != unit and target not in ALLOWED[kind(unit)]:
                wrong.append(f"{path.relative_to(REPO)}:{line}: a {kind(unit)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_stages_are_entered_through_their_init():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = unit_of(path)
        for name, line in imports(path):
            parts = name.split(".")
            if parts[0] in STAGES and parts[0] != unit and len(parts) > 1:
                wrong.append(f"{path.relative_to(REPO)}:{line}: imports {name}; import from newsletter.{parts[0]}")
    assert not wrong, "\n".join(wrong)


def test_each_stage_says_what_it_offers():
    for stage in sorted(STAGES):
        init = PACKAGE / stage / "__init__.py"
        target = init if init.exists() else PACKAGE / f"{stage}.py"
        tree = ast.parse(target.read_text(encoding="utf-8"))
        names = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                 if isinstance(t, ast.Name)]
        assert "__all__" in names, f"{target.relative_to(REPO)} has no __all__"
