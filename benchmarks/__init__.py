"""The measurements behind docs/: each module is a command (python -m benchmarks.NAME) that writes its
results to benchmarks/results/NAME.json, which python -m benchmarks.docs turns into the docs' tables."""
from __future__ import annotations

import os
import platform
import shlex
import subprocess


def cpu_name() -> str:
    """The CPU's model name as lscpu prints it (else the platform's processor)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> str:
    """e.g. '2 cores of AMD EPYC (AVX2), torch 2.14.1': what a result was measured on. A CPU with AVX-512
    limited to AVX2 (ATEN_CPU_CAPABILITY=avx2, the laptop stand-in) says so."""
    import torch

    isa = torch.backends.cpu.get_cpu_capability()
    if isa != "AVX512" and " avx512f " in f" {cpu_flags()} ":
        isa += " of an AVX-512 CPU, limited"
    return f"{os.cpu_count()} cores of {cpu_name()} ({isa}), torch {torch.__version__}"


def command(module: str, argv: list[str]) -> str:
    """The command line that reruns a benchmark, with the variables that limit the CPU's instruction set."""
    limits = [f"{k}={os.environ[k]}" for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if os.environ.get(k)]
    return " ".join(limits + [f"python -m benchmarks.{module}", shlex.join(argv)]).strip()


def cpu_flags() -> str:
    """The CPU's feature flags (Linux; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1] for line in f if line.startswith("flags")), "")
    except OSError:
        return ""
