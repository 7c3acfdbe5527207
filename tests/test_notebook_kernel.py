"""The notebook as a learner uses it: cells run one by one in a real Jupyter kernel (nbclient), the
training cell run twice, Stop pressed during training, a hyperparameter changed, the pretrained route.

Each test runs the quick configuration (1,024 faces) on the CPU, in its own output folder: the CPU recipe
trains on 820 of them (204 held out) in batches of 32, so one epoch is 25 batches, 800 faces.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "face_generation.ipynb"

ONE_EPOCH = 25 * 32  # faces in one epoch of the quick configuration on the CPU
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


def run_folder(tmp_path) -> Path:
    """The one run folder under out/runs/ (the quick configuration's)."""
    folders = [p for p in (tmp_path / "out" / "runs").iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def summary(tmp_path) -> dict:
    return json.loads((run_folder(tmp_path) / "summary.json").read_text())


def starting_weights(learner) -> list[float]:
    """A few of D's and G's weights right after the cell that initialises them (learner has run it)."""
    code = "print([round(float(p.flatten()[0]), 6) for m in (D, G) for p in m.parameters()][:6])"
    cell = nbformat.v4.new_code_cell(code)
    learner.nb.cells.append(cell)  # nbclient writes the executed cell back into the notebook
    learner.client.execute_cell(cell, len(learner.nb.cells) - 1)
    text = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
    return json.loads(text.strip().splitlines()[-1])


def what_training_may_touch(learner) -> dict:
    """The process's threads, D's and G's memory format and the optimizers' flags, in the learner's kernel."""
    code = ("import json; print(json.dumps({'threads': torch.get_num_threads(), 'contiguous': [all(p.is_contiguous() "
            "for p in m.parameters()) for m in (D, G)], 'capturable': [g.get('capturable', False) for o in "
            "(d_optimizer, g_optimizer) for g in o.param_groups]}))")
    cell = nbformat.v4.new_code_cell(code)
    learner.nb.cells.append(cell)
    learner.client.execute_cell(cell, len(learner.nb.cells) - 1)
    text = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
    return json.loads(text.strip().splitlines()[-1])


def test_the_seed_sets_the_starting_weights_and_the_checks_do_not_change_them(start_learner):
    """The bug this replaces: check_weights_init reseeded the global generator between the cell that
    builds the networks and the one that initialises them, so seeds 0 and 1 gave the same weights."""
    weights = {}
    for seed, skip_checks in (("0", False), ("1", True), ("0", True)):  # seed 1 needs no checks to differ
        learner = start_learner(FACEGEN_SEED=seed)
        init = next(i for i, c in enumerate(learner.nb.cells) if "D.apply(weights_init_normal)" in c.source)
        for i in range(init + 1):
            cell = learner.nb.cells[i]
            if cell.cell_type == "code" and not (skip_checks and "tests.check_" in cell.source):
                learner.run(i)
        weights[seed, skip_checks] = starting_weights(learner)
    assert weights["0", False] != weights["1", True], "FACEGEN_SEED must change the starting weights"
    assert weights["0", False] == weights["0", True], "running the check cells must not change the weights"


def test_rerunning_training_and_the_cells_above_it_one_rule_same_settings_resume_others_get_a_folder(learner,
                                                                                                    tmp_path):
    """In one session, as a learner goes: train; run the training cell again (complete: nothing trained, the
    summary kept); run the cells from the Hyperparameters down again, unchanged (the same run); change lr
    and run them again (a new run folder, which says why; the first run's files untouched)."""
    learner.run_until("train")
    train, hyper = learner.index("train"), learner.index("hyperparameters")
    before = what_training_may_touch(learner)
    first = learner.run(train)
    assert "Epoch   1/1" in first, first
    assert "FastStep on cpu" in first and what_training_may_touch(learner) == before, \
        "FastStep left the threads, a network's layout or an optimizer's flags changed"
    old = run_folder(tmp_path)
    files = {p: p.read_bytes() for p in old.iterdir() if p.is_file()}
    assert summary(tmp_path)["images_per_second"] > 0

    again = learner.run(train)
    assert "already complete (1 epoch;" in again and "FACEGEN_FRESH=1" in again, again
    assert "Epoch" not in again, "a complete run must not train again"
    assert {p: p.read_bytes() for p in old.iterdir() if p.is_file()} == files, "the run's files must not change"

    rebuilt = [learner.run(i) for i in range(hyper, train + 1) if learner.nb.cells[i].cell_type == "code"]
    assert "already complete" in rebuilt[-1], "rebuilding the networks unchanged is the same run: " + rebuilt[-1]

    learner.edit("hyperparameters", "lr = 2e-4 if gpu else 4e-4", "lr = 1e-4")
    outputs = [learner.run(i) for i in range(hyper, train + 1) if learner.nb.cells[i].cell_type == "code"]
    text = outputs[-1]
    assert "New run in" in text and "d_optimizer lr 0.0004 -> 0.0001" in text and "g_optimizer" in text, text
    assert "the layers of" not in text, "rebuilding the networks unchanged is the same architecture"
    assert "Epoch   1/1" in text
    assert {p: p.read_bytes() for p in old.iterdir() if p.is_file()} == files, "the first run was changed"
    assert (tmp_path / "out" / "runs" / "batch32-lr0.0001-seed0" / "summary.json").exists()

    learner.edit("hyperparameters", "lr = 1e-4", "lr = 3e-4")  # then only that cell and training: said
    learner.run(hyper)
    text = learner.run(train)
    assert "Not what the Hyperparameters cell says: d_optimizer holds lr 0.0001, not 0.0003" in text, text


def checkpoint_every_log_line(learner: Learner) -> None:
    """Edit the training cell as a learner may: a checkpoint at every log line, not every 2 minutes."""
    learner.edit("train", "settings = settings.replace(", "settings = settings.replace(checkpoint_minutes=0.001, ")


def saved_an_epoch(checkpoint: Path) -> bool:
    """Whether checkpoint.pt exists and holds at least one whole epoch."""
    import torch

    try:
        return torch.load(checkpoint, weights_only=True)["state"]["epoch"] >= 1
    except (OSError, RuntimeError, EOFError):  # not there yet, or being replaced at this instant
        return False


def test_stop_during_training_saves_and_running_the_cell_again_resumes(start_learner, tmp_path):
    learner = start_learner(FACEGEN_EPOCHS="50")  # far more than the test waits for
    checkpoint_every_log_line(learner)
    learner.run_until("train")
    checkpoint = tmp_path / "out" / "runs" / "batch32-lr0.0004-seed0" / "checkpoint.pt"
    learner.interrupt_when(lambda: saved_an_epoch(checkpoint))  # Stop, a moment after the first epoch
    text = learner.run(learner.index("train"))
    stopped = [line for line in text.splitlines() if line.startswith("Stopped at")]
    assert len(stopped) == 1 and "Run this cell again to resume" in stopped[0], text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    first = summary(tmp_path)
    assert first["stopped_by"] == "stop" and first["images_seen"] >= ONE_EPOCH, first

    mtime = checkpoint.stat().st_mtime
    learner.interrupt_when(lambda: checkpoint.stat().st_mtime > mtime)  # Stop after the next checkpoint
    again = learner.run(learner.index("train"))
    assert "Resumed" in again and "Stopped at" in again, again
    assert summary(tmp_path)["images_seen"] > first["images_seen"]


def test_two_quick_stops_then_running_again_resumes(start_learner, tmp_path):
    """The bug this replaces: after two Stops, running the cell again said "Starting fresh ... (changed:
    starting weights)", set the checkpoint aside and restarted from epoch 0."""
    learner = start_learner(FACEGEN_EPOCHS="50")
    checkpoint_every_log_line(learner)
    learner.run_until("train")
    checkpoint = tmp_path / "out" / "runs" / "batch32-lr0.0004-seed0" / "checkpoint.pt"
    pid = learner.client.km.provisioner.process.pid

    def press_twice():
        deadline = time.monotonic() + 120
        while not saved_an_epoch(checkpoint) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(pid, signal.SIGINT)
        time.sleep(0.05)
        os.kill(pid, signal.SIGINT)
    threading.Thread(target=press_twice, daemon=True).start()
    cell = learner.nb.cells[learner.index("train")]
    cell.outputs = []
    with contextlib.suppress(Exception):  # the second Stop interrupts the cell: a KeyboardInterrupt
        learner.client.execute_cell(cell, learner.index("train"))
    again = learner.interrupt_when(lambda: True, delay=3.0)  # then a single Stop, once it has resumed
    text = learner.run(learner.index("train"))
    again.join()
    resumed = re.search(r"Resumed .* done, ([\d,]+) images seen", text)
    assert resumed and "New run" not in text, text
    assert int(resumed.group(1).replace(",", "")) >= ONE_EPOCH, "it must go on from the first epoch's checkpoint at least"
    assert len(list((tmp_path / "out" / "runs").iterdir())) == 1, "one run, one folder"


def test_the_pretrained_route_runs_every_cell_with_any_correct_generator_and_conv_dim(start_learner, tmp_path):
    """The pretrained route as a GPU builds the networks (conv_dim 64), with a learner's Generator whose transpose
    convolutions keep their biases (correct, as hint 2 writes them): neither could hold the shipped weights
    (conv_dim 32, no such biases), so the route must never load them into the learner's G."""
    learner = start_learner(FACEGEN_PRETRAINED="1", FACEGEN_FID_SAMPLES="16")  # FID too, as on a GPU
    learner.edit("hyperparameters", "conv_dim = 64 if gpu else 32", "conv_dim = 64")
    generator = next(c for c in learner.nb.cells if c.source.startswith("class Generator"))
    assert generator.source.count(", bias=False)") == 3
    generator.source = generator.source.replace(", bias=False)", ")")
    texts = [learner.run(i) for i, c in enumerate(learner.nb.cells) if c.cell_type == "code"]
    assert any("nothing was trained here" in t for t in texts)
    assert any("trained no G of yours" in t for t in texts), "experiment 1 says why it has nothing to compare"
    assert run_folder(tmp_path).name == "pretrained"
    assert (run_folder(tmp_path) / "samples.png").exists() and not (run_folder(tmp_path) / "checkpoint.pt").exists()
    assert summary(tmp_path)["trained_here"] is False and summary(tmp_path)["fid_samples"] == 16
    assert not any("Epoch" in t for t in texts)


def test_more_minutes_as_the_message_says_resumes_and_trains_the_new_limit(start_learner, tmp_path):
    """A laptop's run stops at its time limit and says to set minutes in the settings cell, run it, then the
    training cell again: done as it says, training resumes and runs the new limit (no environment variable)."""
    learner = start_learner(FACEGEN_EPOCHS="200")  # many epochs: the time limit ends both sittings
    learner.edit("parameters", "minutes = None", "minutes = 0.03")
    for i in range(learner.index("train")):  # the cells up to training; the checks' cells change nothing here
        if learner.nb.cells[i].cell_type == "code" and "tests.check_" not in learner.nb.cells[i].source:
            learner.run(i)
    first = learner.run(learner.index("train"))
    assert "Stopped after the time limit of 0.03 minutes" in first, first
    assert "more minutes (minutes = 30 in the settings cell at the top: run it, then this cell again" in first
    seen = summary(tmp_path)["images_seen"]
    learner.edit("parameters", "minutes = 0.03", "minutes = 0.06")
    learner.run(learner.index("parameters"))
    again = learner.run(learner.index("train"))
    assert "Stopped after the time limit of 0.06 minutes" in again, again
    after = summary(tmp_path)
    assert after["resumed"] and after["images_seen"] > seen, after
    assert 3.3 <= after["seconds_this_session"] <= 5.5, after
