"""facegen/runs.py, through helpers.train: which checkpoint belongs to this run.

Running the same setup again resumes (or says the run is already complete); changing anything that
changes what training does (the optimizers' lr or betas, label smoothing, the weight average, the
seed, the batch size, the images, train_step's code or the code of a function it calls, the starting
weights, the architecture) starts fresh, names what changed and keeps the old checkpoint as
checkpoint.replaced.pt. A corrupt checkpoint falls back to the previous one or starts fresh, and a
run killed with kill -9 resumes to the very losses of an uninterrupted run.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import helpers
from benchmarks.notebook import NOTEBOOK
from facegen import checkpoints, fast_step, progress
from tests.builders import ROOT, assert_resumable, run_train

STEPS_PER_EPOCH = 64 // 16  # run_train's default: 64 images in batches of 16


# --- The same run, or another one: the resume key ----------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(nb, tmp_path_factory) -> Path:
    """A finished one-epoch run of run_train's default setup (its out_dir); copy it before use."""
    out = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as m:  # as the no_loss_plot fixture does
        m.setattr(helpers, "plot_losses", lambda history, path=None, show=True: None)
        run_train(nb, out, epochs=1)
    return out


@pytest.fixture
def finished(finished_run, tmp_path) -> Path:
    """A private copy of the finished one-epoch run."""
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


@pytest.fixture
def steps_run(monkeypatch) -> list:
    """Counts the training steps train() runs (StepRunner calls), whatever train_step is."""
    calls = []
    real_call = fast_step.StepRunner.__call__

    def counting_call(self, real):
        calls.append(len(real))
        return real_call(self, real)

    monkeypatch.setattr(fast_step.StepRunner, "__call__", counting_call)
    return calls


def notebook_cell_defining(name: str) -> str:
    """The source of the notebook's solution cell that defines `name`."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return next("".join(c["source"]) for c in cells if f"def {name}(" in "".join(c["source"]))


def train_step_calling(nb: dict, real_loss_source: str):
    """The notebook's train_step, unchanged, but with real_loss defined by real_loss_source."""
    namespace = dict(nb)
    exec(compile(real_loss_source, "edited real_loss", "exec"), namespace)  # noqa: S102
    step = nb["train_step"]
    return types.FunctionType(step.__code__, namespace, step.__name__, step.__defaults__)


def edited_train_step(nb: dict):
    """A train_step with other code (it calls the notebook's and returns its result)."""
    namespace = {**nb, "notebook_train_step": nb["train_step"]}
    exec("def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):\n"  # noqa: S102
         "    losses = notebook_train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth)\n"
         "    return losses\n", namespace)
    return namespace["train_step"]


def changed_in(out: str) -> list[str]:
    """What the "Starting fresh" line says changed."""
    match = re.search(r"Starting fresh: .* \(changed: (.*)\); it is kept as checkpoint\.replaced\.pt", out)
    assert match, f"no 'Starting fresh ... (changed: ...)' line in {out!r}"
    return match.group(1).split(", ")


EDITED_REAL_LOSS = "real-loss-0.8"

CHANGES = {  # what is changed (run_train's keyword arguments) -> what the message must name
    "lr": ({"optimizer": {"lr": 1e-4}}, ["d_optimizer", "g_optimizer"]),
    "g-betas": ({"optimizer": {"g_betas": (0.4, 0.999)}}, ["g_optimizer"]),
    "d-lr": ({"optimizer": {"g_lr": 2e-4, "lr": 3e-4}}, ["d_optimizer"]),
    "smooth": ({"smooth": False}, ["smooth"]),
    "ema-decay": ({"ema_decay": 0.99}, ["ema_decay"]),
    "no-ema": ({"ema_decay": None}, ["ema_decay"]),
    "seed": ({"seed": 1}, ["seed"]),
    "batch-size": ({"batch_size": 8}, ["batch_size"]),
    "other-images": ({"n_images": 48}, ["data"]),
    "train-step-code": ("edited-train-step", ["train_step"]),
    "real-loss-code": (EDITED_REAL_LOSS, ["train_step"]),
    "other-starting-weights": ({"init_seed": 5}, ["starting weights (the networks were rebuilt or re-initialised)"]),
    "architecture": ({"conv_dim": 4}, ["architecture"]),
}


def changed_setup(nb: dict, which) -> dict:
    if which == "edited-train-step":
        return {"train_step": edited_train_step(nb)}
    if which == EDITED_REAL_LOSS:
        source = notebook_cell_defining("real_loss")
        edited = source.replace("0.9 if smooth", "0.8 if smooth")
        assert edited != source, "the notebook's real_loss no longer smooths to 0.9: update this test"
        return {"train_step": train_step_calling(nb, edited)}
    return which


