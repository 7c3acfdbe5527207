"""facegen/fast_step.py: FastStep runs the learner's train_step fast without changing what it computes.
bf16 autocast learns what fp32 learns; it says what it changes (D and G to channels-last) when made; it
hands back the four values as 0-d tensors; without it, train() runs train_step exactly as written."""
from __future__ import annotations

import contextlib
import sys

import pytest
import torch

import helpers
from facegen import fast_step
from tests.builders import CPU, TRAIN_DEFAULTS, nets, random_images, run_train, tiny


@pytest.mark.slow
def test_bf16_on_the_cpu_learns_what_fp32_learns(nb, tmp_path):
    """Two epochs of small nets (conv_dim 16) on fixed random images, seed 0, in fp32 and in bf16."""
    fp32, bf16 = (run_train(nb, tmp_path / precision, epochs=2, conv_dim=16, n_images=256, batch_size=32,
                            precision=precision, sample_size=16, checkpoint_minutes=2.0)
                  for precision in ("fp32", "bf16"))
    assert bf16.summary["precision"] == "bf16" and fp32.summary["precision"] == "fp32"
    assert fp32.history["step"] == bf16.history["step"]
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        a, b = torch.tensor(fp32.history[key]), torch.tensor(bf16.history[key])
        assert torch.allclose(a, b, rtol=0.05, atol=0.02), f"{key}: fp32 {a.tolist()} against bf16 {b.tolist()}"
    a, b = fp32.samples_per_epoch[-1].float(), bf16.samples_per_epoch[-1].float()
    assert (a - b).abs().mean() < 1, "the same fixed z should draw nearly the same images (uint8 levels)"
    assert not torch.equal(a, b), "bf16 should have run in bf16, not silently in fp32"


@pytest.mark.parametrize("threads, precision, native, says", [
    ([1], "fp32", True, "fp32"), ([2, 1], "fp32", True, "fp32, the threads measured on the first steps"),
    ([1], "auto", True, "the precision measured on the first steps"),
    ([2, 1], "auto", True, "the threads and the precision measured on the first steps"), ([1], "auto", False, "fp32")])
def test_fast_step_says_what_it_changes_and_returns_the_four_values_as_tensors(nb, capsys, monkeypatch, threads,
                                                                              precision, native, says):
    monkeypatch.setattr(fast_step, "thread_options", lambda: threads)
    monkeypatch.setattr(fast_step, "native_bf16", lambda: native)
    D, G, d_opt, g_opt = nets(nb)
    step = helpers.FastStep(nb["train_step"], D, G, CPU, precision)
    said = capsys.readouterr().out
    assert f"FastStep on cpu: {says}; D and G converted to channels-last; all put back when training ends.\n" == said, said
    assert next(D.parameters()).is_contiguous(memory_format=torch.channels_last) or \
        next(D.parameters()).ndim != 4
    out = step(D, G, d_opt, g_opt, random_images(8).float() / 127.5 - 1, 100, True)
    assert len(out) == 4 and all(v.shape == () and v.dtype == torch.float32 and torch.isfinite(v) for v in out)
    assert step.graph is None, "no CUDA graph on a CPU"


def test_without_fast_step_train_runs_train_step_as_written(nb, tmp_path, no_loss_plot):
    """No autocast, no layout change, the learner's own function called with the learner's objects."""
    seen = []

    def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
        seen.append((torch.is_autocast_enabled("cpu"), real_images.is_contiguous()))
        return nb["train_step"](D, G, d_optimizer, g_optimizer, real_images, z_size, smooth)
    result = run_train(nb, tmp_path, epochs=1, train_step=train_step)
    assert seen and all(s == (False, True) for s in seen), seen
    assert result.summary["precision"] == "fp32" and result.summary["cuda_graph"] is False


# --- On a CPU: the threads and the precision by measurement (CpuTuning), its outcomes faked -----------

def drive(tuning, seconds: dict, steps: int, images: int = 32) -> list:
    """Feed tuning `steps` steps, each taking seconds[(threads, precision)] for the candidate in use (the
    threads as torch holds them at that step); return the candidates used, step by step."""
    used = []
    for _ in range(steps):
        candidate = (torch.get_num_threads(), tuning.precision)
        used.append(candidate)
        tuning.next(seconds[candidate], images)
    return used


