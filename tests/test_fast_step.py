"""facegen/fast_step.py: FastStep runs the learner's train_step fast without changing what it computes.
bf16 autocast learns what fp32 learns; it says what it changes (D and G to channels-last) when made; it
hands back the four values as 0-d tensors; without it, train() runs train_step exactly as written."""
from __future__ import annotations

import torch

import helpers
from tests.builders import CPU, nets, random_images, run_train


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


def test_fast_step_says_what_it_changes_and_returns_the_four_values_as_tensors(nb, capsys):
    D, G, d_opt, g_opt = nets(nb)
    step = helpers.FastStep(nb["train_step"], D, G, CPU, "fp32")
    said = capsys.readouterr().out
    assert "FastStep: fp32 on cpu, D and G converted to channels-last." in said, said
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