@pytest.mark.parametrize("change", CHANGES)
def test_a_changed_setup_starts_fresh_names_what_changed_and_keeps_the_old_checkpoint(nb, finished, capsys,
                                                                                       no_loss_plot, change):
    which, names = CHANGES[change]
    kw = changed_setup(nb, which)
    old = checkpoints.load_checkpoint(finished / "checkpoint.pt")
    capsys.readouterr()
    result = run_train(nb, finished, epochs=1, **kw)
    out = capsys.readouterr().out
    changed = changed_in(out)
    assert changed == names, f"{change}: the message names {changed}, expected {names}"
    assert "Resumed" not in out and not result.summary["resumed"]
    assert result.summary["epochs_completed"] == 1 and result.summary["images_seen"] == kw.get("n_images", 64)
    replaced = checkpoints.load_checkpoint(finished / "checkpoint.replaced.pt")
    assert replaced is not None and replaced["epoch"] == 1, "the old run is kept"
    assert (replaced["key"], replaced["start_weights"]) == (old["key"], old["start_weights"]), "and not another"
    new = checkpoints.load_checkpoint(finished / "checkpoint.pt")
    assert (new["key"], new["start_weights"]) != (old["key"], old["start_weights"]), "checkpoint.pt is the new run"


@pytest.mark.parametrize("same", ["notebook-train-step", "rebuilt-train-step"])
def test_the_same_setup_resumes(nb, finished, capsys, steps_run, no_loss_plot, same):
    """The same setup (also with train_step rebuilt from the same code and the same real_loss) resumes."""
    kw = {"train_step": train_step_calling(nb, notebook_cell_defining("real_loss"))} \
        if same == "rebuilt-train-step" else {}
    capsys.readouterr()
    result = run_train(nb, finished, epochs=2, **kw)
    out = capsys.readouterr().out
    assert "Resumed from" in out and "Starting fresh" not in out, out
    assert not (finished / "checkpoint.replaced.pt").exists()
    assert result.summary["resumed"] and result.summary["epochs_completed"] == 2
    assert len(steps_run) == STEPS_PER_EPOCH, "only the second epoch is trained"


def test_a_finished_run_trained_again_is_already_complete_and_changes_nothing(nb, finished, capsys, steps_run,
                                                                                no_loss_plot):
    files = {name: (finished / name).read_bytes() for name in ("summary.json", "checkpoint.pt", "samples.png")}
    assert json.loads(files["summary.json"])["images_per_second"] > 0
    capsys.readouterr()
    result = run_train(nb, finished, epochs=1)
    out = capsys.readouterr().out
    assert "already complete" in out and "Starting fresh" not in out, out
    assert "set epochs above 1 (FACEGEN_EPOCHS)" in out and "FACEGEN_FRESH=1" in out, \
        f"it should say how to train further and how to start over: {out!r}"
    assert steps_run == [], "a finished run must not train"
    for name, data in files.items():
        assert (finished / name).read_bytes() == data, f"{name} was rewritten"
    assert result.summary == json.loads(files["summary.json"]) and result.summary["images_per_second"] > 0
    assert result.summary["epochs_completed"] == 1 and len(result.samples_per_epoch) == 1


def test_more_epochs_after_a_finished_run_trains_only_the_extra_ones(nb, finished, capsys, steps_run, no_loss_plot):
    capsys.readouterr()
    result = run_train(nb, finished, epochs=3)
    out = capsys.readouterr().out
    assert "Resumed from" in out and "epoch 1 done" in out, out
    assert len(steps_run) == 2 * STEPS_PER_EPOCH, f"{len(steps_run)} steps for 2 extra epochs"
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["epochs_completed"] == 3 and summary["images_seen"] == 3 * 64 and summary["resumed"]
    assert summary["images_per_second"] > 0
    assert result.history["step"] == [2, 4, 6, 8, 10, 12] and len(result.samples_per_epoch) == 3


def stop_on(nb: dict, step_number: list):
    """train_step that presses Stop (SIGINT to this process) during step number step_number[0] (1-based).
    The same code whatever step_number holds, so the run key does not change between calls."""
    notebook_step, calls = nb["train_step"], []

    def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
        calls.append(1)
        if step_number and len(calls) == step_number[0]:
            os.kill(os.getpid(), signal.SIGINT)
        return notebook_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth)
    return train_step


def test_a_stop_on_an_epochs_last_step_completes_the_epoch_and_the_resumed_run_reports_its_speed(
        nb, tmp_path, capsys, sigint_guard, no_loss_plot):
    when = [STEPS_PER_EPOCH]  # Stop during the last step of the first of two epochs
    first = run_train(nb, tmp_path, epochs=2, train_step=stop_on(nb, when))
    assert first.summary["stopped_by"] == "stop" and first.summary["images_per_second"] > 0
    assert first.summary["epochs_completed"] == 1 and len(first.samples_per_epoch) == 1, "the epoch was complete"
    when.clear()
    capsys.readouterr()
    again = run_train(nb, tmp_path, epochs=2, train_step=stop_on(nb, when))
    assert "Resumed" in capsys.readouterr().out
    assert again.summary["epochs_completed"] == 2
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert sigint_guard == [], "the Stop reached the test's guard, not train()"
    assert summary["images_per_second"] > 0, f"summary.json says images_per_second {summary['images_per_second']}"