def test_the_fastest_threads_and_precision_are_kept_and_said(monkeypatch, capsys):
    monkeypatch.setattr(fast_step, "thread_options", lambda: [2, 1])
    tuning = fast_step.CpuTuning(["fp32", "bf16"])
    seconds = {(2, "fp32"): 0.2, (2, "bf16"): 0.4, (1, "fp32"): 0.1, (1, "bf16"): 0.05}
    per = tuning.WARMUP + tuning.TIMED
    used = drive(tuning, seconds, 4 * per + 3)
    assert used[:4 * per] == [c for c in seconds for _ in range(per)], "each candidate in turn, as many steps each"
    assert used[4 * per:] == [(1, "bf16")] * 3 and tuning.kept == (1, "bf16")
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and "2 threads fp32 160" in said and "training with 1 thread, bf16." in said, said


@pytest.mark.parametrize("slower, measures_again", [(3.0, True), (1.5, False)])
def test_a_speed_that_falls_by_half_is_measured_again(monkeypatch, capsys, slower, measures_again):
    monkeypatch.setattr(fast_step, "thread_options", lambda: [2, 1])
    tuning = fast_step.CpuTuning(["fp32"])
    seconds = {(2, "fp32"): 0.1, (1, "fp32"): 0.2}
    drive(tuning, seconds, 2 * (tuning.WARMUP + tuning.TIMED))
    assert tuning.kept == (2, "fp32")
    capsys.readouterr()
    monkeypatch.setattr(fast_step, "thread_options", lambda: [2, 1, 3])  # the cores as they are now
    drive(tuning, {c: s * slower for c, s in seconds.items()}, tuning.WINDOW)  # another program took the cores
    said = capsys.readouterr().out
    assert ("measuring again" in said) == measures_again and (tuning.kept is None) == measures_again, said
    assert len(tuning.candidates) == (3 if measures_again else 2), "measured again: the threads to try, anew"


@pytest.mark.parametrize("environ, load, expected", [({"OMP_NUM_THREADS": "2"}, 2.0, [2]), ({}, 0.1, [2]),
                                                     ({}, 2.2, [2, 1]), ({}, None, [2, 1])])
def test_the_threads_to_try(monkeypatch, environ, load, expected):
    """One per free core besides the default, from the load average (Windows has none: half); OMP_NUM_THREADS
    fixes them."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    if load is None:
        monkeypatch.delattr(fast_step.os, "getloadavg")
    else:
        monkeypatch.setattr(fast_step.os, "getloadavg", lambda: (load, load, load))
    torch.set_num_threads(2)
    assert fast_step.thread_options() == expected


@pytest.mark.parametrize("precision, native, expected", [("auto", True, ["fp32", "bf16"]), ("auto", False, ["fp32"]),
                                                         ("fp32", True, ["fp32"]), ("bf16", False, ["bf16"])])
def test_bf16_is_tried_only_where_native_and_not_asked_otherwise(nb, monkeypatch, precision, native, expected):
    monkeypatch.setattr(fast_step, "native_bf16", lambda: native)
    monkeypatch.setattr(fast_step, "thread_options", lambda: [1])
    D, G, _, _ = nets(nb)
    step = helpers.FastStep(nb["train_step"], D, G, CPU, precision)
    assert [p for _, p in step.tuning.candidates] == expected


def test_a_tuned_run_trains_and_reports_its_threads_and_precision(nb, tmp_path, no_loss_plot, capsys):
    result = run_train(nb, tmp_path, epochs=8, precision="auto")  # 32 steps: every candidate measured
    said = capsys.readouterr().out
    assert "FastStep: measured images/s with" in said, said
    assert result.summary["threads"] == torch.get_num_threads() and result.summary["precision"] in ("fp32", "bf16")


# --- On CUDA: the graph capture, with torch.cuda's capture API faked (CI has no GPU) -------------------

class FakeCapture:
    """torch.cuda's streams and graphs as the capture uses them. A real graph replays the recorded step
    on the same input and output buffers; the fake's replay runs the step again on step.static_real and
    copies its values into step.static_out, which is what the replay must amount to."""

    def __init__(self, monkeypatch, step, fail: bool = False):
        self.replays, self.step = 0, step
        stream = type("Stream", (), {"wait_stream": lambda self, other: None})
        fake = self

        class Graph:
            def replay(self):
                fake.replays += 1
                args = (*step.graph_args[:4], step.static_real, *step.graph_args[4:])
                for kept, new in zip(step.static_out, step._eager(args)):
                    kept.copy_(new)

        class Recording:
            def __init__(self, graph):
                pass

            def __enter__(self):
                if fail:
                    raise RuntimeError("operation not permitted when stream is capturing")

            def __exit__(self, *exc):
                return False

        for name, value in {"synchronize": lambda: None, "Stream": stream, "current_stream": stream,
                            "stream": lambda s: contextlib.nullcontext(), "CUDAGraph": Graph,
                            "graph": Recording}.items():
            monkeypatch.setattr(torch.cuda, name, value)
        # Adam refuses capturable=True off a GPU; on the CPU its capturable arithmetic is the same
        monkeypatch.setattr(sys.modules["torch.optim.adam"], "_get_capturable_supported_devices",
                            lambda *a, **k: ["cuda", "cpu"])


def graph_step(nb, monkeypatch, fail=False):
    """A FastStep on the CPU that takes the GPU's route (want_graph), with the capture API faked."""
    monkeypatch.setattr(fast_step, "thread_options", lambda: [1])
    D, G, d_opt, g_opt = nets(nb)
    step = helpers.FastStep(nb["train_step"], D, G, CPU, "fp32", tune=False)
    step.want_graph = True  # what cuda_graph=True sets on a CUDA device
    return step, FakeCapture(monkeypatch, step, fail), (D, G, d_opt, g_opt)


