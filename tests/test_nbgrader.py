"""nbgrader's round trip, offline, with nbgrader itself (requirements-teacher.txt): in a temporary course
directory, generate_assignment, then autograde three submissions in the quick configuration and write
their feedback. The solution gets every autograded point; the release as handed out gets 0 (and
autograde finishes); a submission with one typical mistake in each of two steps loses the points of
exactly those steps, and its feedback shows what the checks said. Also: the metadata is current."""
from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "face_generation"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / ".ci" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_student, metadata = _load("make_student"), _load("nbgrader_metadata")
ASSIGNMENT = make_student.ASSIGNMENT
# (step, what is changed, into what, the check that must fail, what its feedback must say)
MISTAKES = [
    ("step 3", "return x * (high - low) + low", "return x * (high - low)", "check_scale",
     "the shift is missing: add the low end of the range"),
    ("step 7", "d_fake = D(fake_images.detach())", "d_fake = D(fake_images)", "check_train_step",
     "check_train_step: Missing detach()"),
]
# The checks of step 3 (scale, and the loader built with it) fail together.
LOST = {"check_scale", "check_dataloader", "check_train_step"}


def with_mistakes(text: str) -> str:
    for step, right, wrong, *_ in MISTAKES:
        assert text.count(right) == 1, f"the solution of {step} changed: update MISTAKES"
        text = text.replace(right, wrong)
    return text


def test_the_nbgrader_metadata_is_current():
    assert subprocess.run([sys.executable, str(ROOT / ".ci" / "nbgrader_metadata.py"), "--check"]).returncode == 0


def test_the_points():
    assert sum(metadata.POINTS.values()) == 15 and metadata.REFLECTION_POINTS == 5


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The course after generate_assignment, autograde of three students and generate_feedback."""
    course = tmp_path_factory.mktemp("course")
    make_student.make_course(course)
    make_student.nbgrader("generate_assignment", ASSIGNMENT, cwd=course)
    released = (course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text()
    solution = make_student.SOLUTION.read_text()
    for student, text in (("solution", solution), ("release", released), ("mistakes", with_mistakes(solution))):
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{NOTEBOOK}.ipynb").write_text(text)
    # The quick configuration (nbgrader_config.py sets it too); each run's outputs/ beside its notebook.
    env = {k: v for k, v in os.environ.items() if k != "FACEGEN_OUT"} | {"FACEGEN_QUICK": "1", "MPLBACKEND": "agg"}
    start = time.perf_counter()
    make_student.nbgrader("autograde", ASSIGNMENT, "--create", cwd=course, env=env)
    make_student.nbgrader("generate_feedback", ASSIGNMENT, cwd=course)
    print(f"nbgrader autograde + generate_feedback of 3 submissions: {time.perf_counter() - start:.0f} s")
    return course


def grades(course: Path, student: str) -> dict:
    """grade_id -> (score, max_score) of a student's notebook, from the gradebook (None: not graded yet)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
        return {g.name: (g.auto_score if g.manual_score is None else g.manual_score, g.max_score) for g in nb.grades}


def feedback(course: Path, student: str) -> str:
    text = (course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", "", text))


@pytest.mark.slow
def test_the_solution_gets_every_autograded_point(course):
    got = grades(course, "solution")
    auto = {k: v for k, v in got.items() if k != metadata.REFLECTION_ID}
    assert set(auto) == {f"check_{name}" for name in metadata.POINTS}
    assert all(score == top for score, top in auto.values()), auto
    assert sum(top for _, top in auto.values()) == sum(metadata.POINTS.values())
    assert got[metadata.REFLECTION_ID] == (None, metadata.REFLECTION_POINTS), "the reflection is graded by hand"


@pytest.mark.slow
def test_the_release_as_handed_out_gets_nothing(course):
    got = grades(course, "release")
    assert all(score == 0 for score, _ in got.values()), got  # the unchanged reflection too
    assert "Not implemented yet: step 3, scale" in feedback(course, "release")


@pytest.mark.slow
def test_two_mistakes_lose_the_points_of_their_steps_and_the_feedback_says_why(course):
    got = grades(course, "mistakes")
    lost = {name for name, (score, top) in got.items() if name != metadata.REFLECTION_ID and score != top}
    assert lost == LOST >= {check for *_, check, _ in MISTAKES}, got
    assert all(got[name][0] == 0 for name in LOST)
    shown = feedback(course, "mistakes")
    for step, *_, message in MISTAKES:
        assert message in shown, f"the feedback does not say what the check of {step} found"