def test_a_stop_on_the_runs_very_last_step_is_a_finished_run(nb, tmp_path, sigint_guard, no_loss_plot):
    result = run_train(nb, tmp_path, epochs=1, train_step=stop_on(nb, [STEPS_PER_EPOCH]))
    assert result.summary["stopped_by"] == "epochs" and result.summary["epochs_completed"] == 1


# --- A corrupt or foreign checkpoint ----------------------------------------------------------------------

def test_train_resumes_from_previous_when_checkpoint_is_truncated(nb, tmp_path, capsys):
    run_train(nb, tmp_path, epochs=2)
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:1000])
    capsys.readouterr()
    result = run_train(nb, tmp_path, epochs=3)
    out = capsys.readouterr().out
    assert "unreadable" in out and "Resumed from " + str(path.with_suffix(".prev.pt")) in out, out
    assert result.summary["resumed"] and result.summary["epochs_completed"] == 3
    assert result.history["step"] == [2, 4, 6, 8, 10, 12], "history must be the full 3 epochs, once each"
    assert len(result.samples_per_epoch) == 3
    assert_resumable(path, epoch=3)


def test_previous_checkpoint_from_another_setup_is_the_one_set_aside(nb, tmp_path, capsys):
    run_train(nb, tmp_path, epochs=2)
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:1000])  # unreadable: the state comes from checkpoint.prev.pt
    capsys.readouterr()
    result = run_train(nb, tmp_path, epochs=1, conv_dim=16)
    out = capsys.readouterr().out
    assert f"Starting fresh: {path.with_suffix('.prev.pt')} is from a different setup" in out, out
    assert not result.summary["resumed"]
    assert checkpoints.load_checkpoint(path.with_suffix(".replaced.pt"))["epoch"] == 1, "the set-aside file is the one read"


def test_train_starts_fresh_when_checkpoint_is_garbage(nb, tmp_path, capsys):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(os.urandom(4096))
    result = run_train(nb, tmp_path, epochs=1)
    out = capsys.readouterr().out
    assert "checkpoint.pt" in out and "unreadable" in out, out
    assert not result.summary["resumed"] and result.summary["epochs_completed"] == 1
    assert result.history["step"] == [2, 4]
    assert_resumable(path, epoch=1)


@pytest.mark.parametrize("content", ["tensor", "list"])
def test_checkpoint_that_holds_something_else_means_start_fresh(nb, tmp_path, capsys, content):
    """A readable file that is no training checkpoint (e.g. a tensor saved over it): start fresh, say so."""
    path = tmp_path / "checkpoint.pt"
    torch.save(torch.zeros(3) if content == "tensor" else [1, 2, 3], path)
    result = run_train(nb, tmp_path, epochs=1)
    assert not result.summary["resumed"] and result.summary["epochs_completed"] == 1
    assert "checkpoint.pt" in capsys.readouterr().out
    assert_resumable(path, epoch=1)


def test_only_previous_checkpoint_from_another_setup(nb, tmp_path, capsys):
    """A kill between save_checkpoint's two renames leaves only checkpoint.prev.pt; then conv_dim changes."""
    run_train(nb, tmp_path, epochs=1, conv_dim=8)
    os.replace(tmp_path / "checkpoint.pt", tmp_path / "checkpoint.prev.pt")
    capsys.readouterr()
    result = run_train(nb, tmp_path, epochs=1, conv_dim=4)
    out = capsys.readouterr().out
    assert "Starting fresh" in out and "architecture" in out, out
    assert not result.summary["resumed"] and result.summary["epochs_completed"] == 1


# --- Kill -9 during training, then run again ---------------------------------------------------------

DRIVER = """
import json, sys, time
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
import helpers
from benchmarks.notebook import load_notebook_code

out_dir, epochs, conv_dim, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
nb = load_notebook_code()
torch.manual_seed(0)
images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
loader = helpers.get_dataloader(32, images=images, scale=nb["scale"])
D, G = nb["Discriminator"](conv_dim=conv_dim), nb["Generator"](conv_dim=conv_dim)
D.apply(nb["weights_init_normal"]); G.apply(nb["weights_init_normal"])
d_opt = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
g_opt = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))

def step(*args, **options):
    print("STEP", flush=True)
    time.sleep(delay)
    return nb["train_step"](*args, **options)

result = helpers.train(D, G, d_opt, g_opt, step, loader, epochs=epochs, z_size=100, device=torch.device("cpu"),
                       out_dir=out_dir, precision="fp32", eager=True, sample_size=16,
                       checkpoint_minutes=0.001)
print("HISTORY", json.dumps(result.history), flush=True)
"""
EPOCHS = 4
DRIVER_STEPS_PER_EPOCH = 256 // 32


