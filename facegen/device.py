"""Which device to train on, and in which precision."""
from __future__ import annotations

import torch

from facegen import FacegenError


def pick_device(requested: str = "") -> torch.device:
    """FACEGEN_DEVICE if set (cpu, cuda, cuda:N, mps), else CUDA, else MPS, else CPU."""
    requested = (requested or "").strip().lower()
    if not requested:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise FacegenError(f"FACEGEN_DEVICE={requested!r} is not a device; use cpu, cuda, cuda:0 or mps") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise FacegenError(f"FACEGEN_DEVICE={requested!r} is not supported; use cpu, cuda, cuda:0 or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FacegenError(f"FACEGEN_DEVICE={requested} but this machine has no CUDA GPU; unset it or use cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise FacegenError(f"FACEGEN_DEVICE={requested} but this machine has {torch.cuda.device_count()} CUDA GPU(s) "
                           f"(cuda:0 to cuda:{torch.cuda.device_count() - 1}); use one of those, or unset it")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise FacegenError(f"FACEGEN_DEVICE={requested} but MPS is not available here; unset it or use cpu")
    return device


def pick_precision(device: torch.device) -> str:
    """'bf16' on CUDA GPUs that do bfloat16 natively, else 'fp32' (FACEGEN_PRECISION=bf16 overrides).

    CUDA: compute capability 8.0 or more (Ampere and newer); below it (e.g. the T4, 7.5, of free
    notebook services) torch.cuda.is_bf16_supported() can be true by emulation, which is slow.
    CPUs: fp32 to start with. Measured on 2 cores (README, "Speed"): without bf16 instructions (AVX2
    alone) bf16 is emulated and much slower; with AMX or AVX512-BF16 it won on some machines and lost
    on others, and lost under contention. So where bf16 is native, FastStep's CPU tuning measures both
    on the training's first steps and keeps the faster (facegen/fast_step.py, CpuTuning).
    """
    if device.type == "cuda":
        return "bf16" if torch.cuda.get_device_capability(device) >= (8, 0) else "fp32"
    return "fp32"


def device_name(device: torch.device) -> str:
    """A readable device name for the summary, e.g. 'cuda (NVIDIA H100 80GB HBM3)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
