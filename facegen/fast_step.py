"""FastStep: the learner's train_step, made fast without changing what it computes.

One visible line of the notebook, on unless FACEGEN_EAGER=1 (`step = helpers.FastStep(train_step, D, G, device)`);
the training loop reads the same with or without it. What it does, said when it is made:

* bfloat16 autocast where the hardware does bf16 natively (facegen.settings.pick_precision);
* channels-last D and G (it converts them) and inputs, which spare cuDNN and oneDNN layout
  conversions (measured per step: 1.28x on an H100, 1.09x on a 2-core AVX2 CPU);
* before the first step, the learner's step is tried once on copies of the networks and optimizers
  (the random state put back): what their code cannot take (x.view(...) on a channels-last tensor,
  an op without bf16) is given up, with one line that says why, so code that passed the checks trains;
* on CUDA, after three ordinary (eager) steps, the whole step (forward, backward, both Adam
  updates) is recorded once as a CUDA graph and then only replayed: one launch instead of
  hundreds, which is what such small networks need. While it replays, Python inside train_step (a
  print, a breakpoint) no longer runs, and the optimizers are switched to capturable=True (their
  step counts live on the GPU);
* on a CPU, the threads and the precision by measurement (CpuTuning): the first steps run with the
  default threads and with one per free core, and in bf16 too where the CPU does bf16 natively; the
  fastest is kept, said in one line, and measured again if the speed falls by half (another program
  took the cores). OMP_NUM_THREADS fixes the threads, FACEGEN_PRECISION the precision.

What it changes outside itself (the threads, D's and G's layout, the optimizers' capturable flags) it puts
back in restore(), which helpers.train calls when training ends, however it ends; a FastStep called again
after that changes them again.
"""
from __future__ import annotations

import copy
import os
import time
from typing import Callable

import torch
import torch.nn as nn

from facegen.settings import pick_precision

