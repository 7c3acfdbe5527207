"""facegen/runs.py, through helpers.train: runs you can see.

A run is a folder outputs/runs/<name>/ whose settings.json holds its settings as plain values. The
same settings resume (or say the run is already complete); other settings (the optimizers' lr or
betas, label smoothing, the weight average, the seed, the batch size, the images, the architecture)
get a new folder beside it, say in one line what differs, and leave every file of the other run as
it was. Code and starting weights are not compared (no hashing): an edited train_step resumes, and
FACEGEN_FRESH (fresh=True) starts a new folder on purpose. A corrupt checkpoint falls back to the
previous one or starts fresh, and a run killed with kill -9 resumes to the very losses of an
uninterrupted run.
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
from pathlib import Path

import numpy as np
import pytest
import torch

import helpers
from facegen import FacegenError, checkpoints, pictures, progress, runs
from tests.builders import ROOT, TRAIN_DEFAULTS, Killed, assert_resumable, nets, one_line, random_images, run_train, scale

STEPS_PER_EPOCH = 64 // 16  # run_train's default: 64 images in batches of 16
RUN = "batch16-lr0.0002-seed0"  # run_train's default run folder


def folder_files(root: Path) -> dict[str, bytes]:
    """Every file below root and its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- The same run, or another one --------------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(nb, tmp_path_factory) -> Path:
    """A finished one-epoch run of run_train's default setup (its out_dir); copy it before use."""
    out = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as m:  # as the no_loss_plot fixture does
        m.setattr(helpers, "plot_losses", lambda history, path=None, show=True, smooth=None: None)
        run_train(nb, out, epochs=1)
    return out


@pytest.fixture
def finished(finished_run, tmp_path) -> Path:
    """A private copy of the finished one-epoch run's out_dir."""
    return Path(shutil.copytree(finished_run, tmp_path / "out"))


def counting(step, calls: list):
    """step, recording the batch size of each call in calls."""
    def counting_step(*args, **kw):
        calls.append(len(args[4]))
        return step(*args, **kw)
    return counting_step


@pytest.fixture
def steps_run(nb) -> tuple:
    """(the notebook's train_step counting its calls, the list of batch sizes it was called with)."""
    calls = []
    return counting(nb["train_step"], calls), calls


def test_the_first_run_gets_a_readable_folder_with_its_settings(finished):
    folder = finished / "runs" / RUN
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["seed"] == 0 and settings["batch_size"] == 16 and settings["images"] == 64
    assert settings["d_optimizer"]["lr"] == 2e-4 and settings["g_optimizer"]["betas"] == [0.5, 0.999]
    assert settings["smooth"] is True and settings["ema_decay"] == 0.999 and settings["z_size"] == 100
    assert any("Conv2d" in line for line in settings["D"]) and any("Tanh" in line for line in settings["G"])
    assert {"checkpoint.pt", "samples.png", "summary.json"} <= set(os.listdir(folder))
    assert json.loads((folder / "summary.json").read_text())["run"].endswith(f"runs/{RUN}")


CHANGES = {  # what is changed (run_train's keyword arguments) -> what the one line must name
    "lr": ({"optimizer": {"lr": 1e-4}}, ["d_optimizer lr 0.0002 -> 0.0001", "g_optimizer lr 0.0002 -> 0.0001"]),
    "g-betas": ({"optimizer": {"g_betas": (0.4, 0.999)}}, ["g_optimizer betas [0.5, 0.999] -> [0.4, 0.999]"]),
    "d-lr": ({"optimizer": {"g_lr": 2e-4, "lr": 3e-4}}, ["d_optimizer lr 0.0002 -> 0.0003"]),
    "smooth": ({"smooth": False}, ["smooth True -> False"]),
    "ema-decay": ({"ema_decay": 0.99}, ["ema_decay 0.999 -> 0.99"]),
    "no-ema": ({"ema_decay": None}, ["ema_decay 0.999 -> None"]),
    "seed": ({"seed": 1}, ["seed 0 -> 1"]),
    "batch-size": ({"batch_size": 8}, ["batch_size 16 -> 8"]),
    "other-images": ({"n_images": 48}, ["images 64 -> 48"]),
    "faces": ({"faces": "zip: other.zip"}, ["faces '' -> 'zip: other.zip'"]),
    "architecture": ({"conv_dim": 4}, ["the layers of D", "the layers of G"]),
}


