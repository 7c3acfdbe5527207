"""An nbgrader course directory for the lesson: the assignment "facegen" in source/, and a config.

    python .ci/nbgrader_course.py COURSE_DIR    # then: cd COURSE_DIR && nbgrader generate_assignment facegen

COURSE_DIR/source/facegen/ gets the solution notebook and what it imports (helpers.py,
problem_unittests.py, facegen/, the pretrained generator) and the helpers as a wheel (pip wheel of this
checkout, for the hosted route: docs/hosted.md); COURSE_DIR/lesson_config/ gets a copy of the
lesson's nbgrader configuration (.ci/nbgrader_config.py, the stub it uses and the feedback template), which
COURSE_DIR/nbgrader_config.py loads: the course does not depend on where this checkout lies, or on its
staying there. Run it again after editing the lesson: it replaces the source files and the configuration's
copy and keeps the rest of the course (gradebook, submissions). Standard library and pip only.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "facegen"
# What a student's folder needs: the helpers, the checks, the installer's requirements, and the assets the notebook shows (the pretrained
# route shows the losses and progress of the run that trained generator.pt).
# requirements.txt: what `python -m facegen.install` installs on a student's own computer.
FILES = ["face_generation.ipynb", "helpers.py", "problem_unittests.py", "facegen", "requirements.txt",
         "assets/generator.pt", "assets/generator_layers.json", "assets/fid_figures.json", "assets/losses.png", "assets/progress.gif",
         "assets/synthetic_faces.png"]

# The configuration nbgrader reads: a copy goes into the course directory.
CONFIG = ["nbgrader_config.py", "nbgrader_stubs.py", "feedback_template"]


def make_course(course: Path, assignment: str = ASSIGNMENT, wheel: bool = True) -> Path:
    """Write (or refresh) the course directory; return its source folder for the assignment. With wheel, the
    source folder also gets the lesson's helpers as a wheel (pyproject.toml), for a student who opens the
    notebook alone in a hosted service: the notebook's first cell installs it from beside the notebook."""
    source = Path(course) / "source" / assignment
    for old in source.glob("facegen_lesson-*.whl"):
        old.unlink()
    if wheel:
        source.mkdir(parents=True, exist_ok=True)
        build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                 "--wheel-dir", str(source), str(ROOT)]
        # With this environment's setuptools when it has one (seconds); else pip's own build environment.
        if subprocess.run([*build, "--no-build-isolation"], capture_output=True).returncode:
            subprocess.run(build, check=True)
    for name in FILES:
        src, dst = ROOT / name, source / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(src, dst)
    config = Path(course) / "lesson_config"
    shutil.rmtree(config, ignore_errors=True)
    config.mkdir(parents=True)
    for name in CONFIG:
        src = ROOT / ".ci" / name
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, config / name)
    (Path(course) / "nbgrader_config.py").write_text(
        "# The lesson's nbgrader configuration (a copy, written by the lesson's .ci/nbgrader_course.py)\n"
        "import os\n"
        "load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lesson_config', "
        "'nbgrader_config.py'))  # noqa: F821\n")
    return source


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"Wrote {make_course(Path(sys.argv[1]))}")