WARMUP_STEPS = 3  # eager steps before the CUDA graph is recorded (Adam's state must exist first)


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last where it is measured to help (CUDA, CPU); the default layout elsewhere (MPS)."""
    return torch.channels_last if device.type in ("cuda", "cpu") else torch.contiguous_format


class FastStep:
    """Called like train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth); returns its
    four values as 0-d tensors on the device."""

    def __init__(self, train_step: Callable, D: nn.Module, G: nn.Module, device: torch.device | str,
                 precision: str = "auto", cuda_graph: bool = True, tune: bool = True):
        self.train_step, self.device = train_step, torch.device(device)
        self.networks, self.threads, self.flags = (D, G), torch.get_num_threads(), {}  # what restore() puts back
        self.precision = pick_precision(self.device) if precision == "auto" else precision
        precisions = ["fp32", "bf16"] if precision == "auto" and native_bf16() else [self.precision]
        self.tuning = CpuTuning(precisions) if tune and self.device.type == "cpu" else None
        self.layout = memory_format(self.device)
        self.layouts = [layout_of(net) for net in self.networks]
        D.to(memory_format=self.layout)
        G.to(memory_format=self.layout)
        self.restored = False
        self.graph, self.want_graph, self.eager_steps = None, cuda_graph and self.device.type == "cuda", 0
        self.fitted = False  # _fit: whether the learner's step takes this layout and precision, tried once
        layout = "channels-last" if self.layout == torch.channels_last else "default layout"
        candidates = self.tuning.candidates if self.tuning else []
        measured = [what for what, options in (("the threads", {t for t, _ in candidates}),
                                               ("the precision", {p for _, p in candidates})) if len(options) > 1]
        what = " and ".join(measured) + " measured on the first steps" if measured else self.precision
        if measured and "the precision" not in measured:
            what = f"{self.precision}, {what}"
        print(f"FastStep on {self.device}: {what}; D and G converted to {layout}"
              + (", CUDA graph from step 4 (it sets the optimizers' capturable=True, their step counts on the GPU)"
                 if self.want_graph else "") + "; all put back when training ends.")

    def _fit(self, args: tuple) -> None:
        """Before the first step: run train_step once on copies of the networks and optimizers in the layout and
        precisions FastStep would use. What the learner's code cannot take (x.view(...) on a channels-last tensor,
        say) is given up, in one line that says why; if nothing works, the first real step raises the error."""
        precisions = self.tuning.precisions if self.tuning else [self.precision]
        errors = {}
        for layout in dict.fromkeys([self.layout, torch.contiguous_format]):
            works = [p for p in precisions if not self._fails(args, layout, p, errors)]
            if works:
                break
        else:
            return
        if layout != self.layout:
            self.layout = layout
            args[0].to(memory_format=layout)
            args[1].to(memory_format=layout)
            print(f"FastStep: your train_step fails on channels-last tensors ({_first_line(errors[precisions[0]])}), "
                  "so D and G keep the default layout, a little slower. (x.flatten(1) or x.reshape(x.size(0), -1) "
                  "works in both layouts, where x.view(x.size(0), -1) needs the default one.)")
        if works != precisions:
            failed = [p for p in precisions if p not in works]
            print(f"FastStep: your train_step fails in {', '.join(failed)} ({_first_line(errors[failed[0]])}), so "
                  f"it runs in {works[0]}.")
            self.precision = works[0]
            if self.tuning:
                self.tuning.precisions = works
                self.tuning.start_measuring()

    def _fails(self, args: tuple, layout: torch.memory_format, precision: str, errors: dict) -> bool:
        """Whether train_step raises on copies of D, G and their optimizers in this layout and precision (the
        error kept in errors[precision]). The random state is put back, so the learner's run is not shifted."""
        D, G, d_opt, g_opt, real, *rest = args
        saved, self.precision = self.precision, precision
        devices = [self.device] if self.device.type == "cuda" else []
        try:
            D, G = copy.deepcopy(D).to(memory_format=layout), copy.deepcopy(G).to(memory_format=layout)
            d_opt = type(d_opt)(D.parameters(), **d_opt.defaults)
            g_opt = type(g_opt)(G.parameters(), **g_opt.defaults)
            with torch.random.fork_rng(devices=devices, device_type=self.device.type):
                self._eager((D, G, d_opt, g_opt, real.contiguous(memory_format=layout), *rest))
            return False
        except Exception as e:  # noqa: BLE001 - any error: this form does not fit the learner's code
            errors.setdefault(precision, e)
            return True
        finally:
            self.precision = saved

    def _eager(self, args: tuple) -> tuple:
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        with torch.autocast(self.device.type, dtype=dtype, enabled=self.precision == "bf16", cache_enabled=False):
            out = self.train_step(*args)
        return tuple(torch.as_tensor(v, device=self.device).detach().float().reshape(()) for v in out)

    def restore(self) -> None:
        """Put back what FastStep changed outside itself: the threads, D's and G's memory format, and the
        optimizers' capturable flags (their step counts back on the CPU). The CUDA graph is dropped."""
        torch.set_num_threads(self.threads)
        for net, layout in zip(self.networks, self.layouts):
            net.to(memory_format=layout)
        for opt, capturable in self.flags.items():
            for group, flag in zip(opt.param_groups, capturable):
                group["capturable"] = flag
            for state in opt.state.values():
                if "step" in state and not any(capturable):
                    state["step"] = state["step"].to("cpu", torch.float32)
        self.flags, self.graph, self.restored = {}, None, True

    def __call__(self, D, G, d_optimizer, g_optimizer, real_images, z_size, *options):
        if self.restored:  # trained again after restore(): the layout and threads again
            self.restored = False
            for net in self.networks:
                net.to(memory_format=self.layout)
            if self.tuning:
                self.tuning.start_measuring()
        if not self.fitted:
            self.fitted = True
            self._fit((D, G, d_optimizer, g_optimizer, real_images, z_size, *options))
        real = real_images.contiguous(memory_format=self.layout)
        args = (D, G, d_optimizer, g_optimizer, real, z_size, *options)
        if self.tuning is not None:
            start = time.perf_counter()
            out = self._eager(args)
            self.precision = self.tuning.next(time.perf_counter() - start, len(real))
            return out
        if self.graph is not None and args[:4] + args[5:] == self.graph_args and real.shape == self.static_real.shape:
            self.static_real.copy_(real)
            self.graph.replay()
            return self.static_out  # overwritten by the next replay: the caller adds it up at once
        self.eager_steps += 1
        if self.want_graph and self.eager_steps > WARMUP_STEPS:
            return self._capture(args)
        return self._eager(args)

    def _capture(self, args: tuple) -> tuple:
        """Run this step eagerly on a side stream, then record the next one as a CUDA graph.
        Any failure to record means: keep running eagerly (said once)."""
        self.want_graph = False
        for opt in args[2:4]:  # the optimizers must keep their step counts on the GPU
            self.flags[opt] = [group.get("capturable", False) for group in opt.param_groups]
            for group in opt.param_groups:
                group["capturable"] = True
            for state in opt.state.values():
                if "step" in state:
                    state["step"] = state["step"].to(self.device, torch.float32)
        self.static_real = args[4].clone()
        static_args = (*args[:4], self.static_real, *args[5:])
        torch.cuda.synchronize()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            out = self._eager(static_args)
        torch.cuda.current_stream().wait_stream(stream)
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.static_out = self._eager(static_args)
            self.graph, self.graph_args = graph, args[:4] + args[5:]
        except Exception as e:  # noqa: BLE001 - any capture failure means: stay eager
            print(f"(CUDA graph capture failed, training eagerly instead: {e.__class__.__name__}: {e})")
        return out