@pytest.mark.parametrize("change", CHANGES)
def test_other_settings_get_a_new_folder_say_what_differs_and_leave_the_old_run_alone(nb, finished, capsys,
                                                                                      no_loss_plot, change):
    kw, names = CHANGES[change]
    before = folder_files(finished / "runs")
    capsys.readouterr()
    result = run_train(nb, finished, epochs=1, **kw)
    out = capsys.readouterr().out
    line = next((x for x in out.splitlines() if x.startswith("New run in ")), "")
    assert line, out
    assert f"the last run, {finished / 'runs' / RUN}/, has other settings" in line, line
    for name in names:
        assert name in line, f"{change}: {name!r} not in {line!r}"
    assert "Resumed" not in out and not result.summary["resumed"]
    assert result.folder.parent == finished / "runs" and result.folder.name != RUN
    assert result.summary["epochs_completed"] == 1 and result.summary["images_seen"] == kw.get("n_images", 64)
    after = folder_files(finished / "runs")
    assert {k: v for k, v in after.items() if k in before} == before, "a file of the other run was changed"
    again = run_train(nb, finished, epochs=1, **kw)
    assert again.folder == result.folder, "the same changed settings find their own folder again"


def edited_train_step(nb: dict):
    """A train_step with other code (it calls the notebook's and returns its result)."""
    def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
        losses = nb["train_step"](D, G, d_optimizer, g_optimizer, real_images, z_size, smooth)
        return losses
    return train_step


@pytest.mark.parametrize("same", ["as-before", "edited-train-step", "other-starting-weights"])
def test_the_same_settings_resume(nb, finished, capsys, no_loss_plot, same):
    """Code and weights are not compared: an edited train_step or re-initialised networks resume the run
    (the notebook says to use FACEGEN_FRESH=1 to start over)."""
    calls = []
    step = counting(edited_train_step(nb) if same == "edited-train-step" else nb["train_step"], calls)
    capsys.readouterr()
    result = run_train(nb, finished, epochs=2, train_step=step, init_seed=5 if same == "other-starting-weights" else 0)
    out = capsys.readouterr().out
    assert f"Resumed {finished / 'runs' / RUN}/ from checkpoint.pt: the end of epoch 1 done" in out, out
    assert "New run" not in out
    assert result.summary["resumed"] and result.summary["epochs_completed"] == 2
    assert len(calls) == STEPS_PER_EPOCH, "only the second epoch is trained"


def test_fresh_starts_a_new_folder_and_keeps_the_old_run(nb, finished, capsys, no_loss_plot):
    before = folder_files(finished / "runs")
    capsys.readouterr()
    result = run_train(nb, finished, epochs=1, fresh=True)
    out = capsys.readouterr().out
    assert f"New run in {finished / 'runs' / (RUN + '-2')}/ (a fresh start, fresh = True or FACEGEN_FRESH=1" in out, out
    assert result.folder.name == RUN + "-2" and not result.summary["resumed"]
    after = folder_files(finished / "runs")
    assert {k: v for k, v in after.items() if k in before} == before
    again = run_train(nb, finished, epochs=1, fresh=True)
    assert again.folder.name == RUN + "-3", "each fresh start is a folder of its own"


