"""Write face_generation_student.ipynb, the exercise, from face_generation.ipynb, the worked solution.

    python .ci/make_student.py            # (re)write face_generation_student.ipynb
    python .ci/make_student.py --check    # exit 1 if the committed student notebook is out of date

The solutions are marked with nbgrader's conventions, so a teacher can also run `nbgrader
generate_assignment` on the notebook: code between `### BEGIN SOLUTION` and `### END SOLUTION`, in
cells whose metadata says `"nbgrader": {"solution": true, ...}`. This script needs only the standard
library. In the student notebook:

* each solution region in code becomes `raise NotImplementedError("not implemented yet: step N, ...")`
  at the region's indentation; the hint comments written above the region stay;
* a markdown solution cell (the teacher's notes) becomes "YOUR ANSWER HERE";
* every output is cleared: the student runs the cells.
"""
from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION, STUDENT = ROOT / "face_generation.ipynb", ROOT / "face_generation_student.ipynb"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
ANSWER = "YOUR ANSWER HERE"


def _what(lines: list[str]) -> str:
    """What the code before a region defines: 'Class.method', 'function', or the names it assigns."""
    defs = [re.match(r"(\s*)(?:def|class) (\w+)", line) for line in lines]
    defs = [m for m in defs if m]
    if not defs:
        return ""
    last = defs[-1]
    if last.group(1):  # a method: name its class too
        owner = next((m.group(2) for m in reversed(defs) if not m.group(1)), "")
        return f"{owner}.{last.group(2)}" if owner else last.group(2)
    return last.group(2)


def stub_source(source: str, step: str) -> str:
    """The source with every solution region replaced by a NotImplementedError that names the step."""
    out, lines, inside = [], source.split("\n"), False
    for i, line in enumerate(lines):
        if line.strip() == BEGIN:
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            what = _what(lines[:i] if indent else []) or _assigned(lines[i + 1:])
            out.append(f'{indent}raise NotImplementedError("not implemented yet: {step}, {what} (see the hint above)")')
        elif line.strip() == END:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END} in:\n{source}")
    return "\n".join(out)


def _assigned(region: list[str]) -> str:
    """The names a module-level region assigns, e.g. 'd_optimizer and g_optimizer'."""
    names = []
    for line in region:
        if line.strip() == END:
            break
        if m := re.match(r"(\w+)\s*=", line):
            names.append(m.group(1))
    return " and ".join(names) or "this cell"


def student_notebook(nb: dict) -> dict:
    """The exercise made from the solution notebook (a new dict; nb is not changed)."""
    nb, step = copy.deepcopy(nb), "the setup"
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and (m := re.match(r"## (Step \d+)", source)):
            step = m.group(1).lower()
        solution = cell.get("metadata", {}).get("nbgrader", {}).get("solution", False)
        if solution and cell["cell_type"] == "markdown":
            source = ANSWER
        elif cell["cell_type"] == "code":
            source = stub_source(source, step)
            cell["outputs"], cell["execution_count"] = [], None
        cell["source"] = source.splitlines(keepends=True)
    return nb


def main() -> int:
    student = student_notebook(json.loads(SOLUTION.read_text()))
    expected = json.dumps(student, indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv[1:]:
        if not STUDENT.exists() or STUDENT.read_text() != expected:
            print(f"{STUDENT.name} is out of date with {SOLUTION.name}: run python .ci/make_student.py")
            return 1
        print(f"{STUDENT.name} is up to date.")
        return 0
    STUDENT.write_text(expected)
    print(f"Wrote {STUDENT.name}: {sum(1 for c in student['cells'] if 'NotImplementedError' in ''.join(c['source']))} "
          "cells with stubs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
