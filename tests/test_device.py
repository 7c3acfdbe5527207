"""facegen/device.py: which device (FACEGEN_DEVICE, refused in one line when it is not there) and which
precision: bf16 only where the hardware is fast at it."""
from __future__ import annotations

import pytest
import torch

import helpers
from facegen import device
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


# --- The precision: bf16 only where the CPU has the instructions for it --------------------------------

@pytest.mark.parametrize("avx512_bf16, amx, expected", [(False, False, "fp32"), (True, False, "bf16"),
                                                         (False, True, "bf16"), (True, True, "bf16")])
def test_cpu_precision_follows_the_bf16_instructions(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    assert device.pick_precision(CPU) == expected


def test_cpu_precision_is_fp32_without_onednn(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert device.pick_precision(CPU) == "fp32"


def test_cpu_precision_is_fp32_on_a_torch_without_the_probes(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert device.pick_precision(CPU) == "fp32"



# --- On CUDA: bf16 only where it is native (compute capability 8.0 or more) ---------------------------

@pytest.mark.parametrize("capability, expected", [((7, 5), "fp32"), ((7, 0), "fp32"), ((8, 0), "bf16"),
                                                  ((8, 6), "bf16"), ((9, 0), "bf16")])
def test_cuda_precision_is_bf16_only_from_compute_capability_8(monkeypatch, capability, expected):
    """A T4 (7.5) says is_bf16_supported() by emulation, which is slow: it gets fp32."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert device.pick_precision(torch.device("cuda")) == expected
