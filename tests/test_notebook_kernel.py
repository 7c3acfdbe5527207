"""The notebook as a learner uses it: cells run one by one in a real Jupyter kernel (nbclient), the
training cell run twice, Stop pressed during training, a hyperparameter changed, the pretrained route.

Each test runs the quick configuration (1,024 faces) on the CPU, in its own output folder.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "face_generation.ipynb"

pytestmark = pytest.mark.slow


class Learner:
    """A kernel and the notebook's cells; run(i) executes cell i as Shift-Enter would."""

    def __init__(self, client: NotebookClient, nb):
        self.client, self.nb = client, nb

    def index(self, tag: str) -> int:
        return next(i for i, c in enumerate(self.nb.cells) if tag in c.metadata.get("tags", []))

    def run(self, i: int) -> str:
        """Execute cell i; return what it printed (stdout: the progress bar goes to stderr). An error
        output fails the test."""
        cell = self.nb.cells[i]
        cell.outputs = []
        self.client.execute_cell(cell, i)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"cell {i} raised {errors[0].ename}: {errors[0].evalue}\n{cell.source[:300]}"
        return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")

    def run_until(self, tag: str) -> None:
        """Run every cell before the one tagged `tag`."""
        for i in range(self.index(tag)):
            if self.nb.cells[i].cell_type == "code":
                self.run(i)

    def edit(self, tag: str, old: str, new: str) -> None:
        cell = self.nb.cells[self.index(tag)]
        assert old in cell.source, f"{old!r} not in the cell tagged {tag}"
        cell.source = cell.source.replace(old, new)

    def interrupt_when(self, ready, delay: float = 0.5) -> threading.Thread:
        """Press Stop (SIGINT to the kernel, as Jupyter's interrupt does) once ready() is true."""
        pid = self.client.km.provisioner.process.pid

        def is_ready() -> bool:
            try:
                return ready()
            except OSError:  # e.g. checkpoint.pt is being replaced at this instant
                return False

        def press():
            deadline = time.monotonic() + 120
            while not is_ready() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(delay)
            os.kill(pid, signal.SIGINT)

        thread = threading.Thread(target=press, daemon=True)
        thread.start()
        return thread


@pytest.fixture
def start_learner(tmp_path, monkeypatch):
    """start_learner(FACEGEN_X="...") -> a Learner over a fresh kernel started with that environment
    (the quick configuration on the CPU, outputs in tmp_path/out)."""
    stack = contextlib.ExitStack()

    def start(**env: str) -> Learner:
        defaults = {"FACEGEN_QUICK": "1", "FACEGEN_OUT": str(tmp_path / "out"), "MPLBACKEND": "agg",
                    "FACEGEN_DEVICE": "cpu"}
        for name in ("FACEGEN_EPOCHS", "FACEGEN_PRETRAINED", "FACEGEN_FRESH", "FACEGEN_MINUTES", "FACEGEN_EAGER"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {**defaults, **env}.items():
            monkeypatch.setenv(name, value)
        nb = nbformat.read(NOTEBOOK, as_version=4)
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
        stack.enter_context(client.setup_kernel())
        return Learner(client, nb)

    with stack:
        yield start


@pytest.fixture
def learner(start_learner) -> Learner:
    return start_learner()


def summary(tmp_path) -> dict:
    return json.loads((tmp_path / "out" / "summary.json").read_text())


def test_rerunning_a_finished_training_cell_says_it_is_complete_and_keeps_the_summary(learner, tmp_path):
    learner.run_until("train")
    train = learner.index("train")
    first = learner.run(train)
    assert "Epoch   1/1" in first, first
    before = (tmp_path / "out" / "summary.json").read_bytes()
    assert summary(tmp_path)["images_per_second"] > 0

    again = learner.run(train)
    assert "already complete (1 epoch;" in again and "FACEGEN_FRESH=1" in again, again
    assert "Epoch" not in again, "a complete run must not train again"
    assert (tmp_path / "out" / "summary.json").read_bytes() == before, "the summary must not be overwritten"


def test_changing_a_hyperparameter_and_rerunning_starts_fresh_and_says_why(learner, tmp_path):
    learner.run_until("train")
    train, hyper = learner.index("train"), learner.index("hyperparameters")
    learner.run(train)
    learner.edit("hyperparameters", "lr = 2e-4", "lr = 1e-4")
    outputs = [learner.run(i) for i in range(hyper, train + 1) if learner.nb.cells[i].cell_type == "code"]
    text = outputs[-1]
    assert "Starting fresh" in text and "d_optimizer" in text and "g_optimizer" in text, text
    assert "starting weights" not in text, "rebuilding the networks with the same seed is the same start"
    assert "Epoch   1/1" in text
    assert (tmp_path / "out" / "checkpoint.replaced.pt").exists()


def test_rebuilding_the_networks_unchanged_is_the_same_run(learner, tmp_path):
    learner.run_until("train")
    train, hyper = learner.index("train"), learner.index("hyperparameters")
    learner.run(train)
    outputs = [learner.run(i) for i in range(hyper, train + 1) if learner.nb.cells[i].cell_type == "code"]
    assert "already complete" in outputs[-1], outputs[-1]


def test_stop_during_training_saves_and_running_the_cell_again_resumes(start_learner, tmp_path):
    learner = start_learner(FACEGEN_EPOCHS="50")  # far more than the test waits for
    learner.run_until("train")
    checkpoint = tmp_path / "out" / "checkpoint.pt"
    learner.interrupt_when(checkpoint.exists)  # Stop, a moment after the first epoch's checkpoint
    text = learner.run(learner.index("train"))
    stopped = [line for line in text.splitlines() if line.startswith("Stopped at")]
    assert len(stopped) == 1 and "Run this cell again to resume" in stopped[0], text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    first = summary(tmp_path)
    assert first["stopped_by"] == "stop" and first["images_seen"] >= 1024, first

    mtime = checkpoint.stat().st_mtime
    learner.interrupt_when(lambda: checkpoint.stat().st_mtime > mtime)  # Stop after the next checkpoint
    again = learner.run(learner.index("train"))
    assert "Resumed from" in again and "Stopped at" in again, again
    assert summary(tmp_path)["images_seen"] > first["images_seen"]


def test_the_pretrained_route_writes_its_own_outputs(start_learner, tmp_path):
    learner = start_learner(FACEGEN_PRETRAINED="1", FACEGEN_FID_SAMPLES="16")  # FID too, as on a GPU
    texts = [learner.run(i) for i, c in enumerate(learner.nb.cells) if c.cell_type == "code"]
    assert any("nothing was trained here" in t for t in texts)
    out = tmp_path / "out"
    assert (out / "samples.png").exists() and not (out / "checkpoint.pt").exists()
    assert summary(tmp_path)["trained_here"] is False and summary(tmp_path)["fid_samples"] == 16
    assert not any("Epoch" in t for t in texts)
