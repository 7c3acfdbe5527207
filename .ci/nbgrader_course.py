"""An nbgrader course directory for the lesson: the assignment "facegen" in source/, and a config.

    python .ci/nbgrader_course.py COURSE_DIR    # then: cd COURSE_DIR && nbgrader generate_assignment facegen

COURSE_DIR/source/facegen/ gets the solution notebook and what it imports (helpers.py,
problem_unittests.py, facegen/, the pretrained generator); COURSE_DIR/nbgrader_config.py loads
.ci/nbgrader_config.py from this checkout. Run it again after editing the lesson: it replaces the
source files and keeps the rest of the course (gradebook, submissions). Standard library only.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "facegen"
# What a student's folder needs: the helpers, the checks, and the assets the notebook shows (the pretrained
# route shows the losses and progress of the run that trained generator.pt).
FILES = ["face_generation.ipynb", "helpers.py", "problem_unittests.py", "facegen", "assets/generator.pt", "assets/generator_layers.json",
         "assets/losses.png", "assets/progress.gif", "assets/synthetic_faces.png"]


def make_course(course: Path, assignment: str = ASSIGNMENT) -> Path:
    """Write (or refresh) the course directory; return its source folder for the assignment."""
    source = Path(course) / "source" / assignment
    for name in FILES:
        src, dst = ROOT / name, source / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(src, dst)
    config = ROOT / ".ci" / "nbgrader_config.py"
    (Path(course) / "nbgrader_config.py").write_text(f"load_subconfig({str(config)!r})  # noqa: F821\n")
    return source


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"Wrote {make_course(Path(sys.argv[1]))}")
