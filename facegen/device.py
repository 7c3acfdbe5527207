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
    """'bf16' where the hardware does bfloat16 fast, else 'fp32'.

    CUDA: compute capability 8.0 or more (Ampere and newer), which do bf16 natively; below it (e.g.
    the T4, 7.5, of free notebook services) torch.cuda.is_bf16_supported() can be true by emulation,
    which is slow, so fp32 is kept. CPUs: only with AVX512-BF16 or AMX instructions, which
    oneDNN uses for bf16 convolutions (measured per step on a 2-core AMD EPYC with AVX512-BF16:
    about 1.5x over fp32). Elsewhere (e.g. AVX2 alone) bf16 is emulated and slower, so fp32 is kept.
    """
    if device.type == "cuda":
        return "bf16" if torch.cuda.get_device_capability(device) >= (8, 0) else "fp32"
    if device.type == "cpu" and _cpu_has_fast_bf16():
        return "bf16"
    return "fp32"


def _cpu_has_fast_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX) that PyTorch's oneDNN can use."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return torch.backends.mkldnn.is_available() and any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def device_name(device: torch.device) -> str:
    """A readable device name for the summary, e.g. 'cuda (NVIDIA H100 80GB HBM3)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
