"""The notebook opened alone, as a hosted service (Colab, Kaggle) opens it: its first cell installs the lesson's
helpers as a package (pyproject.toml) from the project's address at the notebook's tag, so the learner's folder
holds only their notebook. Here the address is a local git repository of this working tree (this machine is
offline but for package registries), the Python a fresh virtual environment, and a real kernel runs the cells as
a learner's Shift-Enter does. Beside the project, the cell does nothing."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
# What a learner must never receive: a solution, a hidden test, the teacher's notes, the solution notebook.
SECRETS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "Teacher's notes", "A 90-minute lab plan")


def first_cell(notebook: Path = ROOT / "face_generation.ipynb") -> nbformat.NotebookNode:
    nb = nbformat.read(notebook, as_version=4)
    hosted = [c for c in nb.cells if "hosted" in c.metadata.get("tags", [])]
    assert len(hosted) == 1 and nb.cells.index(hosted[0]) == next(
        i for i, c in enumerate(nb.cells) if c.cell_type == "code"), "the hosted cell is the first code cell"
    return hosted[0]


def run_cells(folder: Path, *sources: str | None, kernel: str = "python3") -> list[nbformat.NotebookNode]:
    """Run the hosted cell (for each None) and other cells in one kernel started in folder."""
    cells = [first_cell() if s is None else nbformat.v4.new_code_cell(s) for s in sources]
    nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(c, outputs=[])) for c in cells])
    NotebookClient(nb, timeout=300, kernel_name=kernel, allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb.cells


def printed(cell, stream: str = "stdout") -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == stream)


def errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


@pytest.fixture
def published(tmp_path) -> str:
    """The project as its publisher serves it: a git repository of this working tree (tracked files and new ones
    git does not ignore), tagged by `.ci/publish.py --tag`, which must make the notebook's PROJECT_REF."""
    origin = tmp_path / "origin"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (origin / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, origin / name)
    ref = re.search(r'PROJECT_REF = "([^"]+)"', first_cell().source)[1]
    git = ["git", "-c", "user.name=publisher", "-c", "user.email=p@example.org", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "published"]):
        subprocess.run([*git, *args], cwd=origin, check=True)
    subprocess.run([sys.executable, ".ci/publish.py", "--tag"], cwd=origin, check=True)
    assert subprocess.run(["git", "tag"], cwd=origin, capture_output=True, text=True).stdout.split() == [ref]
    return origin.as_uri()


@pytest.fixture
def fresh_kernel(tmp_path, monkeypatch) -> str:
    """A kernel in a fresh virtual environment that has the lesson's dependencies (this environment's
    site-packages, through a .pth file: no 5 GB reinstall of torch) and not the lesson itself."""
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "lesson_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    spec = tmp_path / "jupyter" / "kernels" / "fresh"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [str(python), "-m", "ipykernel_launcher", "-f",
                                                           "{connection_file}"], "display_name": "fresh venv",
                                                  "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return "fresh"


def run_to_the_first_stub(alone: Path, kernel: str) -> tuple[list, nbformat.NotebookNode]:
    """Run the student notebook in `alone` cell by cell, as Run All does, up to the check that fails on the first
    stub; then a probe cell: where helpers was imported from, and the shipped generator's conv_dim."""
    nb = nbformat.read(alone / "face_generation_student.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name=kernel, resources={"metadata": {"path": str(alone)}})
    ran = []
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            ran.append(cell)
            try:
                client.execute_cell(cell, i)
            except Exception:  # noqa: BLE001 - the first stub stops the run, as Run All would
                break
        probe = nbformat.v4.new_code_cell("print(helpers.__file__, helpers.load_pretrained().conv_dim)")
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1)
    return ran, probe


def assert_ran_to_the_first_stub_from_the_package(ran, probe, tmp_path) -> None:
    installed, *rest = ran
    assert printed(installed).startswith("Installed the lesson's helpers (v"), printed(installed)
    stopped = rest[-1]
    assert "check_scale" in stopped.source, "the run should stop at the check right after the first stub"
    assert printed(stopped, "stderr").startswith("Not implemented yet: step 3, scale"), stopped.outputs
    assert not any(errors(c) for c in ran[:-1]), [errors(c) for c in ran]
    where, conv_dim = printed(probe).split()
    assert Path(where).is_relative_to(tmp_path / "fresh") and conv_dim == "32", "the package holds the generator"


def assert_no_secrets(alone: Path) -> None:
    """No file in the learner's folder (the wheel's members included) holds a solution or the teacher's notes."""
    for path in alone.rglob("*"):
        if path.is_file() and path.suffix == ".whl":
            with zipfile.ZipFile(path) as wheel:
                texts = {f"{path.name}:{n}": wheel.read(n).decode(errors="replace") for n in wheel.namelist()
                         if n.endswith((".py", ".json", "METADATA"))}
        elif path.is_file() and path.suffix in (".ipynb", ".py", ".md", ".txt", ".json", ""):
            texts = {str(path): path.read_text(errors="replace")}
        else:
            continue
        for where, text in texts.items():
            assert not any(secret in text for secret in SECRETS), f"{where} holds a solution or the teacher's notes"