def test_the_cuda_graph_is_recorded_after_the_warm_up_and_then_replayed_on_each_new_batch(nb, monkeypatch):
    step, capture, (D, G, d_opt, g_opt) = graph_step(nb, monkeypatch)
    batches = [random_images(8, seed=i).float() / 127.5 - 1 for i in range(fast_step.WARMUP_STEPS + 4)]
    outs = [tuple(v.clone() for v in step(D, G, d_opt, g_opt, b, 100, True)) for b in batches]
    assert step.graph is not None and capture.replays == 3, "eager warm-up, one recorded step, then replays"
    for opt in (d_opt, g_opt):  # what FastStep says it changes in the learner's optimizers
        assert all(group["capturable"] for group in opt.param_groups)
        assert all(s["step"].dtype == torch.float32 and s["step"].ndim == 0 for s in opt.state.values())
    assert torch.equal(step.static_real, batches[-1]), "each replay reads the new batch"
    assert len({tuple(round(v.item(), 6) for v in out) for out in outs}) == len(outs), "every step its own values"
    before = [p.clone() for p in G.parameters()]
    step(D, G, d_opt, g_opt, batches[0], 100, True)
    assert capture.replays == 4 and any(not torch.equal(a, b) for a, b in zip(before, G.parameters())), \
        "a replay trains G"
    step(D, G, d_opt, g_opt, batches[0][:4], 100, True)  # a smaller last batch: not the recorded shape
    assert capture.replays == 4, "another shape runs eagerly, not the graph"


def test_a_failed_capture_is_said_once_and_training_goes_on_eagerly(nb, monkeypatch, capsys):
    step, capture, (D, G, d_opt, g_opt) = graph_step(nb, monkeypatch, fail=True)
    capsys.readouterr()
    for i in range(fast_step.WARMUP_STEPS + 3):
        out = step(D, G, d_opt, g_opt, random_images(8, seed=i).float() / 127.5 - 1, 100, True)
        assert all(torch.isfinite(v) for v in out)
    said = capsys.readouterr().out
    assert said.count("CUDA graph capture failed, training eagerly instead: RuntimeError") == 1, said
    assert step.graph is None and capture.replays == 0


