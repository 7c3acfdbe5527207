"""facegen/fast_step.py: the fast path runs the learner's train_step without changing what it computes.
bf16 autocast learns what fp32 learns; FACEGEN_EAGER is read as a yes/no flag; StepRunner hands back
the four values as one tensor."""
from __future__ import annotations

import pytest
import torch

from facegen import fast_step
from tests.builders import CPU, nets, random_images, run_train


def test_bf16_on_the_cpu_learns_what_fp32_learns(nb, tmp_path):
    """Two epochs of small nets (conv_dim 16) on fixed random images, seed 0, in fp32 and in bf16."""
    fp32, bf16 = (run_train(nb, tmp_path / precision, epochs=2, conv_dim=16, n_images=256, batch_size=32,
                            precision=precision, sample_size=16, resume=False, eager=None, checkpoint_minutes=2.0)
                  for precision in ("fp32", "bf16"))
    assert bf16.summary["precision"] == "bf16" and fp32.summary["precision"] == "fp32"
    assert fp32.history["step"] == bf16.history["step"]
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        a, b = torch.tensor(fp32.history[key]), torch.tensor(bf16.history[key])
        assert torch.allclose(a, b, rtol=0.05, atol=0.02), f"{key}: fp32 {a.tolist()} against bf16 {b.tolist()}"
    a, b = fp32.samples_per_epoch[-1].float(), bf16.samples_per_epoch[-1].float()
    assert (a - b).abs().mean() < 1, "the same fixed z should draw nearly the same images (uint8 levels)"
    assert not torch.equal(a, b), "bf16 should have run in bf16, not silently in fp32"


@pytest.mark.parametrize("value, eager", [("", False), ("0", False), ("false", False), ("No", False),
                                          (" off ", False), ("1", True), ("yes", True), ("true", True)])
def test_facegen_eager_is_a_yes_no_flag(monkeypatch, value, eager):
    monkeypatch.setenv("FACEGEN_EAGER", value)
    assert fast_step.eager_requested() is eager


def test_step_runner_returns_the_four_values_as_one_tensor_and_runs_after_step(nb):
    D, G, d_opt, g_opt = nets(nb)
    after = []
    step = fast_step.StepRunner(nb["train_step"], D, G, d_opt, g_opt, 100, CPU, "fp32", eager=False,
                                after_step=lambda: after.append(1), smooth=True)
    out = step(random_images(8).float() / 127.5 - 1)
    assert out.shape == (4,) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert after == [1] and step.mode == "eager", "no CUDA graph on a CPU, and after_step runs once a step"
