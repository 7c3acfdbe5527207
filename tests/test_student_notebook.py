"""The exercise (face_generation_student.ipynb): nbgrader's release of face_generation.ipynb (written by
.ci/make_student.py), current, complete, and round-tripping: run as is it stops at the first stub with
its message; with the solutions (and hidden tests) put back it is the solution notebook again (which CI
runs under nbval). nbgrader's autograding round trip is in tests/test_nbgrader.py."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / ".ci" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_student, stubs, metadata = _load("make_student"), _load("nbgrader_stubs"), _load("nbgrader_metadata")
SOLUTION = json.loads(make_student.SOLUTION.read_text())
STUDENT = json.loads(make_student.STUDENT.read_text())
ANSWER = "YOUR ANSWER HERE"  # nbgrader's text stub
# What the student writes, at least (the list), by the name each stub gives.
EXPECTED_STUBS = ["scale", "Discriminator.__init__", "Discriminator.forward", "Generator.__init__",
                  "Generator.forward", "weights_init_normal", "real_loss", "fake_loss", "d_optimizer and g_optimizer",
                  "train_step", "update_average"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def regions(text: str) -> list[str]:
    """The solution regions of a cell's source, markers included."""
    return re.findall(rf"^[ \t]*{stubs.BEGIN}\n.*?^[ \t]*{stubs.END}$", text, re.S | re.M)


