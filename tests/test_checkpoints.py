"""facegen/runs.py: files that a kill cannot break. A kill or a full disk during a checkpoint
write leaves the previous checkpoint loadable; a truncated checkpoint falls back to the previous one;
a malicious pickle never runs; load_generator says in one line when a file does not fit; the
shipped assets/generator.pt loads anywhere."""
from __future__ import annotations

import errno
import io
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import helpers
import facegen
from facegen import checkpoints
from helpers import FacegenError
from tests import other_generators
from tests.builders import ASSET_CONV_DIM, ROOT, Killed, assert_is, assert_resumable, files_under, one_line, run_train, state


# --- The generator file ------------------------------------------------------------------------------

def test_assets_generator_loads_with_a_plain_torch_load_and_fits_the_notebooks_generator(nb):
    path = ROOT / "assets" / "generator.pt"
    weights = torch.load(path, weights_only=True)  # no map_location: it must hold no CUDA tensors
    assert isinstance(weights, dict) and weights, "a state dict"
    assert all(t.device.type == "cpu" for t in weights.values()), \
        {k: str(t.device) for k, t in weights.items() if t.device.type != "cpu"}
    G = nb["Generator"](conv_dim=ASSET_CONV_DIM)
    G.load_state_dict(weights)  # strict: every key, every shape
    assert helpers.load_generator(nb["Generator"](conv_dim=ASSET_CONV_DIM), path) is not None
    assert helpers.sample_images(G, torch.randn(2, 100)).shape == (2, 3, 32, 32)


def test_load_generator_with_another_z_size(nb, tmp_path):
    path = tmp_path / "generator.pt"
    torch.save(nb["Generator"](z_size=50, conv_dim=8).state_dict(), path)
    G = nb["Generator"](z_size=100, conv_dim=8)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    with pytest.raises(FacegenError) as e:
        helpers.load_generator(G, path)
    one_line(e, path.name, "z_size")
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items()), "G was changed by a failed load"
    with pytest.raises(FacegenError) as e:
        helpers.load_generator(G, tmp_path / "missing.pt")
    one_line(e, "missing.pt", "does not exist")


def test_load_generator_with_a_training_checkpoint(nb, tmp_path):
    """A learner points load_generator at checkpoint.pt (a dict of everything), not a generator state dict."""
    G = nb["Generator"](conv_dim=8)
    path = tmp_path / "checkpoint.pt"
    checkpoints.save_checkpoint({"G": G.state_dict(), "D": {}, "epoch": 1}, path)
    with pytest.raises(FacegenError) as e:
        helpers.load_generator(G, path)
    one_line(e, path.name)


# --- The generator file in a Generator written differently ------------------------------------------

@pytest.mark.parametrize("Other", [other_generators.GeneratorByAttributes, other_generators.GeneratorNested])
def test_assets_generator_loads_into_a_generator_with_other_names_and_draws_the_same_faces(nb, Other):
    path = ROOT / "assets" / "generator.pt"
    theirs = helpers.load_generator(Other(conv_dim=ASSET_CONV_DIM), path)
    ours = helpers.load_generator(nb["Generator"](conv_dim=ASSET_CONV_DIM), path)
    assert set(theirs.state_dict()) != set(ours.state_dict()), "the keys differ: matched by order, not by name"
    z = torch.randn(16, 100, generator=torch.Generator().manual_seed(5))
    expected = helpers.sample_images(ours, z)
    assert expected.float().std() > 10, "the file's faces, not a blank image"
    assert torch.equal(helpers.sample_images(theirs, z), expected)


def refused(G, path) -> FacegenError:
    """load_generator's error for G, after checking that the failed load left G unchanged."""
    before = {k: v.clone() for k, v in G.state_dict().items()}
    with pytest.raises(FacegenError) as e:
        helpers.load_generator(G, path)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items()), "G was changed by a failed load"
    return e


def test_load_generator_names_what_differs_in_a_generator_written_differently():
    path = ROOT / "assets" / "generator.pt"
    n_file = len(torch.load(path, weights_only=True))
    c = ASSET_CONV_DIM
    one_line(refused(other_generators.GeneratorByAttributes(conv_dim=2 * c), path),
             "layer 1:", f"weight of shape ({32 * c}, 100)", f"(fc.weight) a weight of shape ({64 * c}, 100)",
             f"is conv_dim {c}?")
    one_line(refused(other_generators.GeneratorNested(z_size=64, conv_dim=c), path),
             "layer 1:", f"(project.0.weight) a weight of shape ({32 * c}, 64)", "is z_size 100?")
    one_line(refused(other_generators.GeneratorByAttributes(conv_dim=c, last_bias=False), path),
             f"this Generator has {n_file - 1} tensors, the file {n_file}", "missing or extra", "bias=False")
    one_line(refused(other_generators.GeneratorByAttributes(conv_dim=c, fc_bias=False), path),
             f"this Generator has {n_file - 1} tensors, the file {n_file}", "layer 1: the file has a bias of shape "
             f"({32 * c},), this Generator (bn0.weight) a weight of shape ({8 * c},)")
    one_line(refused(other_generators.GeneratorOtherOrder(conv_dim=c), path),
             "layer 2:", f"(deconv1.weight) a weight of shape ({8 * c}, {4 * c}, 4, 4)", "same order")


