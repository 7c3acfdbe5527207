"""The notebook's first cell, as a hosted notebook service runs it: the notebook opened alone fetches the
project (from PROJECT_URL, here a local clone: this machine is offline) and goes on; beside the project,
the cell does nothing. A real kernel runs the cell, as a learner's Shift-Enter does."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def first_cell() -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "face_generation.ipynb", as_version=4)
    hosted = [c for c in nb.cells if "hosted" in c.metadata.get("tags", [])]
    assert len(hosted) == 1 and nb.cells.index(hosted[0]) == next(
        i for i, c in enumerate(nb.cells) if c.cell_type == "code"), "the hosted cell is the first code cell"
    return hosted[0]


def run_cells(folder: Path, *sources: str) -> list[nbformat.NotebookNode]:
    """Run the hosted cell (as many times as given as None) and other cells in one kernel started in folder."""
    cells = [first_cell() if s is None else nbformat.v4.new_code_cell(s) for s in sources]
    nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(c, outputs=[])) for c in cells])
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    client.execute()
    return nb.cells


def printed(cell) -> str:
    """What the cell printed (stdout; git's own progress goes to stderr)."""
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


@pytest.fixture
def published(tmp_path) -> str:
    """The project as a publisher would serve it: a git repository of this checkout's committed files."""
    origin = tmp_path / "origin"
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(origin)], check=True)
    return origin.as_uri()


def test_opened_alone_it_fetches_the_project_and_the_lesson_runs_on(tmp_path, monkeypatch, published):
    alone = tmp_path / "colab"
    alone.mkdir()
    (alone / "face_generation.ipynb").write_bytes((ROOT / "face_generation.ipynb").read_bytes())
    monkeypatch.setenv("FACEGEN_PROJECT_URL", published)
    cells = run_cells(alone, None, "import os, helpers, problem_unittests\nprint(os.getcwd(), helpers.__file__)",
                      None, "print(os.getcwd())")
    assert not any(errors(c) for c in cells), [errors(c) for c in cells]
    project = alone / "face-generation"
    assert (project / "helpers.py").exists() and (project / "assets" / "generator.pt").exists()
    assert printed(cells[0]).strip() == f"The project is in {project}", "every package is installed here: none to add"
    assert printed(cells[1]).split() == [str(project), str(project / "helpers.py")]
    assert printed(cells[2]) == "" and printed(cells[3]).strip() == str(project), "run again: nothing more happens"
    assert sorted(p.name for p in alone.iterdir()) == ["face-generation", "face_generation.ipynb"]


def test_beside_the_project_it_does_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGEN_PROJECT_URL", (tmp_path / "nowhere").as_uri())  # would fail, were it used
    before = sorted(p.name for p in ROOT.iterdir())
    cells = run_cells(ROOT, None, "import os\nprint(os.getcwd())")
    assert not errors(cells[0]) and printed(cells[0]) == ""
    assert printed(cells[1]).strip() == str(ROOT)
    assert sorted(p.name for p in ROOT.iterdir()) == before


def test_opened_alone_without_an_address_it_says_what_to_do_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("FACEGEN_PROJECT_URL", raising=False)
    (cell,) = run_cells(tmp_path, None)
    (error,) = errors(cell)
    assert error.startswith("RuntimeError: helpers.py is not beside this notebook") and "PROJECT_URL" in error
    assert "\n" not in error and os.listdir(tmp_path) == []
