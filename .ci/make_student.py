"""Write face_generation_student.ipynb, the exercise: nbgrader's release of face_generation.ipynb.

    python .ci/make_student.py            # (re)write face_generation_student.ipynb
    python .ci/make_student.py --check    # exit 1 if the committed student notebook is not the release

It runs `nbgrader generate_assignment` (requirements-teacher.txt) in a temporary course directory
(.ci/nbgrader_course.py) with the lesson's configuration (.ci/nbgrader_config.py), and copies the
released notebook byte for byte: the student notebook is what a teacher hands out. nbgrader does the
work: each solution region becomes a stub (the step-naming one of .ci/nbgrader_stubs.py), the
reflection's mark scheme (its rubric and model answer) is removed, so are hidden tests and outputs, the
check cells are locked and every graded cell gets its checksum. The nbgrader metadata that drives
this is set by .ci/nbgrader_metadata.py.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbgrader_course import ASSIGNMENT, ROOT, make_course  # noqa: E402

SOLUTION, STUDENT = ROOT / "face_generation.ipynb", ROOT / "face_generation_student.ipynb"


def nbgrader(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `nbgrader ARGS` in cwd with this Python; raise with its log if it fails."""
    # nbgrader calls `alembic` (its database migrations) by name: it lives beside this Python.
    env = {**os.environ, **(env or {}), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def release() -> str:
    """The text of the notebook `nbgrader generate_assignment` releases from the solution notebook."""
    with tempfile.TemporaryDirectory() as tmp:
        make_course(Path(tmp), wheel=False)  # the notebook alone is compared
        nbgrader("generate_assignment", ASSIGNMENT, cwd=Path(tmp))
        return (Path(tmp) / "release" / ASSIGNMENT / SOLUTION.name).read_text()


def main(argv: list[str] | None = None) -> int:
    expected = release()
    if "--check" in (sys.argv[1:] if argv is None else argv):
        if not STUDENT.exists() or STUDENT.read_text() != expected:
            print(f"{STUDENT.name} is not nbgrader's release of {SOLUTION.name}: run python .ci/make_student.py")
            return 1
        print(f"{STUDENT.name} is nbgrader's release of {SOLUTION.name}.")
        return 0
    STUDENT.write_text(expected)
    print(f"Wrote {STUDENT.name}: nbgrader's release ({expected.count('not implemented yet: ')} stubs).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