def test_a_finished_run_trained_again_is_already_complete_and_changes_nothing(nb, finished, capsys, steps_run,
                                                                                no_loss_plot):
    counting, calls = steps_run
    before = folder_files(finished)
    summary = json.loads((finished / "runs" / RUN / "summary.json").read_text())
    assert summary["images_per_second"] > 0
    capsys.readouterr()
    result = run_train(nb, finished, epochs=1, train_step=counting)
    out = capsys.readouterr().out
    assert "already complete" in out and "New run" not in out, out
    assert "set epochs above 1 (FACEGEN_EPOCHS)" in out and "FACEGEN_FRESH=1" in out, \
        f"it should say how to train further and how to start over: {out!r}"
    assert calls == [], "a finished run must not train"
    assert folder_files(finished) == before, "a file was rewritten"
    assert result.summary == summary and result.summary["epochs_completed"] == 1 and len(result.samples_per_epoch) == 1


def test_more_epochs_after_a_finished_run_trains_only_the_extra_ones(nb, finished, capsys, steps_run, no_loss_plot):
    counting, calls = steps_run
    capsys.readouterr()
    result = run_train(nb, finished, epochs=3, train_step=counting)
    out = capsys.readouterr().out
    assert "Resumed" in out and "the end of epoch 1 done" in out, out
    assert len(calls) == 2 * STEPS_PER_EPOCH, f"{len(calls)} steps for 2 extra epochs"
    summary = json.loads((finished / "runs" / RUN / "summary.json").read_text())
    assert summary["epochs_completed"] == 3 and summary["images_seen"] == 3 * 64 and summary["resumed"]
    assert summary["images_per_second"] > 0
    assert result.history["step"] == [2, 4, 6, 8, 10, 12] and len(result.samples_per_epoch) == 3


# --- Optimizers that do not hold the networks' parameters --------------------------------------------------

@pytest.mark.parametrize("mistake, words", [("swapped", "holds G's parameters, not D's (are the two optimizers swapped?)"),
                                            ("left-over", "holds none of D's current parameters: it was made for a D "
                                                          "built before this one"),
                                            ("part", "misses 12 of D's parameter tensors")])
def test_optimizers_that_do_not_hold_the_networks_parameters_are_refused_in_one_line(nb, tmp_path, mistake, words):
    D, G, d_opt, g_opt = nets(nb)
    if mistake == "swapped":
        d_opt, g_opt = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    elif mistake == "left-over":
        D = nb["Discriminator"](conv_dim=8)  # rebuilt after the optimizers were made
    else:
        d_opt = torch.optim.Adam([next(D.parameters())])
    loader = helpers.get_dataloader(16, images=random_images(64), scale=scale)
    with pytest.raises(FacegenError) as e:
        helpers.train(D, G, d_opt, g_opt, nb["train_step"], loader,
                      helpers.Settings(epochs=1, out_dir=tmp_path),
                      update_average=nb["update_average"])
    one_line(e, "d_optimizer", words, "step 7")
    assert not (tmp_path / "runs").exists(), "nothing is written for a refused run"


def test_swapped_optimizers_fixed_then_trained_again_just_train(nb, tmp_path, no_loss_plot):
    """The bug this replaces: the swapped run was saved, and the fixed one then met a raw ValueError."""
    D, G, _, _ = nets(nb)
    loader = helpers.get_dataloader(16, images=random_images(64), scale=scale)
    with pytest.raises(FacegenError):
        helpers.train(D, G, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters()), nb["train_step"],
                      loader, helpers.Settings(epochs=1, out_dir=tmp_path),
                      update_average=nb["update_average"])
    d_opt, g_opt = torch.optim.Adam(D.parameters(), 2e-4), torch.optim.Adam(G.parameters(), 2e-4)
    result = helpers.train(D, G, d_opt, g_opt, nb["train_step"], loader,
                           helpers.Settings(epochs=1, out_dir=tmp_path),
                           update_average=nb["update_average"])
    assert result.summary["epochs_completed"] == 1