def test_opened_alone_with_the_projects_address_it_installs_the_lesson_at_the_notebooks_tag(tmp_path, monkeypatch,
                                                                                         published, fresh_kernel):
    """The first cell alone (the wheel's test below runs the notebook on to its first stub)."""
    alone = tmp_path / "colab"
    alone.mkdir()
    monkeypatch.setenv("FACEGEN_PROJECT_URL", published)
    installed, probe = run_cells(alone, None, "import helpers\nprint(helpers.__file__, helpers.load_pretrained().conv_dim)",
                                 kernel=fresh_kernel)
    assert printed(installed).startswith(f"Installed the lesson's helpers (v1.0.0) from git+{published}@v1.0.0"), \
        installed.outputs
    where, conv_dim = printed(probe).split()
    assert Path(where).is_relative_to(tmp_path / "fresh") and conv_dim == "32", "the package holds the generator"
    assert os.listdir(alone) == []


def test_without_an_address_the_wheel_uploaded_beside_it_installs_offline(tmp_path, monkeypatch, fresh_kernel):
    """A course without a public repository: the teacher's release holds the helpers as a wheel
    (.ci/nbgrader_course.py builds it), which the student uploads beside the notebook; no index is reached."""
    alone = tmp_path / "colab"
    alone.mkdir()
    shutil.copy(ROOT / "face_generation_student.ipynb", alone)
    sys.path.insert(0, str(ROOT / ".ci"))
    from nbgrader_course import make_course

    course = make_course(tmp_path / "course")
    (wheel,) = course.glob("facegen_lesson-*.whl")
    shutil.copy(wheel, alone)
    for name, value in {"FACEGEN_QUICK": "1", "MPLBACKEND": "agg", "PIP_NO_INDEX": "1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("FACEGEN_OUT", "FACEGEN_PROJECT_URL"):
        monkeypatch.delenv(name, raising=False)
    ran, probe = run_to_the_first_stub(alone, fresh_kernel)
    assert_ran_to_the_first_stub_from_the_package(ran, probe, tmp_path)
    assert f"from {wheel.name}" in printed(ran[0])
    names = sorted(str(p.relative_to(alone)) for p in alone.rglob("*") if p.is_file())
    assert names[:2] == ["face_generation_student.ipynb", wheel.name], names
    assert all(n.startswith("outputs/") for n in names[2:]), names
    assert_no_secrets(alone)


def test_beside_the_project_it_does_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGEN_PROJECT_URL", (tmp_path / "nowhere").as_uri())  # would fail, were it used
    before = sorted(p.name for p in ROOT.iterdir())
    cells = run_cells(ROOT, None, "import os, helpers\nprint(os.getcwd(), helpers.__file__)")
    assert not errors(cells[0]) and printed(cells[0]) == ""
    assert printed(cells[1]).split() == [str(ROOT), str(ROOT / "helpers.py")]
    assert sorted(p.name for p in ROOT.iterdir()) == before


def test_opened_alone_without_an_address_or_a_wheel_it_says_what_to_ask_for_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("FACEGEN_PROJECT_URL", raising=False)
    (cell,) = run_cells(tmp_path, None)
    (error,) = errors(cell)
    assert error == ("RuntimeError: the lesson's helpers are not here: ask your teacher for the lesson's wheel "
                     "(facegen_lesson-1.0.0-py3-none-any.whl), upload it beside this notebook and run this cell "
                     "again (or open the notebook in the project's folder)")
    assert os.listdir(tmp_path) == []


def test_the_badges_and_the_first_cell_hold_the_one_address(tmp_path, monkeypatch):
    """.ci/publish.py writes pyproject.toml's address: the committed files hold it (an empty one now), and a
    GitHub address gives both notebooks a Colab badge at the notebook's tag."""
    publish = ROOT / ".ci" / "publish.py"
    assert subprocess.run([sys.executable, publish, "--check"], capture_output=True).returncode == 0
    copy = tmp_path / "copy"
    for name in ("pyproject.toml", "README.md", "face_generation.ipynb", ".ci/publish.py"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, copy / name)
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('repository = ""', 'repository = "https://github.com/a/b.git"'))
    assert subprocess.run([sys.executable, copy / ".ci/publish.py", "--check"], capture_output=True).returncode == 1
    subprocess.run([sys.executable, copy / ".ci/publish.py"], check=True, capture_output=True)
    readme = (copy / "README.md").read_text()
    for name in ("face_generation_student.ipynb", "face_generation.ipynb"):
        assert f"(https://colab.research.google.com/github/a/b/blob/v1.0.0/{name})" in readme
    cell = first_cell(copy / "face_generation.ipynb").source
    assert '"FACEGEN_PROJECT_URL", "https://github.com/a/b.git")' in cell and 'PROJECT_REF = "v1.0.0"' in cell