def layout_of(net: nn.Module) -> torch.memory_format:
    """channels_last when every 4-D weight of net is stored so, else the default layout."""
    weights = [p for p in net.parameters() if p.ndim == 4]
    return torch.channels_last if weights and all(p.is_contiguous(memory_format=torch.channels_last) and
                                                  not p.is_contiguous() for p in weights) else torch.contiguous_format


def _first_line(e: Exception) -> str:
    text = (str(e).strip().splitlines() or [""])[0].split(". ")[0]
    return f"{type(e).__name__}: {text[:200]}"


class CpuTuning:
    """Which threads and precision train fastest on this CPU now, measured on the training's own steps.

    Each candidate (threads, precision) runs WARMUP untimed steps, then TIMED timed ones; the fastest
    is kept and said in one line. Afterwards every step is timed; when the median speed of the last
    WINDOW steps falls below half of the kept candidate's, all candidates are measured again.
    Candidates: the default threads and one per free core (the cores minus the load average; OMP_NUM_THREADS
    set: only its value), each in every precision given (FastStep: fp32, and bf16 where the CPU does it
    natively, AVX512-BF16 or AMX, as elsewhere oneDNN emulates it 13x slower; or the one asked for).
    """

    WARMUP, TIMED, WINDOW = 2, 5, 50

    def __init__(self, precisions: list[str]):
        self.precisions = precisions
        self.start_measuring()

    def start_measuring(self) -> None:
        """(Again:) the candidates as the cores are now (the load average), each to be measured."""
        self.candidates = [(threads, precision) for threads in thread_options() for precision in self.precisions]
        self.speeds, self.times, self.recent = {}, [], []
        self.current, self.kept = 0, None
        self._use(self.candidates[0])

    def _use(self, candidate: tuple[int, str]) -> None:
        torch.set_num_threads(candidate[0])
        self.precision = candidate[1]

    def next(self, seconds: float, images: int) -> str:
        """Record the step just run (seconds for images); return the precision of the next step."""
        if self.kept is None:
            self.times.append(seconds)
            if len(self.times) == self.WARMUP + self.TIMED:
                self.speeds[self.candidates[self.current]] = images * self.TIMED / sum(self.times[self.WARMUP:])
                self.current, self.times = self.current + 1, []
                if self.current == len(self.candidates):
                    self.kept = max(self.speeds, key=self.speeds.get)
                    self._say()
                self._use(self.kept or self.candidates[self.current])
        else:
            self.recent = (self.recent + [images / seconds])[-self.WINDOW:]
            if len(self.recent) == self.WINDOW and sorted(self.recent)[self.WINDOW // 2] < self.speeds[self.kept] / 2:
                print(f"FastStep: the speed fell from {self.speeds[self.kept]:,.0f} to "
                      f"{sorted(self.recent)[self.WINDOW // 2]:,.0f} images/s (another program on the cores?): "
                      "measuring again.")
                self.start_measuring()
        return self.precision

    def _say(self) -> None:
        tried = ", ".join(f"{t} thread{'s' * (t > 1)} {p} {v:,.0f}" for (t, p), v in self.speeds.items())
        threads, precision = self.kept
        print(f"FastStep: measured images/s with {tried}; training with {threads} thread{'s' * (threads > 1)}, "
              f"{precision}.")


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), as PyTorch sees it."""
    cpu = torch.cpu
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def thread_options() -> list[int]:
    """The thread counts to try: OMP_NUM_THREADS if set; else PyTorch's default and, when other programs
    keep cores busy (the load average), one thread per free core."""
    if os.environ.get("OMP_NUM_THREADS"):
        return [torch.get_num_threads()]
    default = torch.get_num_threads()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average: try half the threads too
        busy = default / 2
    free = max(1, min(default, round(default - busy)))
    return [default] if free == default else [default, free]