def test_a_step_that_cannot_take_channels_last_keeps_the_default_layout_and_says_why(nb, capsys):
    """x.view(x.size(0), -1) in D, the tutorials' flatten, fails on channels-last tensors: FastStep tries the step
    on copies first, keeps the default layout, says so, and the first real step is the one the learner's code would
    take (the trial put the random state back)."""
    class ViewD(nb["Discriminator"]):
        def forward(self, x):
            x = self.net[:-2](x)
            return self.net[-1](x.view(x.size(0), -1))

    def nets_with_view_d(seed):
        torch.manual_seed(seed)
        D, G = ViewD(16), nb["Generator"](100, 16)
        return D, G, torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999)), \
            torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))

    images = random_images(8).float() / 127.5 - 1
    plain_nets = nets_with_view_d(0)
    torch.manual_seed(3)
    plain = nb["train_step"](*plain_nets, images, 100, True)
    D, G, d_opt, g_opt = nets_with_view_d(0)
    step = helpers.FastStep(nb["train_step"], D, G, CPU, "fp32", tune=False)
    capsys.readouterr()
    torch.manual_seed(3)
    fast = step(D, G, d_opt, g_opt, images, 100, True)
    said = capsys.readouterr().out
    assert said.startswith("FastStep: your train_step fails on channels-last tensors (RuntimeError: view size is not "
                           "compatible with input tensor's size and stride"), said
    assert "so D and G keep the default layout" in said
    assert all(p.is_contiguous() for p in D.parameters())
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(plain, fast)), (plain, fast)


@pytest.mark.parametrize("route", ["cpu-tuning", "cuda-graph"])
def test_training_leaves_the_threads_the_layout_and_the_optimizers_as_the_learner_had_them(nb, tmp_path, no_loss_plot,
                                                                                          monkeypatch, route):
    """FastStep changes the threads (its CPU tuning), D's and G's memory format and, for a CUDA graph, the
    optimizers' capturable flags; when train returns, each is as it was."""
    threads = torch.get_num_threads()
    monkeypatch.setattr(fast_step, "thread_options", lambda: [threads + 1, 1])  # never the learner's own count
    D, G, d_opt, g_opt, loader = tiny(nb, n_images=48, batch_size=8)
    step = helpers.FastStep(nb["train_step"], D, G, CPU, "fp32", tune=route == "cpu-tuning")
    if route == "cuda-graph":
        step.want_graph = True  # what a CUDA device sets, its capture faked
        capture = FakeCapture(monkeypatch, step, fail=False)
    helpers.train(D, G, d_opt, g_opt, step, loader, update_average=nb["update_average"],
                  settings=helpers.Settings(epochs=3, **TRAIN_DEFAULTS, out_dir=tmp_path))
    if route == "cuda-graph":
        assert capture.replays > 0 and step.graph is None, "the CUDA graph was not used, or not dropped"
    else:
        assert step.tuning.kept is not None, "the tuning did not finish measuring"
    assert torch.get_num_threads() == threads
    for net in (D, G):
        assert all(p.is_contiguous() for p in net.parameters()), "a network was left channels-last"
    for opt in (d_opt, g_opt):
        assert not any(group["capturable"] for group in opt.param_groups)
        assert all(s["step"].device.type == "cpu" for s in opt.state.values())
    d_opt.step()  # the learner's optimizers still work as plain ones


def test_a_step_that_fails_in_bf16_is_tuned_in_fp32_alone(nb, monkeypatch, capsys):
    """On a CPU with native bf16 the tuning would try bf16 too; a train_step that cannot run under bf16 autocast is
    given up in bf16 before the first step, and the tuning then measures fp32 alone: it trains."""
    monkeypatch.setattr(fast_step, "native_bf16", lambda: True)
    monkeypatch.setattr(fast_step, "thread_options", lambda: [torch.get_num_threads()])

    def fp32_only(*args):
        if torch.is_autocast_enabled("cpu"):
            raise RuntimeError("this op has no bf16 kernel")
        return nb["train_step"](*args)
    D, G, d_opt, g_opt = nets(nb)
    step = helpers.FastStep(fp32_only, D, G, CPU, "auto")
    for i in range(fast_step.CpuTuning.WARMUP + fast_step.CpuTuning.TIMED + 2):
        step(D, G, d_opt, g_opt, random_images(8, seed=i).float() / 127.5 - 1, 100, True)
    assert step.tuning.kept[1] == "fp32" and step.precision == "fp32"
    assert "fails in bf16 (RuntimeError: this op has no bf16 kernel), so it runs in fp32" in capsys.readouterr().out