def test_a_checkpoint_that_does_not_fit_is_refused_in_one_line(nb, finished, no_loss_plot):
    path = finished / "runs" / RUN / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state["d_optimizer"]["param_groups"][0]["params"] = [0]  # an optimizer over one tensor
    torch.save(state, path)
    with pytest.raises(FacegenError) as e:
        run_train(nb, finished, epochs=2)
    one_line(e, "does not fit this d_optimizer", "FACEGEN_FRESH=1")


# --- Stop ---------------------------------------------------------------------------------------------------

def stop_on(nb: dict, step_number: list):
    """train_step that presses Stop (SIGINT to this process) during step number step_number[0] (1-based)."""
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
    summary = json.loads((again.folder / "summary.json").read_text())
    assert sigint_guard == [], "the Stop reached the test's guard, not train()"
    assert summary["images_per_second"] > 0, f"summary.json says images_per_second {summary['images_per_second']}"


def test_a_stop_on_the_runs_very_last_step_is_a_finished_run(nb, tmp_path, sigint_guard, no_loss_plot):
    result = run_train(nb, tmp_path, epochs=1, train_step=stop_on(nb, [STEPS_PER_EPOCH]))
    assert result.summary["stopped_by"] == "epochs" and result.summary["epochs_completed"] == 1


def test_two_quick_stops_then_running_again_resumes_the_same_run(nb, tmp_path, capsys, sigint_guard, no_loss_plot):
    """The bug this replaces: after two Stops the run restarted from epoch 0 ("starting weights changed")."""
    run_train(nb, tmp_path, epochs=1)  # a checkpoint at the end of epoch 1
    calls = []

    def stopped_twice(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the second Stop interrupts at once
        return nb["train_step"](*args, **kw)
    with pytest.raises(KeyboardInterrupt):
        run_train(nb, tmp_path, epochs=3, train_step=stopped_twice)
    capsys.readouterr()
    result = run_train(nb, tmp_path, epochs=3)
    out = capsys.readouterr().out
    assert "Resumed" in out and "New run" not in out, out
    assert result.folder.name == RUN and result.summary["epochs_completed"] == 3


def test_a_resumed_epoch_of_a_plain_shuffling_loader_says_its_order_is_new(nb, tmp_path, capsys, sigint_guard,
                                                                            no_loss_plot):
    """DataLoader(shuffle=True) cannot replay an epoch's order: the resumed epoch says so in one line."""
    def loader():
        data = torch.utils.data.TensorDataset(scale(random_images(64).float() / 255))
        return torch.utils.data.DataLoader(data, batch_size=16, shuffle=True, drop_last=True)
    torch.manual_seed(0)
    D, G, d_opt, g_opt = nets(nb)
    helpers.train(D, G, d_opt, g_opt, stop_on(nb, [2]), loader(),
                  helpers.Settings(epochs=1, out_dir=tmp_path),
                  update_average=nb["update_average"])
    capsys.readouterr()
    torch.manual_seed(0)
    D, G, d_opt, g_opt = nets(nb)
    result = helpers.train(D, G, d_opt, g_opt, nb["train_step"], loader(),
                           helpers.Settings(epochs=1, out_dir=tmp_path),
                           update_average=nb["update_average"])
    out = capsys.readouterr().out
    assert "Resumed" in out and "shuffles anew each time, so the rest of epoch 1 comes from a new order" in out, out
    assert result.summary["images_seen"] == 64


# --- A corrupt checkpoint ---------------------------------------------------------------------------------------

def test_train_resumes_from_previous_when_checkpoint_is_truncated(nb, tmp_path, capsys):
    first = run_train(nb, tmp_path, epochs=2, checkpoint_minutes=0.0)  # a checkpoint at every log line
    path = first.folder / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:1000])
    capsys.readouterr()
    result = run_train(nb, tmp_path, epochs=3)
    out = capsys.readouterr().out
    assert "unreadable" in out and "from checkpoint.prev.pt" in out, out
    assert result.summary["resumed"] and result.summary["epochs_completed"] == 3
    assert result.history["step"] == [2, 4, 6, 8, 10, 12], "history must be the full 3 epochs, once each"
    assert len(result.samples_per_epoch) == 3
    assert_resumable(path, epoch=3)


