"""Mark face_generation.ipynb as an nbgrader source notebook; idempotent, so re-run it after editing prose.

    python .ci/nbgrader_metadata.py            # (re)write the nbgrader metadata, hidden tests and hints
    python .ci/nbgrader_metadata.py --check    # exit 1 if running it would change the notebook

Cells are found by their source, never by position or id (ids are kept):

* a code cell with a `### BEGIN SOLUTION` region: an autograded answer (solution, no points);
* its hints (the check's exercise.hints) as the last three <details> of the markdown cell above it;
* a code cell that calls `tests.check_<name>(`: autograder tests, locked, with POINTS[name]; the hidden
  tests of HIDDEN[name], if any, are appended between `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`
  (replacing whatever hidden block the cell had); they print nothing when they pass, so the visible
  "Tests Passed" (compared by nbval) is unchanged;
* the markdown cell with a `### BEGIN MARK SCHEME` region: the reflection, a manually graded task worth
  REFLECTION_POINTS; its mark scheme (the rubric and a model answer) is left out of the release and the
  feedback, and shown on the Formgrader's grading page; the student answers in the cells below it;
* any other cell: no nbgrader metadata.

The points, hidden tests and hints come from problem_unittests.py, where each sits beside its check (so this
imports torch: run it with the project's Python). The notebook is written as json.dumps(nb, indent=1,
ensure_ascii=False) + "\\n".
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "face_generation.ipynb"
MARK_SCHEME = "### BEGIN MARK SCHEME"
REFLECTION_ID, REFLECTION_POINTS = "reflection", 5
# Points, hidden tests and hints live beside each check, in problem_unittests.py (check.exercise).
sys.path.insert(0, str(NOTEBOOK.parent))
import problem_unittests  # noqa: E402

EXERCISES = {name.removeprefix("check_"): check.exercise for name, check in vars(problem_unittests).items()
             if name.startswith("check_") and hasattr(check, "exercise")}
POINTS = {name: e.points for name, e in EXERCISES.items()}  # grade_id = check_<name>; the autograded total
HIDDEN = {name: e.hidden for name, e in EXERCISES.items() if e.hidden}
HINTS = {e.solution: e.hints for e in EXERCISES.values() if e.solution and e.hints}  # by the solution's grade id
HINT_TITLES = ("Hint 1: what and why", "Hint 2: the pieces", "Hint 3: a skeleton")
HINT_BLOCK = re.compile(r"\n*<details><summary>Hint[^<]*</summary>.*?</details>", re.S)
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CHECK = re.compile(r"^tests\.check_(\w+)\(", re.M)


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int | None = None,
          task: bool = False) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": task}
    if points is not None:
        meta["points"] = points
    return dict(sorted(meta.items()))  # as Jupyter writes it


def _without_hidden(source: str) -> str:
    return re.sub(rf"\n{BEGIN_HIDDEN}\n.*?\n{END_HIDDEN}", "", source, flags=re.S)


def _name(before: str, region: str) -> str:
    """A new solution cell's grade id: the last function or class it defines, else the first name it assigns."""
    defined = re.findall(r"^(?:def|class) (\w+)", before, re.M)
    return defined[-1] if defined else re.search(r"^\s*(\w+)\s*=", region, re.M)[1]


def mark(cell: dict) -> str | None:
    """Set cell's nbgrader metadata (and hidden tests) in place; return its grade_id, or None."""
    source, metadata = "".join(cell["source"]), cell.setdefault("metadata", {})
    old_id = metadata.get("nbgrader", {}).get("grade_id")
    metadata["nbgrader"] = None  # replaced below (in the same place among the keys), or removed
    if cell["cell_type"] == "markdown" and MARK_SCHEME in source:
        metadata["nbgrader"] = _meta(REFLECTION_ID, grade=False, solution=False, locked=True, points=REFLECTION_POINTS,
                                     task=True)
    elif cell["cell_type"] == "code" and "### BEGIN SOLUTION" in source:
        grade_id = old_id or _name(*source.split("### BEGIN SOLUTION", 1))
        metadata["nbgrader"] = _meta(grade_id, grade=False, solution=True, locked=False)
    elif cell["cell_type"] == "code" and (checks := CHECK.findall(source)):
        name = checks[0]
        if name not in POINTS:
            raise SystemExit(f"tests.check_{name} has no points: add it to POINTS in {Path(__file__).name}")
        source = _without_hidden(source).rstrip("\n")
        if name in HIDDEN:
            source += f"\n{BEGIN_HIDDEN}\n{HIDDEN[name]}\n{END_HIDDEN}"
        metadata["nbgrader"] = _meta(f"check_{name}", grade=True, solution=False, locked=True, points=POINTS[name])
    else:
        del metadata["nbgrader"]
        return None
    cell["source"] = source.splitlines(keepends=True)
    return metadata["nbgrader"]["grade_id"]


def hints_markdown(hints: tuple[str, ...]) -> str:
    return "".join(f"\n\n<details><summary>{title}</summary>\n\n{text}\n</details>"
                   for title, text in zip(HINT_TITLES, hints))


def write_hints(cells: list[dict], ids: list[str | None]) -> None:
    """The hints of each solution cell, as the last thing in the markdown cell above it (replacing any there)."""
    for i, grade_id in enumerate(ids):
        if grade_id not in HINTS or cells[i]["cell_type"] != "code":
            continue
        above = next(c for c in reversed(cells[:i]) if c["cell_type"] == "markdown")
        text = HINT_BLOCK.sub("", "".join(above["source"])).rstrip("\n") + hints_markdown(HINTS[grade_id])
        above["source"] = text.splitlines(keepends=True)


def marked(nb: dict) -> tuple[dict, list[str]]:
    """nb with every cell marked and the hints written (nb itself is changed), and the grade ids in order."""
    all_ids = [mark(cell) for cell in nb["cells"]]
    write_hints(nb["cells"], all_ids)
    ids = [grade_id for grade_id in all_ids if grade_id]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SystemExit(f"duplicate nbgrader grade ids: {duplicates}")
    return nb, ids


def main() -> int:
    before = NOTEBOOK.read_text()
    nb, ids = marked(json.loads(before))
    after = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    points = sum(POINTS[i.removeprefix("check_")] for i in ids if i.startswith("check_"))
    if "--check" in sys.argv[1:]:
        if after != before:
            print(f"{NOTEBOOK.name}'s nbgrader metadata is out of date: run python .ci/nbgrader_metadata.py")
            return 1
        print(f"{NOTEBOOK.name}'s nbgrader metadata is up to date.")
        return 0
    NOTEBOOK.write_text(after)
    print(f"{NOTEBOOK.name}: {len(ids)} nbgrader cells, {points} autograded points + {REFLECTION_POINTS} for the "
          f"reflection{'' if after != before else ' (unchanged)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