# --- A corrupt or truncated checkpoint ---------------------------------------------------------------

def test_truncated_checkpoint_falls_back_to_previous(tmp_path, capsys):
    path = tmp_path / "checkpoint.pt"
    checkpoints.save_checkpoint(state(1), path)
    checkpoints.save_checkpoint(state(2), path)
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    assert_is(checkpoints.load_checkpoint(path), 1)
    out = capsys.readouterr().out
    assert "checkpoint.pt" in out and "unreadable" in out, out


@pytest.mark.parametrize("previous", ["none", "also-corrupt"])
def test_unreadable_checkpoint_means_start_fresh_and_says_so(tmp_path, capsys, previous):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"PK\x03\x04 this was a checkpoint once")
    if previous == "also-corrupt":
        path.with_suffix(".prev.pt").write_bytes(b"\x80\x02garbage")
    assert checkpoints.load_checkpoint(path) is None
    out = capsys.readouterr().out
    assert "checkpoint.pt" in out and "unreadable" in out, out
    assert "fresh" in out.lower(), f"the learner should be told training starts from scratch: {out!r}"


# --- A kill while a checkpoint is being written ----------------------------------------------------------

def _fail_on(monkeypatch, point: str, exc: BaseException) -> None:
    """Make the checkpoint write die at `point`: mid-write, at fsync, or at the k-th os.replace."""
    if point == "write":
        import builtins

        class HalfWrite(io.FileIO):
            def write(self, data):
                view = memoryview(data).cast("B")
                super().write(view[:len(view) // 2])
                raise exc

        def fake_open(file, mode="r", *args, **kwargs):
            return HalfWrite(file, "w") if "w" in mode else builtins.open(file, mode, *args, **kwargs)

        monkeypatch.setattr(facegen, "open", fake_open, raising=False)  # write_atomically's open
    elif point == "fsync":
        def fake_fsync(fd):
            raise exc
        monkeypatch.setattr(os, "fsync", fake_fsync)
    else:
        k, real_replace, calls = int(point.split("-")[1]), os.replace, []

        def fake_replace(src, dst, *args, **kwargs):
            calls.append(src)
            if len(calls) == k:
                raise exc
            return real_replace(src, dst, *args, **kwargs)
        monkeypatch.setattr(os, "replace", fake_replace)


@pytest.mark.parametrize("point", ["write", "fsync", "replace-1", "replace-2", "replace-3"])
@pytest.mark.parametrize("had_previous", [False, True], ids=["first-save", "later-save"])
def test_kill_during_checkpoint_write_keeps_a_good_checkpoint(tmp_path, monkeypatch, point, had_previous):
    path = tmp_path / "checkpoint.pt"
    if had_previous:
        checkpoints.save_checkpoint(state(0), path)
    checkpoints.save_checkpoint(state(1), path)
    with monkeypatch.context() as m:
        _fail_on(m, point, Killed())
        with pytest.raises(Killed):
            checkpoints.save_checkpoint(state(2), path)
    loaded = checkpoints.load_checkpoint(path)
    assert loaded is not None and loaded["epoch"] in (1, 2), "the previous checkpoint was lost"
    assert_is(loaded, loaded["epoch"])
    # The next save works and wins.
    checkpoints.save_checkpoint(state(3), path)
    assert_is(checkpoints.load_checkpoint(path), 3)


WRITER = """
import os, sys, time
sys.path.insert(0, {root!r})
import torch
from facegen import checkpoints
real_fsync = os.fsync
def slow_fsync(fd):
    real_fsync(fd)
    print("WRITTEN-NOT-RENAMED", flush=True)
    time.sleep(60)
os.fsync = slow_fsync
checkpoints.save_checkpoint({{"epoch": 2, "w": torch.full((8,), 2.0), "big": torch.randn(4_000_000)}}, sys.argv[1])
"""


@pytest.mark.slow
def test_sigkill_during_checkpoint_write_keeps_previous(tmp_path):
    path = tmp_path / "checkpoint.pt"
    checkpoints.save_checkpoint(state(1), path)
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline().decode() if ready else ""
        assert "WRITTEN-NOT-RENAMED" in line, f"the writer did not reach its write: {line!r}"
        partial = [p for p in tmp_path.iterdir() if ".tmp" in p.name]
        assert partial and partial[0].stat().st_size > 16_000_000, "the kill should land with the new file written"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_is(checkpoints.load_checkpoint(path), 1)
    checkpoints.save_checkpoint(state(3), path)
    assert_is(checkpoints.load_checkpoint(path), 3)


# --- A full disk, a read-only folder ---------------------------------------------------------------------

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("point", ["write", "fsync"])
def test_full_disk_while_saving_checkpoint(tmp_path, monkeypatch, point):
    path = tmp_path / "checkpoint.pt"
    checkpoints.save_checkpoint(state(0), path)
    checkpoints.save_checkpoint(state(1), path)
    before = files_under(tmp_path)
    with monkeypatch.context() as m:
        _fail_on(m, point, ENOSPC)
        with pytest.raises(FacegenError) as e:
            checkpoints.save_checkpoint(state(2), path)
    one_line(e, "checkpoint", "No space left", "disk space")
    assert_is(checkpoints.load_checkpoint(path), 1)
    assert files_under(tmp_path) == before, "a failed save must leave no partial files behind"


def test_full_disk_during_training(nb, tmp_path, monkeypatch):
    first = run_train(nb, tmp_path, epochs=1)
    with monkeypatch.context() as m:
        _fail_on(m, "fsync", ENOSPC)
        with pytest.raises(FacegenError) as e:
            run_train(nb, tmp_path, epochs=2)
    one_line(e, "checkpoint", "No space left")
    saved = checkpoints.load_checkpoint(first.folder / "checkpoint.pt")
    assert saved is not None and saved["state"]["epoch"] == 1, "the checkpoint of epoch 1 must survive"
    result = run_train(nb, tmp_path, epochs=2)  # space again: it resumes and finishes
    assert result.summary["resumed"] and result.summary["epochs_completed"] == 2


def test_read_only_output_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    path = out / "checkpoint.pt"
    checkpoints.save_checkpoint(state(1), path)
    out.chmod(0o500)
    try:
        try:
            (out / "probe").write_bytes(b"x")
        except PermissionError:
            pass
        else:
            (out / "probe").unlink()
            pytest.skip("chmod does not stop this user (root) from writing")
        with pytest.raises(FacegenError) as e:
            checkpoints.save_checkpoint(state(2), path)
        one_line(e, "checkpoint", "Permission denied")
        assert_is(checkpoints.load_checkpoint(path), 1)
    finally:
        out.chmod(0o700)


def test_permission_denied_while_saving(tmp_path, monkeypatch):
    """What a read-only folder does to a non-root user, simulated (tests may run as root)."""
    path = tmp_path / "checkpoint.pt"
    checkpoints.save_checkpoint(state(1), path)
    import builtins

    def fake_open(file, mode="r", *args, **kwargs):
        if "w" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(facegen, "open", fake_open, raising=False)  # write_atomically's open
    with pytest.raises(FacegenError) as e:
        checkpoints.save_checkpoint(state(2), path)
    one_line(e, "checkpoint", "Permission denied", "FACEGEN_OUT")
    with pytest.raises(FacegenError) as e:
        helpers.write_json(tmp_path / "summary.json", {"a": 1})
    one_line(e, "summary.json", "Permission denied")
    monkeypatch.undo()
    assert_is(checkpoints.load_checkpoint(path), 1)


# --- Untrusted files ----------------------------------------------------------------------------------------

class Evil:
    """Unpickling this runs os.mkdir(marker): code execution, as a hostile checkpoint would do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def evil_file(path: Path, marker: Path, what: str = "checkpoint") -> Path:
    payload = {"D": {"w": torch.ones(2)}, "G": Evil(str(marker)), "epoch": 9} if what == "checkpoint" \
        else {"fc.weight": Evil(str(marker))}
    torch.save(payload, path)
    return path


def test_the_malicious_pickle_really_runs_code(tmp_path):
    """Sanity check of the payload: an unsafe load would run it."""
    marker = tmp_path / "pwned-unsafe"
    torch.load(evil_file(tmp_path / "x.pt", marker), weights_only=False)
    assert marker.exists()


def test_malicious_checkpoint_is_refused(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = evil_file(tmp_path / "checkpoint.pt", marker)
    assert checkpoints.load_checkpoint(path) is None
    assert not marker.exists(), "loading the checkpoint ran its code"
    assert "checkpoint.pt" in capsys.readouterr().out
    # With a good previous checkpoint, that one is used instead.
    torch.save(state(1), path.with_suffix(".prev.pt"))
    assert_is(checkpoints.load_checkpoint(path), 1)
    assert not marker.exists()


def test_train_with_a_malicious_checkpoint_starts_fresh(nb, tmp_path):
    marker = tmp_path / "pwned"
    first = run_train(nb, tmp_path, epochs=1)
    evil_file(first.folder / "checkpoint.pt", marker)
    (first.folder / "checkpoint.prev.pt").unlink(missing_ok=True)
    result = run_train(nb, tmp_path, epochs=1)
    assert not marker.exists() and not result.summary["resumed"]
    assert_resumable(first.folder / "checkpoint.pt", epoch=1)


def test_malicious_generator_file_is_refused(nb, tmp_path):
    marker = tmp_path / "pwned"
    path = evil_file(tmp_path / "generator.pt", marker, what="generator")
    with pytest.raises(FacegenError) as e:
        helpers.load_generator(nb["Generator"](conv_dim=8), path)
    one_line(e, path.name)
    assert not marker.exists(), "loading the generator ran its code"