def start_driver(tmp_path: Path, out_dir: Path, log: Path, conv_dim: int = 8, delay: float = 0.0):
    script = tmp_path / "driver.py"
    if not script.exists():
        script.write_text(DRIVER.format(root=str(ROOT)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    with open(log, "w") as f:
        return subprocess.Popen([sys.executable, str(script), str(out_dir), str(EPOCHS), str(conv_dim), str(delay)],
                                stdout=f, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)


def finish(proc: subprocess.Popen, log: Path, timeout: float = 60) -> str:
    try:
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, f"driver failed (rc {proc.returncode}):\n{text[-3000:]}"
    return text


def epochs_printed(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"Epoch\s+(\d+)/\d+", text)]


def history_of(text: str) -> dict:
    return json.loads(re.search(r"^HISTORY (.*)$", text, re.M).group(1))


@pytest.mark.slow
def test_kill9_during_training_then_resume(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    procs = []
    try:
        # An uninterrupted run to compare with, and the run we kill, side by side.
        procs.append(ref := start_driver(tmp_path, whole, tmp_path / "whole.log"))
        procs.append(victim := start_driver(tmp_path, killed, tmp_path / "run1.log", delay=0.04))
        deadline = time.monotonic() + 45
        while not ((killed / "checkpoint.pt").exists() and "Epoch   2/" in (tmp_path / "run1.log").read_text()):
            log1 = (tmp_path / "run1.log").read_text()
            assert victim.poll() is None, "the run ended before it could be killed:\n" + log1
            assert time.monotonic() < deadline, "no checkpoint appeared:\n" + log1
            time.sleep(0.01)
        time.sleep(0.1)  # a few steps into epoch 3, between checkpoints
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        assert victim.returncode == -signal.SIGKILL
        run1 = (tmp_path / "run1.log").read_text()
        assert not (killed / "summary.json").exists(), "the killed run must not have finished"
        reference = history_of(finish(ref, tmp_path / "whole.log"))

        # Run again: it resumes; meanwhile the finished reference run is re-run with another conv_dim.
        procs.append(again := start_driver(tmp_path, killed, tmp_path / "run2.log"))
        procs.append(other := start_driver(tmp_path, whole, tmp_path / "run3.log", conv_dim=4))
        run2 = finish(again, tmp_path / "run2.log")
        run3 = finish(other, tmp_path / "run3.log")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    assert "Resumed" in run2, run2[-2000:]
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["epochs_completed"] == EPOCHS and summary["resumed"] is True
    assert summary["images_seen"] == EPOCHS * 256
    history = history_of(run2)
    log_every = max(1, min(50, DRIVER_STEPS_PER_EPOCH // 4))
    assert history["step"] == list(range(log_every, EPOCHS * DRIVER_STEPS_PER_EPOCH + 1, log_every)), \
        "the history must hold every logged step exactly once"
    assert history["epoch"] == [1 + (s - 1) // DRIVER_STEPS_PER_EPOCH for s in history["step"]]
    # At most one epoch redone: the steps of both sessions together exceed the run's by < one epoch,
    # and the resumed session prints no epoch that the killed one had already finished and saved.
    steps1, steps2 = run1.count("STEP"), run2.count("STEP")
    redone = steps1 + steps2 - EPOCHS * DRIVER_STEPS_PER_EPOCH
    assert 0 <= redone <= DRIVER_STEPS_PER_EPOCH, f"{redone} steps redone ({steps1} + {steps2})"
    assert min(epochs_printed(run2)) >= max(epochs_printed(run1)), (epochs_printed(run1), epochs_printed(run2))
    # Nothing was lost or changed: the resumed run's losses are the uninterrupted run's.
    for key in progress.HISTORY_KEYS[2:]:
        np.testing.assert_allclose(history[key], reference[key], rtol=1e-4, atol=1e-5, err_msg=key)

    # Changing the model (conv_dim 8 -> 4) between runs starts fresh, says why and keeps the old checkpoint.
    assert "Starting fresh" in run3 and "architecture" in run3, run3[-2000:]
    assert "Resumed" not in run3
    summary3 = json.loads((whole / "summary.json").read_text())
    assert summary3["epochs_completed"] == EPOCHS and summary3["resumed"] is False
    assert (whole / "checkpoint.replaced.pt").exists()
    assert checkpoints.load_checkpoint(whole / "checkpoint.replaced.pt")["epoch"] == EPOCHS
