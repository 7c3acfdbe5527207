"""Running the learner's train_step fast, without changing what it computes.

* bfloat16 autocast where the hardware is fast at it (facegen.device.pick_precision);
* channels-last tensors, which spare cuDNN and oneDNN layout conversions (measured per step: 1.28x
  on an H100, 1.09x on a 2-core AVX2 CPU);
* on CUDA, after three ordinary (eager) steps, the whole step (forward, backward, both Adam
  updates, the weight average) is recorded once as a CUDA graph and then only replayed: one launch
  instead of hundreds, which is what such small networks need. While it replays, Python inside
  train_step (a print, a breakpoint, Python-side randomness) no longer runs, and the optimizers
  are switched to capturable=True (their step counts live on the GPU).

FACEGEN_EAGER=1 (or train(..., eager=True)) keeps every step eager, for debugging.
"""
from __future__ import annotations

import os
from typing import Callable

import torch
import torch.nn as nn

WARMUP_STEPS = 3  # eager steps before the CUDA graph is recorded (Adam's state must exist first)


def eager_requested() -> bool:
    """True when FACEGEN_EAGER is set to something other than '', 0, false, no or off."""
    return os.environ.get("FACEGEN_EAGER", "").strip().lower() not in ("", "0", "false", "no", "off")


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last where it is measured to help (CUDA, CPU); the default layout elsewhere (MPS)."""
    return torch.channels_last if device.type in ("cuda", "cpu") else torch.contiguous_format


class StepRunner:
    """Calls train_step(D, G, d_optimizer, g_optimizer, real, z_size, **options) and returns its four
    values as one float tensor on the device, so they can be summed there without a host sync."""

    def __init__(self, train_step: Callable, D: nn.Module, G: nn.Module, d_optimizer, g_optimizer,
                 z_size: int, device: torch.device, precision: str, eager: bool,
                 after_step: Callable | None = None, **options):
        self.train_step, self.args, self.options = train_step, (D, G, d_optimizer, g_optimizer), options
        self.z_size, self.device, self.after_step = z_size, device, after_step
        self.autocast_dtype = torch.bfloat16 if precision == "bf16" else None
        self.graph = None
        self.want_graph = not eager and device.type == "cuda"
        self.eager_steps = 0

    @property
    def mode(self) -> str:
        return "CUDA graph" if self.graph is not None else "eager"

    def _step(self, real: torch.Tensor) -> torch.Tensor:
        """One eager step."""
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None, cache_enabled=False):
            out = self.train_step(*self.args, real, self.z_size, **self.options)
        if self.after_step is not None:
            self.after_step()
        return torch.stack([torch.as_tensor(v, device=self.device).detach().float().reshape(()) for v in out])

    def __call__(self, real: torch.Tensor) -> torch.Tensor:
        if self.graph is not None and real.shape == self.static_real.shape:
            self.static_real.copy_(real)
            self.graph.replay()
            return self.static_out  # overwritten by the next replay: the caller adds it up at once
        self.eager_steps += 1
        if self.want_graph and self.eager_steps > WARMUP_STEPS:
            return self._capture(real)
        return self._step(real)

    def _capture(self, real: torch.Tensor) -> torch.Tensor:
        """Run this step eagerly on a side stream, then record the next one as a CUDA graph.

        Any failure to record means: keep running eagerly (said once).
        """
        self.want_graph = False
        for opt in self.args[2:]:  # the optimizers must keep their step counts on the GPU
            for group in opt.param_groups:
                group["capturable"] = True
            for state in opt.state.values():
                if "step" in state:
                    state["step"] = state["step"].to(self.device, torch.float32)
        self.static_real = real.clone()
        torch.cuda.synchronize()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            out = self._step(self.static_real)
        torch.cuda.current_stream().wait_stream(stream)
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.static_out = self._step(self.static_real)
            self.graph = graph
        except Exception as e:  # noqa: BLE001 - any capture failure means: stay eager
            print(f"(CUDA graph capture failed, training eagerly instead: {e.__class__.__name__}: {e})")
        return out