@pytest.mark.parametrize("content", ["garbage", "tensor", "list"])
def test_a_checkpoint_that_is_no_checkpoint_means_start_fresh_and_says_so(nb, tmp_path, capsys, content):
    """Garbage, or a readable file that is no training checkpoint (e.g. a tensor saved over it)."""
    first = run_train(nb, tmp_path, epochs=1)
    path = first.folder / "checkpoint.pt"
    path.with_suffix(".prev.pt").unlink(missing_ok=True)
    if content == "garbage":
        path.write_bytes(os.urandom(4096))
    else:
        torch.save(torch.zeros(3) if content == "tensor" else [1, 2, 3], path)
    capsys.readouterr()
    result = run_train(nb, tmp_path, epochs=1)
    assert "checkpoint.pt" in capsys.readouterr().out
    assert not result.summary["resumed"] and result.summary["epochs_completed"] == 1 and result.folder == first.folder
    assert result.history["step"] == [2, 4]
    assert_resumable(path, epoch=1)


def test_a_run_folder_is_named_from_its_settings():
    settings = {"batch_size": 128, "seed": 3, "d_optimizer": {"type": "Adam", "lr": 0.0002}}
    assert runs.run_name(settings) == "batch128-lr0.0002-seed3"
    assert runs.run_name({**settings, "d_optimizer": {"type": "Adam", "groups": []}}) == "batch128-seed3"


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

result = helpers.train(D, G, d_opt, g_opt, step, loader, update_average=nb["update_average"],
                       settings=helpers.Settings(epochs=epochs, sample_size=16, checkpoint_minutes=0.001, out_dir=out_dir))
