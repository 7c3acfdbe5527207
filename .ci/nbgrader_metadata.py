"""Mark face_generation.ipynb as an nbgrader source notebook; idempotent, so re-run it after editing prose.

    python .ci/nbgrader_metadata.py            # (re)write the nbgrader metadata and hidden tests
    python .ci/nbgrader_metadata.py --check    # exit 1 if running it would change the notebook

Cells are found by their source, never by position or id (ids are kept):

* a code cell with a `### BEGIN SOLUTION` region: an autograded answer (solution, no points);
* a code cell that calls `tests.check_<name>(`: autograder tests, locked, with POINTS[name]; the hidden
  tests of HIDDEN[name], if any, are appended between `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`
  (replacing whatever hidden block the cell had); they print nothing when they pass, so the visible
  "Tests Passed" (compared by nbval) is unchanged;
* the markdown cell that starts with TEACHERS_NOTES: the reflection, a manually graded answer worth
  REFLECTION_POINTS (its rubric); nbgrader replaces it with "YOUR ANSWER HERE" in the release;
* any other cell: no nbgrader metadata.

Standard library only; the notebook is written as json.dumps(nb, indent=1, ensure_ascii=False) + "\\n".
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "face_generation.ipynb"
TEACHERS_NOTES = "**Teacher's notes"
REFLECTION_ID, REFLECTION_POINTS = "reflection", 5
# Points per check (grade_id = check_<name>); the autograded total is their sum.
POINTS = {"scale": 1, "dataloader": 1, "discriminator": 2, "generator": 2, "weights_init": 1, "losses": 2,
          "optimizers": 1, "train_step": 3, "weight_average": 2}
# Hidden tests: what the visible check does not try. Silent when they pass (quiet=True); each is a call of a
# check, so that a failure shows one line (the check's message) and never the hidden test's code.
HIDDEN = {
    "scale": "tests.check_scale(scale, batch=True, seed=1, quiet=True)",
    "discriminator": "tests.check_discriminator(Discriminator, image_size=image_size, seed=1, quiet=True)",
    "generator": "tests.check_generator(Generator, image_size=image_size, seed=1, quiet=True)",
    "weights_init": "tests.check_weights_init(weights_init_normal, Discriminator, Generator, seed=1, quiet=True)",
    "train_step": "tests.check_train_step(train_step, Discriminator, Generator, steps=3, seed=1, quiet=True)",
}
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CHECK = re.compile(r"^tests\.check_(\w+)\(", re.M)


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
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
    if cell["cell_type"] == "markdown" and source.startswith(TEACHERS_NOTES):
        metadata["nbgrader"] = _meta(REFLECTION_ID, grade=True, solution=True, locked=False, points=REFLECTION_POINTS)
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


def marked(nb: dict) -> tuple[dict, list[str]]:
    """nb with every cell marked (nb itself is changed), and the grade ids in order."""
    ids = [grade_id for cell in nb["cells"] if (grade_id := mark(cell))]
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
