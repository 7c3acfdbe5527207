"""The fast path: bf16 is chosen only where the hardware is fast at it, and it learns what fp32 learns."""
from __future__ import annotations

import pytest
import torch

import helpers
from facegen import synthetic

CPU = torch.device("cpu")


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(False, False, "fp32"), (True, False, "bf16"),
                                                         (False, True, "bf16"), (True, True, "bf16")])
def test_cpu_precision_follows_the_bf16_instructions(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    assert helpers.pick_precision(CPU) == expected


def test_cpu_precision_is_fp32_without_onednn(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert helpers.pick_precision(CPU) == "fp32"


def test_cpu_precision_is_fp32_on_a_torch_without_the_probes(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert helpers.pick_precision(CPU) == "fp32"


def train_tiny(nb, tmp_path, precision: str) -> helpers.TrainResult:
    """Two epochs of small nets (conv_dim 16) on fixed random images, seed 0."""
    torch.manual_seed(0)
    D, G = nb["Discriminator"](conv_dim=16), nb["Generator"](conv_dim=16)
    D.apply(nb["weights_init_normal"])
    G.apply(nb["weights_init_normal"])
    d_opt = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    return helpers.train(D, G, d_opt, g_opt, nb["train_step"], helpers.get_dataloader(32, images=images), epochs=2,
                         device=CPU, out_dir=tmp_path / precision, precision=precision, sample_size=16,
                         log_every=2, resume=False)


def test_bf16_on_the_cpu_learns_what_fp32_learns(nb, tmp_path):
    fp32, bf16 = train_tiny(nb, tmp_path, "fp32"), train_tiny(nb, tmp_path, "bf16")
    assert bf16.summary["precision"] == "bf16" and fp32.summary["precision"] == "fp32"
    assert fp32.history["step"] == bf16.history["step"]
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        a, b = torch.tensor(fp32.history[key]), torch.tensor(bf16.history[key])
        assert torch.allclose(a, b, rtol=0.05, atol=0.02), f"{key}: fp32 {a.tolist()} against bf16 {b.tolist()}"
    a, b = fp32.samples_per_epoch[-1].float(), bf16.samples_per_epoch[-1].float()
    assert (a - b).abs().mean() < 1, "the same fixed z should draw nearly the same images (uint8 levels)"
    assert not torch.equal(a, b), "bf16 should have run in bf16, not silently in fp32"


def test_the_benchmark_runs_both_loops_and_reports_their_ratio(tmp_path):
    import json
    import subprocess
    import sys

    from conftest import ROOT

    data = synthetic.write_synthetic_zip(tmp_path / "faces.zip", n_images=300, seed=5)
    out = tmp_path / "speed.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.train_speed", "--data", str(data), "--seconds", "1",
                          "--device", "cpu", "--precision", "bf16", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["device"] == "cpu" and results["precision"] == "bf16"
    assert results["data"]["images"] == 300
    assert results["reference_images_per_second"] > 0 and results["notebook_images_per_second"] > 0
    assert results["ratio"] == round(results["notebook_images_per_second"] / results["reference_images_per_second"], 2)
    assert f"Ratio: {results['ratio']:.2f}x" in run.stdout