print("HISTORY", json.dumps(result.history), flush=True)
"""
EPOCHS = 4
DRIVER_STEPS_PER_EPOCH = 256 // 32
DRIVER_RUN = "batch32-lr0.0002-seed0"


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
        checkpoint = killed / "runs" / DRIVER_RUN / "checkpoint.pt"
        while not (checkpoint.exists() and "Epoch   2/" in (tmp_path / "run1.log").read_text()):
            log1 = (tmp_path / "run1.log").read_text()
            assert victim.poll() is None, "the run ended before it could be killed:\n" + log1
            assert time.monotonic() < deadline, "no checkpoint appeared:\n" + log1
            time.sleep(0.01)
        time.sleep(0.1)  # a few steps into epoch 3, between checkpoints
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        assert victim.returncode == -signal.SIGKILL
        run1 = (tmp_path / "run1.log").read_text()
        assert not (killed / "runs" / DRIVER_RUN / "summary.json").exists(), "the killed run must not have finished"
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
    summary = json.loads((killed / "runs" / DRIVER_RUN / "summary.json").read_text())
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

    # Changing the model (conv_dim 8 -> 4) between runs: a new folder, said in one line; the old run untouched.
    assert f"New run in {whole / 'runs' / (DRIVER_RUN + '-2')}/: the last run" in run3, run3[-2000:]
    assert "the layers of D" in run3
    assert "Resumed" not in run3
    summary3 = json.loads((whole / "runs" / (DRIVER_RUN + "-2") / "summary.json").read_text())
    assert summary3["epochs_completed"] == EPOCHS and summary3["resumed"] is False
    assert checkpoints.load_checkpoint(whole / "runs" / DRIVER_RUN / "checkpoint.pt")["state"]["epoch"] == EPOCHS


def test_a_run_leaves_what_it_trained_generator_pt_and_samples_from_it(nb, tmp_path, no_loss_plot):
    """generator.pt is the generator the run samples from (the weight average), as CPU tensors, and
    samples.png shows its faces for the fixed z, also when the run ends mid-epoch."""
    from PIL import Image

    result = run_train(nb, tmp_path, epochs=1, sample_size=8)
    G = nb["Generator"](conv_dim=8)
    helpers.load_generator(G, result.folder / "generator.pt")
    state = torch.load(result.folder / "generator.pt", weights_only=True)
    assert all(v.device.type == "cpu" for v in state.values())
    for key, value in result.generator.state_dict().items():
        assert torch.equal(state[key], value), key
    expected = helpers.sample_images(G, result.fixed_z)
    grid = np.asarray(Image.open(result.folder / "samples.png").convert("RGB"))
    expected_grid = pictures.image_grid(expected, 8).repeat(2, axis=0).repeat(2, axis=1)
    assert grid.shape == expected_grid.shape and (grid.astype(int) - expected_grid).__abs__().max() <= 1


def test_train_leaves_the_learners_seed_models_and_stop_handler_as_they_were(nb, tmp_path, no_loss_plot):
    """The bug this replaces: train() reseeded the global generator, converted the models to channels-last and
    kept its own SIGINT handler. Now it does none of that (FastStep, when used, says what it converts)."""
    torch.manual_seed(123)
    handler = signal.getsignal(signal.SIGINT)
    D, G, d_opt, g_opt = nets(nb)
    loader = helpers.get_dataloader(16, images=random_images(64), scale=scale)
    helpers.train(D, G, d_opt, g_opt, nb["train_step"], loader,
                  helpers.Settings(epochs=1, seed=0, out_dir=tmp_path),
                  update_average=nb["update_average"])
    assert torch.initial_seed() == 123, "train() reseeded the global random generator"
    assert signal.getsignal(signal.SIGINT) is handler, "train() left its own Stop handler behind"
    conv = next(p for p in D.parameters() if p.ndim == 4)
    assert conv.is_contiguous() and not conv.is_contiguous(memory_format=torch.channels_last)


# --- Run folders that cannot mislead ----------------------------------------------------------------

def test_a_deleted_run_folder_hides_none_of_the_later_ones(tmp_path, capsys):
    """The bug this replaces: folders were found base, -2, -3, ... up to the first missing one, so with -2 deleted
    the settings of -3 started a new run in -2 ("the last run ... has other settings ()")."""
    def settings(smooth):
        return {"batch_size": 16, "seed": 0, "d_optimizer": {"lr": 2e-4}, "smooth": smooth}

    folders = [runs.find_run_folder(tmp_path, settings(s))[0] for s in ("a", "b", "c")]
    assert [f.name for f in folders] == [RUN, RUN + "-2", RUN + "-3"]
    shutil.rmtree(folders[1])
    assert runs.find_run_folder(tmp_path, settings("c")) == (folders[2], True), "the same settings: the same run"
    assert runs.find_run_folder(tmp_path, settings("d"))[0].name == RUN + "-4", "a new run after the last number"


def test_the_loaders_shuffling_seed_is_part_of_the_runs_identity(nb, tmp_path, capsys, no_loss_plot):
    """The bug this replaces: a run resumed with a loader of another seed, and said it replayed exactly the batches."""
    for seed in (0, 1):
        D, G, d_opt, g_opt = nets(nb, 8)
        loader = helpers.get_dataloader(16, images=random_images(64), scale=nb["scale"], seed=seed)
        helpers.train(D, G, d_opt, g_opt, nb["train_step"], loader,
                      helpers.Settings(epochs=1, **TRAIN_DEFAULTS, out_dir=tmp_path),
                      update_average=nb["update_average"])
    out = capsys.readouterr().out
    assert "shuffle_seed 0 -> 1" in out and (tmp_path / "runs" / (RUN + "-2")).is_dir(), out


# --- Fast guards of the loop's arithmetic (the development tier) ------------------------------------

def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(nb, tmp_path, no_loss_plot):
    """Two epochs straight against one epoch and then the same call for two (which resumes): the same losses
    and the same generator, bit for bit. Without the random state restored, the second epoch's z differ."""
    straight = run_train(nb, tmp_path / "straight", epochs=2)
    run_train(nb, tmp_path / "resumed", epochs=1)
    resumed = run_train(nb, tmp_path / "resumed", epochs=2)
    assert resumed.summary["resumed"] and resumed.summary["epochs_completed"] == 2
    assert resumed.history == straight.history
    for a, b in zip(straight.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b), "the resumed run's generator differs from the uninterrupted one's"


