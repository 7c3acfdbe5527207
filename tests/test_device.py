"""facegen/device.py: which device (FACEGEN_DEVICE, refused in one line when it is not there) and which
precision: bf16 only on GPUs that do it natively, fp32 on CPUs."""
from __future__ import annotations

import pytest
import torch

import helpers
from facegen import device, fast_step
from helpers import FacegenError
from tests.builders import CPU, one_line


# --- The device -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tpu", "gpu", "xla", "meta", "cuda:abc"])
def test_unknown_device_is_refused(name):
    with pytest.raises(FacegenError) as e:
        helpers.read_parameters(device=name)
    one_line(e, "FACEGEN_DEVICE", name, "cpu")


def test_cuda_without_a_gpu_is_refused():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(FacegenError) as e:
        helpers.read_parameters(device="cuda")
    one_line(e, "FACEGEN_DEVICE", "no CUDA GPU", "cpu")


def test_cuda_index_that_does_not_exist_is_refused():
    """cuda:99 is no device on any machine: refused up front, not at the first tensor moved there."""
    with pytest.raises(FacegenError) as e:
        helpers.read_parameters(device="cuda:99")
    one_line(e, "FACEGEN_DEVICE", "cuda:99")


def test_cpu_is_always_there_whatever_the_spelling():
    assert helpers.pick_device(" CPU ") == CPU


# --- The precision: a CPU trains in fp32, whatever bf16 instructions it has ---------------------------

@pytest.mark.parametrize("avx512_bf16, amx", [(False, False), (True, False), (False, True), (True, True)])
def test_bf16_counts_as_native_on_a_cpu_only_with_avx512_bf16_or_amx(monkeypatch, avx512_bf16, amx):
    """Where it is native FastStep measures bf16 against fp32 (tests/test_fast_step.py); elsewhere oneDNN
    emulates it, 13x slower, and it is never tried. Training starts in fp32 either way."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert fast_step.native_bf16() == (avx512_bf16 or amx)
    assert device.pick_precision(CPU) == "fp32"


@pytest.mark.parametrize("precision, autocast", [("bf16", torch.bfloat16), ("fp32", None)])
def test_a_precision_asked_for_on_a_cpu_is_the_one_the_step_runs_in(precision, autocast):
    seen = []

    def step(*args):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return 1.0, 2.0, 0.5, 0.5
    fast = helpers.FastStep(step, torch.nn.Linear(1, 1), torch.nn.Linear(1, 1), CPU, precision, tune=False)
    fast(None, None, None, None, torch.zeros(2, 3, 4, 4), 100)
    assert seen == [autocast] and fast.precision == precision


# --- On CUDA: bf16 only where it is native (compute capability 8.0 or more) ---------------------------

@pytest.mark.parametrize("capability, expected", [((7, 5), "fp32"), ((7, 0), "fp32"), ((8, 0), "bf16"),
                                                  ((8, 6), "bf16"), ((9, 0), "bf16")])
def test_cuda_precision_is_bf16_only_from_compute_capability_8(monkeypatch, capability, expected):
    """A T4 (7.5) says is_bf16_supported() by emulation, which is slow: it gets fp32."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert device.pick_precision(torch.device("cuda")) == expected