@pytest.mark.slow
def test_the_committed_student_notebook_is_nbgraders_release():
    """As the command says it (python .ci/make_student.py --check, nbgrader run for real)."""
    done = subprocess.run([sys.executable, str(make_student.SOLUTION.parent / ".ci" / "make_student.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "is nbgrader's release" in done.stdout, done.stdout + done.stderr


def test_every_step_the_student_writes_is_a_stub_naming_its_step():
    found = re.findall(r'NotImplementedError\("not implemented yet: (step \d+), ([^(]+) \(see the hints above\)"\)',
                       "\n".join(source(c) for c in STUDENT["cells"]))
    assert [name for _, name in found] == EXPECTED_STUBS
    assert dict((name, step) for step, name in found)["train_step"] == "step 7"
    assert not any(stubs.BEGIN in source(c) or metadata.BEGIN_HIDDEN in source(c) for c in STUDENT["cells"]), \
        "a solution or a hidden test was left in"
    assert all(not c.get("outputs") for c in STUDENT["cells"] if c["cell_type"] == "code"), "outputs left in"


def test_make_student_check_fails_on_any_difference_from_the_release(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(make_student, "release", lambda: "the release\n")
    monkeypatch.setattr(make_student, "STUDENT", tmp_path / "student.ipynb")
    assert make_student.main(["--check"]) == 1, "a missing student notebook passed"
    (tmp_path / "student.ipynb").write_text("the release, edited by hand\n")
    assert make_student.main(["--check"]) == 1 and "run python .ci/make_student.py" in capsys.readouterr().out
    (tmp_path / "student.ipynb").write_text("the release\n")
    assert make_student.main(["--check"]) == 0
    assert make_student.main([]) == 0 and (tmp_path / "student.ipynb").read_text() == "the release\n"


def test_the_reflection_is_a_task_whose_mark_scheme_the_student_never_sees():
    answers = [i for i, c in enumerate(STUDENT["cells"]) if source(c) == ANSWER]
    assert len(answers) == 1
    task = STUDENT["cells"][answers[0] - 1]
    assert task["metadata"]["nbgrader"]["task"] is True and task["metadata"]["nbgrader"]["points"] == 5
    assert "Your turn" in source(task) and "MARK SCHEME" not in source(task) and "Rubric" not in source(task)
    teacher = [c for c in SOLUTION["cells"] if c["cell_type"] == "markdown" and c["metadata"].get("nbgrader")]
    assert len(teacher) == 1 and "dataset's bias" in source(teacher[0]) and "*Rubric (5 points).*" in source(teacher[0])


def test_solution_cells_and_checks_carry_nbgrader_metadata_with_unique_ids():
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in SOLUTION["cells"] if c["metadata"].get("nbgrader")]
    assert len(ids) == len(set(ids)) == len(EXPECTED_STUBS) - 3 + len(metadata.POINTS) + 1  # D, G, losses: 2 each
    for cell in SOLUTION["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "code" and regions(source(cell)):
            assert meta["solution"] is True and meta["grade"] is False
        if cell["cell_type"] == "code" and "tests.check_" in source(cell):
            assert meta["grade"] is True and meta["locked"] is True and meta["points"] > 0
    for cell in STUDENT["cells"]:  # nbgrader locks the checks in the release
        if cell["cell_type"] == "code" and "tests.check_" in source(cell):
            assert cell["metadata"]["editable"] is False and cell["metadata"]["deletable"] is False


def test_putting_the_solutions_back_gives_the_solution_notebook():
    assert len(STUDENT["cells"]) == len(SOLUTION["cells"])
    for student, solution in zip(STUDENT["cells"], SOLUTION["cells"]):
        if solution["cell_type"] == "markdown" and solution["metadata"].get("nbgrader"):
            continue  # the teacher's notes: the student writes their own answer
        text, expected = source(student), re.sub(
            rf"\n{metadata.BEGIN_HIDDEN}\n.*?\n{metadata.END_HIDDEN}", "", source(solution), flags=re.S)
        for region in regions(expected):
            text = re.sub(r'^[ \t]*raise NotImplementedError\("not implemented yet: .*$', lambda _: region, text,
                          count=1, flags=re.M)
        assert text == expected


def test_a_region_without_its_end_is_refused():
    with pytest.raises(ValueError, match="without"):
        stubs.stub_source(f"def f():\n    {stubs.BEGIN}\n    return 1\n", "step 1")


@pytest.mark.slow
def test_the_student_notebook_run_as_is_stops_at_the_first_stub_with_its_message(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGEN_QUICK", "1")
    monkeypatch.setenv("FACEGEN_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "agg")
    nb = nbformat.read(make_student.STUDENT, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    with pytest.raises(CellExecutionError) as error:
        client.execute()
    assert error.value.ename == "NotImplementedError"
    assert "not implemented yet: step 3, scale" in error.value.evalue
    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    stopped = ran[-1]
    assert "check_scale" in stopped.source, "the run should stop at the check right after the first stub"
    shown = "".join(o.get("text", "") for o in stopped.outputs if o.output_type == "stream")
    assert shown.startswith("Not implemented yet: step 3, scale") and "Traceback" not in shown, shown


def test_every_stub_has_three_hints_above_it_and_none_gives_the_code_away():
    """Hint 1 what and why, 2 the pieces, 3 a skeleton with blanks, folded away in the prose above each stub;
    hints 1 and 2 hold no line of the solution (longer than a name), and hint 3 leaves blanks to fill."""
    cells = STUDENT["cells"]
    stubbed = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and "not implemented yet: " in source(c)]
    assert len(stubbed) == len(metadata.HINTS) == 8
    solution_lines = {line.strip() for c in SOLUTION["cells"] for region in regions(source(c))
                      for line in region.splitlines()[1:-1] if len(line.strip()) > 24}
    for i in stubbed:
        above = source(next(c for c in reversed(cells[:i]) if c["cell_type"] == "markdown"))
        titles = re.findall(r"<details><summary>(Hint \d: [^<]+)</summary>", above)
        assert titles == list(metadata.HINT_TITLES), (source(cells[i])[:60], titles)
        first_two, skeleton = above.split(metadata.HINT_TITLES[2])
        assert "___" in skeleton, "hint 3 is a skeleton with blanks"
        given = [line for line in solution_lines if line in first_two.split(metadata.HINT_TITLES[0])[1]]
        assert not given, f"a hint gives the solution's line away: {given}"