def test_the_weight_average_warms_up_then_holds_its_decay(nb, tmp_path, no_loss_plot):
    """The average follows G closely at first ((1 + n) / (10 + n) after n updates), then at the recipe's decay;
    the warm-up counts on in a resumed run."""
    assert [helpers.average_decay(n, 0.999) for n in (0, 1, 2)] == [0.1, 2 / 11, 3 / 12]
    assert helpers.average_decay(10**6, 0.999) == 0.999 and helpers.average_decay(10**6, 0.99) == 0.99
    decays = []

    def recording(average, G, decay):
        decays.append(decay)
        nb["update_average"](average, G, decay)
    run_train(nb, tmp_path, epochs=1, update_average=recording)
    run_train(nb, tmp_path, epochs=2, update_average=recording)
    assert decays == [helpers.average_decay(n, 0.999) for n in range(1, 2 * STEPS_PER_EPOCH + 1)], decays


def test_a_run_resumed_in_the_middle_of_an_epoch_goes_on_exactly_as_it_would_have(nb, tmp_path, no_loss_plot):
    """A checkpoint a few steps into an epoch (a kill lands between checkpoints): the resumed run's losses and
    generator are the uninterrupted run's, bit for bit. Iterating the loader must not draw from the random
    state that the steps' z come from."""
    whole = run_train(nb, tmp_path / "whole", epochs=2)
    calls = []

    def dies_at_step_7(*args, **kw):  # 6 steps done: 4 of epoch 1, 2 of epoch 2, a checkpoint at each log line
        calls.append(1)
        if len(calls) == 7:
            raise Killed
        return nb["train_step"](*args, **kw)
    with pytest.raises(Killed):
        run_train(nb, tmp_path / "cut", epochs=2, checkpoint_minutes=0.0, train_step=dies_at_step_7)
    resumed = run_train(nb, tmp_path / "cut", epochs=2)
    assert resumed.summary["resumed"] and resumed.history == whole.history
    for a, b in zip(whole.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b)


def test_a_run_stopped_inside_its_first_epoch_still_returns_and_saves_its_faces(nb, tmp_path, no_loss_plot):
    """No epoch ended, so no epoch's samples were kept: the result still holds the fixed z's faces, drawn
    from what was trained, as samples.png does."""
    import time as clock

    def slow_step(*args, **kw):
        clock.sleep(0.4)
        return nb["train_step"](*args, **kw)
    result = run_train(nb, tmp_path, epochs=1, n_images=64 * 8, minutes=0.01, train_step=slow_step)  # 0.6 s
    assert result.summary["stopped_by"] == "time limit" and result.summary["epochs_completed"] == 0
    assert len(result.samples_per_epoch) == 1 and result.samples_per_epoch[0].shape == (8, 3, 32, 32)
    assert (result.folder / "samples.png").exists()


def test_what_differs_is_said_also_when_an_old_settings_file_lacks_a_setting():
    """A settings.json written by an earlier version of the lesson may lack a setting, or hold it as another type."""
    old = {"seed": 0, "smooth": True}
    new = {"seed": 0, "smooth": True, "d_optimizer": {"type": "Adam", "lr": 0.0002}}
    assert runs.differences(old, new) == "d_optimizer None -> {'type': 'Adam', 'lr': 0.0002}"
    assert runs.differences(new, old) == "d_optimizer {'type': 'Adam', 'lr': 0.0002} -> None"
    assert runs.differences({**new, "seed": 1}, new) == "seed 1 -> 0"
