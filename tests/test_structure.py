"""The structure facegen/__init__.py draws is what the imports show: facegen's rooms import only the rooms
drawn above them (so no import circle), and none imports helpers.py or the notebook's checks."""
from __future__ import annotations

import ast
from pathlib import Path

FACEGEN = Path(__file__).resolve().parent.parent / "facegen"
# each room -> the rooms it may import (facegen/__init__.py's docstring draws them); checks.* may import checks.common and
# the checks package's own modules
MAY_IMPORT = {
    "settings": set(), "synthetic": set(), "dataset": {"synthetic"}, "checkpoints": set(), "progress": set(), "runs": {"settings", "checkpoints", "progress"},
    "fast_step": {"settings"},
    "pictures": {"runs"}, "fid": {"runs"}, "pretrained": {"checkpoints"}, "notebook_errors": {"checks.common"},
    "install": set(),  # standard library only: it runs before anything is installed
}


def imports(path: Path) -> set[str]:
    """The facegen modules a file imports (facegen/__init__'s shared names do not count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("facegen"):
            if node.module == "facegen":
                found |= {a.name for a in node.names if (FACEGEN / f"{a.name}.py").exists()}
            elif node.module == "facegen.checks":
                found |= {f"checks.{a.name}" for a in node.names}
            else:
                found.add(node.module.removeprefix("facegen."))
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not any(n.split(".")[0] in ("helpers", "problem_unittests") for n in names), \
                f"{path.name} imports {names}: facegen never imports the notebook's modules"
    return found


def test_every_room_imports_only_the_rooms_drawn_above_it():
    rooms = {p.stem for p in FACEGEN.glob("*.py")} - {"__init__"}
    assert rooms == set(MAY_IMPORT), "a room was added or removed: draw it in facegen/__init__.py and here"
    for room, allowed in MAY_IMPORT.items():
        assert imports(FACEGEN / f"{room}.py") <= allowed, f"{room} imports {imports(FACEGEN / f'{room}.py')}"


def test_the_checks_import_only_the_checks():
    for path in (FACEGEN / "checks").glob("*.py"):
        assert all(m.startswith("checks.") for m in imports(path)), f"checks/{path.name}: {imports(path)}"


def test_the_layout_bars_hold():
    """At most 12 modules in facegen/, no function over 60 lines (helpers, checks, facegen), train with at most
    10 parameters: the house stays readable."""
    root = FACEGEN.parent
    assert len([p for p in FACEGEN.glob("*.py") if p.stem != "__init__"]) <= 12
    for path in [*FACEGEN.rglob("*.py"), root / "helpers.py", root / "problem_unittests.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 60, f"{path.name}: {node.name} is {length} lines"
    train = next(n for n in ast.parse((root / "helpers.py").read_text()).body
                 if isinstance(n, ast.FunctionDef) and n.name == "train")
    assert len(train.args.args) + len(train.args.kwonlyargs) <= 10


def test_the_readme_is_a_front_page_and_no_page_cites_an_issue_number():
    """The README at most 250 lines; the README, docs/ and the notebooks' prose say what and how, never '#23'."""
    import json
    import re

    root = FACEGEN.parent
    readme = (root / "README.md").read_text()
    assert len(readme.splitlines()) <= 250, "README.md is a front page: measurements belong in docs/"
    pages = {"README.md": readme} | {f"docs/{p.name}": p.read_text() for p in (root / "docs").glob("*.md")}
    for name in ("face_generation.ipynb", "face_generation_student.ipynb"):
        cells = json.loads((root / name).read_text())["cells"]
        pages[name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    cited = {name: re.findall(r"(?:^|[^&\w/])(#\d+)\b", text) for name, text in pages.items()}
    assert not any(cited.values()), {name: found for name, found in cited.items() if found}
