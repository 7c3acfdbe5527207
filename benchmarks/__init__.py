"""The measurements behind docs/: each module is a command (python -m benchmarks.NAME) that writes its
results to benchmarks/results/NAME.json, which python -m benchmarks.docs turns into the docs' tables."""
from __future__ import annotations

import os
import platform
import subprocess


def cpu_name() -> str:
    """The CPU's model name as lscpu prints it (else the platform's processor)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> str:
    """e.g. '2 cores of AMD EPYC (AVX2), torch 2.14.1': what a result was measured on."""
    import torch

    return f"{os.cpu_count()} cores of {cpu_name()} ({torch.backends.cpu.get_cpu_capability()}), torch {torch.__version__}"
