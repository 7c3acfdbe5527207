"""nbgrader's round trip, offline, with nbgrader itself (requirements-teacher.txt): the README's "For
teachers" commands run as written, in a temporary HOME with a local exchange, for three students who
fetch, submit and fetch their feedback; the reflection graded through the Formgrader's own API. The solution gets every autograded point; the release as handed out gets 0 (and
autograde finishes); a submission with one typical mistake in each of two steps (one that only a hidden test
finds) loses the points of exactly those steps, keeps those of a third whose correct code warns, and its
feedback shows what the checks said, in one line each, and no hidden test's code. Also: the metadata is current."""
from __future__ import annotations

import base64
import html
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NOTEBOOK = "face_generation"
COURSE = "facegen"  # c.CourseDirectory.course_id in .ci/nbgrader_config.py


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / ".ci" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_student, metadata = _load("make_student"), _load("nbgrader_metadata")
from benchmarks.autograde_time import formgrader  # noqa: E402 - jupyter lab and the Formgrader's API
ASSIGNMENT = make_student.ASSIGNMENT
# (step, what is changed, into what, the check that must fail, what its feedback must say). Step 3's scale
# flattens x: the visible check's inputs are flat already, so only the hidden test refuses it. Step 5 is
# correct code that warns (nn.init.normal is deprecated): it keeps its point.
MISTAKES = [
    ("step 3", "return x * (high - low) + low", "return x.reshape(-1) * (high - low) + low", "check_scale",
     "check_scale: scale(a batch of shape (2, 3, 4, 4) with values in [0.1, 0.9], feature_range="),
    ("step 5", "nn.init.normal_(m.weight, 0.0, 0.02)", "nn.init.normal(m.weight, 0.0, 0.02)", None,
     "Tests Passed, with a warning: FutureWarning: `nn.init.normal` is now deprecated"),
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


@pytest.mark.slow
def test_the_nbgrader_metadata_is_current():
    assert subprocess.run([sys.executable, str(ROOT / ".ci" / "nbgrader_metadata.py"), "--check"]).returncode == 0


def test_the_points():
    assert sum(metadata.POINTS.values()) == 15 and metadata.REFLECTION_POINTS == 5


def teacher_commands() -> list[str]:
    """The command lines of README.md's "For teachers" block, in order, without comments."""
    text = README.read_text()
    section = text[text.index("## For teachers"):]
    block = section[section.index("```bash\n") + 8:]
    block = block[:block.index("\n```")]
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def shell(line: str, cwd: Path, env: dict) -> None:
    done = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{line!r} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"


# What the solution's student trained: my_results/ as the cell above the reflection keeps it (a picture of
# one colour, a summary with a count no other run has), so the grading page can be searched for it.
OWN_SAMPLES = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGM4KRgLAALeATjQBq1WAAAAAElFTkSuQmCC")
OWN_LOSSES = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAAD0lEQVR4nGMUPBnLwMAAAAXVATkLSIlDAAAAAElFTkSuQmCC")
OWN_SUMMARY = {"images_seen": 82752, "epochs_completed": 3, "seconds_training": 300.2, "device": "cpu"}


def submit(home: Path, student: str, text: str, env: dict) -> None:
    """What a student does between release and collect, with the commands the README gives them, in their
    own HOME (one OS user here, so --student says who; JupyterHub's Assignments tab runs the same two). The
    solution's student also leaves what a real run leaves beside the notebook: my_results/, and outputs/ and
    .venv/ (which the course's ignore list keeps out of the submission)."""
    desk = home / student
    desk.mkdir()
    shell(f"nbgrader fetch_assignment {ASSIGNMENT} --course {COURSE}", desk, env | {"HOME": str(desk)})
    (desk / ASSIGNMENT / f"{NOTEBOOK}.ipynb").write_text(text)
    if student == "solution":
        for folder in ("my_results", "outputs/runs/run0", ".venv"):
            (desk / ASSIGNMENT / folder).mkdir(parents=True)
            (desk / ASSIGNMENT / folder / "samples.png").write_bytes(OWN_SAMPLES)
        (desk / ASSIGNMENT / "my_results" / "losses.png").write_bytes(OWN_LOSSES)
        (desk / ASSIGNMENT / "my_results" / "summary.json").write_text(json.dumps(OWN_SUMMARY))
    shell(f"nbgrader submit {ASSIGNMENT} --course {COURSE} --student={student}", desk, env | {"HOME": str(desk)})


pressed: dict = {}  # the Formgrader's Autograde button: how long it took


def grade_the_reflection_in_formgrader(course: Path, env: dict, scores: dict) -> None:
    """`jupyter lab` in the course directory, then what the Formgrader tab does when the teacher types a
    score: its own HTTP API (find the submission, its grades, PUT the reflection's manual score). The
    Autograde button is pressed for the release as handed out too (how long it took goes into `pressed`)."""
    with formgrader(course, env) as api:
        assert b"formgrader" in api("/formgrader").lower(), "the Formgrader page did not load"
        for submission in api(f"/formgrader/api/submitted_notebooks/{ASSIGNMENT}/{NOTEBOOK}"):
            page = api(f"/formgrader/submissions/{submission['id']}/").decode()  # the page the teacher grades on
            assert "check_scale" in page and "reflection" in page, f"the grading page lacks the notebook: {page[:300]}"
            assert "*Rubric (5 points).*" in html.unescape(page) or "Rubric (5 points)" in page, \
                "the grading page does not show the reflection's mark scheme"
            if submission["student"] == "solution":  # the student's own results beside the answer
                assert base64.b64encode(OWN_SAMPLES).decode() in page, "the grading page lacks the student's samples"
                assert base64.b64encode(OWN_LOSSES).decode() in page, "the grading page lacks the student's loss plot"
                assert "82,752 faces seen" in page, "the grading page lacks the student's summary"
            if submission["student"] == "release":  # the Formgrader's Autograde button, as its page presses it
                start = time.perf_counter()
                done = api(f"/formgrader/api/submission/{ASSIGNMENT}/release/autograde", {}, method="POST")
                pressed["seconds"] = time.perf_counter() - start
                assert done["success"], done.get("error") or done.get("log")
            if submission["student"] in scores:
                grades = api(f"/formgrader/api/grades?submission_id={submission['id']}")
                reflection = next(g for g in grades if g["name"] == metadata.REFLECTION_ID)
                api(f"/formgrader/api/grade/{reflection['id']}", {"manual_score": scores[submission["student"]]})


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """The README's "For teachers" commands, each run as written, in a fresh HOME: a course, its release
    through an exchange, three students who fetch and submit, collect, autograde, the reflection graded
    in the Formgrader, feedback released and fetched. Returns the course directory."""
    home = tmp_path_factory.mktemp("home")
    # The exchange: a folder every user can write, which a JupyterHub's admin names once in a Jupyter
    # config file everyone reads (nbgrader 0.9's default is /usr/local/share/nbgrader/exchange).
    (home / "jupyter").mkdir()
    (home / "jupyter" / "nbgrader_config.py").write_text(f"c.Exchange.root = {str(home / 'exchange')!r}\n")
    (home / "exchange").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGEN_")}  # the course config decides
    env |= {"HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "jupyter"), "MPLBACKEND": "agg",
            # what `source .venv/bin/activate` does: this Python's folder first on PATH
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    released = make_student.release()
    solution = make_student.SOLUTION.read_text()
    students = {"solution": solution, "release": released, "mistakes": with_mistakes(solution)}
    cwd, ran = ROOT, []
    start = time.perf_counter()
    for line in teacher_commands():
        ran.append(line)
        if line == "bash .ci/setup.sh":
            continue  # CI's own first step: this test runs in the venv it made
        elif line == "source .venv/bin/activate":
            continue  # PATH above
        elif line.startswith("cd "):
            cwd = Path(line[3:].replace("~", str(home)))
        elif line == "jupyter lab":
            grade_the_reflection_in_formgrader(cwd, env, {"solution": metadata.REFLECTION_POINTS})
        else:
            shell(line, cwd, env)
        if line == f"nbgrader release_assignment {ASSIGNMENT}":
            for student, text in students.items():
                submit(home, student, text, env)
        if line == f"nbgrader release_feedback {ASSIGNMENT}":
            for student in students:
                shell(f"nbgrader fetch_feedback {ASSIGNMENT} --course {COURSE} --student={student}", home / student,
                      env | {"HOME": str(home / student)})
    print(f"The README's teacher commands with 3 students: {time.perf_counter() - start:.0f} s")
    assert {"jupyter lab", f"nbgrader release_assignment {ASSIGNMENT}", f"nbgrader release_feedback {ASSIGNMENT}",
            f"nbgrader collect {ASSIGNMENT}", f"nbgrader autograde {ASSIGNMENT} --create",
            f"nbgrader generate_feedback {ASSIGNMENT}"} <= set(ran), "the README's teacher commands changed"
    assert cwd == home / "facegen-course"
    return cwd


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
    # graded by hand in the Formgrader (none of the others was)
    assert got[metadata.REFLECTION_ID] == (metadata.REFLECTION_POINTS, metadata.REFLECTION_POINTS)
    assert grades(course, "mistakes")[metadata.REFLECTION_ID][0] is None


@pytest.mark.slow
def test_the_release_as_handed_out_gets_nothing(course):
    got = grades(course, "release")
    reflection = got.pop(metadata.REFLECTION_ID)
    assert all(score == 0 for score, _ in got.values()), got
    assert reflection[0] in (0, None), reflection  # to be graded by hand (nobody did here)
    assert "Not implemented yet: step 3, scale" in feedback(course, "release")


@pytest.mark.slow
def test_two_mistakes_lose_the_points_of_their_steps_and_the_feedback_says_why(course):
    got = grades(course, "mistakes")
    lost = {name for name, (score, top) in got.items() if name != metadata.REFLECTION_ID and score != top}
    assert lost == LOST >= {check for *_, check, _ in MISTAKES if check}, got
    assert all(got[name][0] == 0 for name in LOST)
    shown = feedback(course, "mistakes")
    for step, *_, message in MISTAKES:
        assert message in shown, f"the feedback does not say what the check of {step} found"


@pytest.mark.slow
def test_the_feedback_names_each_check_and_hides_the_hidden_tests_code_but_not_what_they_said(course):
    page = (course / "feedback" / "mistakes" / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in page and "seed=1, quiet=True" not in page, "the hidden tests' code is shown"
    assert "Test cell" not in page
    shown = feedback(course, "mistakes")
    for check in [f"check_{name}" for name in metadata.POINTS] + [metadata.REFLECTION_ID]:
        assert re.search(rf"{check}\s*\(Score:", shown), f"{check} is not named in the feedback's summary"
    assert "Score: 20.0 / 20.0" in feedback(course, "solution")  # the reflection's 5 included
    assert "Rubric" not in shown and "MARK SCHEME" not in shown and "A model answer" not in shown
    print(f"feedback of the submission with mistakes: {len(page) / 1e6:.2f} MB")


@pytest.mark.slow
def test_correct_code_that_warns_keeps_its_points_and_the_warning_is_shown(course):
    got = grades(course, "mistakes")
    assert got["check_weights_init"][0] == got["check_weights_init"][1], got
    assert "Tests Passed, with a warning: FutureWarning: `nn.init.normal` is now deprecated" in feedback(course, "mistakes")


@pytest.mark.slow
def test_a_failed_hidden_test_says_one_line_and_shows_no_code(course):
    shown = feedback(course, "mistakes")
    assert "returned shape (96,): keep x's shape" in shown
    for code in ("BEGIN HIDDEN TESTS", "batch=True", "quiet=True"):
        assert code not in shown, f"the feedback shows the hidden test's code: {code!r}"
    cell = re.split(r"In\s\[", shown[shown.index("tests.check_scale(scale)"):])[0]  # its output, to the next cell
    for code in ("Traceback", "Cell In[", "problem_unittests.py", "---->"):
        assert code not in cell, f"the failed hidden test shows code: {code!r} in {cell!r}"


def autograded(course: Path, student: str) -> str:
    """What the autograded notebook's cells printed (course/autograded/<student>/...)."""
    nb = json.loads((course / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    texts = [o.get("text", "") for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    return "".join("".join(t) if isinstance(t, list) else t for t in texts)


@pytest.mark.slow
@pytest.mark.parametrize("student", ["solution", "release"])
def test_autograde_trains_nothing_and_reads_the_faces_the_course_says(course, student):
    """By the command (the solution) and by the Formgrader's button (the release as handed out, graded again
    there): the checks run, step 8 loads the pretrained generator instead of training, no download."""
    printed = autograded(course, student)
    assert "FACEGEN_DATA=synthetic" in printed and "Downloading" not in printed and "Could not download" not in printed
    assert "(quick configuration)" in printed
    assert "nothing was trained here" in printed and "Training" not in printed
    assert pressed["seconds"] < 60, pressed


@pytest.mark.slow
def test_a_submission_carries_the_students_results_and_not_their_runs_or_environment(course):
    submitted = course / "submitted" / "solution" / ASSIGNMENT
    assert (submitted / "my_results" / "samples.png").read_bytes() == OWN_SAMPLES
    assert not (submitted / "outputs").exists() and not (submitted / ".venv").exists()


@pytest.mark.slow
def test_every_student_fetches_their_own_feedback(course):
    for student in ("solution", "release", "mistakes"):
        fetched = list((course.parent / student / ASSIGNMENT / "feedback").glob(f"*/{NOTEBOOK}.html"))
        assert len(fetched) == 1, f"{student} has no feedback"
        assert fetched[0].read_text() == (course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()


def test_the_course_directory_keeps_its_own_copy_of_the_configuration(tmp_path):
    """A course made from a checkout keeps working when the checkout moves: no path into it is written."""
    sys.path.insert(0, str(ROOT / ".ci"))
    from nbgrader_course import make_course

    make_course(tmp_path / "course", wheel=False)
    written = "\n".join(p.read_text() for p in (tmp_path / "course").rglob("*.py") if "source" not in p.parts)
    assert str(ROOT) not in written
    assert (tmp_path / "course" / "lesson_config" / "nbgrader_config.py").read_text() == \
        (ROOT / ".ci" / "nbgrader_config.py").read_text()
