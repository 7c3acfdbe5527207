"""The run's settings: one Settings object (the settings cell, the FACEGEN_* environment variables and the
recipe), validated in one place, and the device and precision to train on."""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Callable

import torch

from facegen import FacegenError, did_you_mean


# --- device ---------------------------------------------------------------------------------------
# Which device to train on, and in which precision.

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
    CPUs: fp32 to start with. Measured on 2 cores (docs/speed.md): without bf16 instructions (AVX2
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


# --- parameters -----------------------------------------------------------------------------------
# The run's settings (FACEGEN_* variables), validated before any work starts.

QUICK_MAX_IMAGES = 1024  # the quick (CI) configuration: this many images ...
QUICK_EPOCHS = 1  # ... for one short epoch
GPU_EPOCHS = 40  # a full run on a GPU
CPU_MINUTES = 5.0  # a CPU run without FACEGEN_EPOCHS is time-bounded to about this long


SEED_MAX = 2**32 - 1  # numpy's and most libraries' seeds; the loader's order mixes it with the epoch in 64 bits
ON, OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _parse_number(name: str, value, kind: type, minimum: float, allow_empty: bool, maximum: float = math.inf):
    """Turn a string (from the environment) or a number into a number, or raise one clear line about it. A whole
    number may be written as 2.0 (a float that is whole), not as 2.5."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if allow_empty:
            return None
        raise FacegenError(f"{name} must be set to a number, got nothing")
    try:
        number = float(value)
        if kind is int:
            if not number.is_integer():
                raise ValueError
            number = int(number)
    except (TypeError, ValueError, OverflowError):
        what = "a whole number" if kind is int else "a number"
        raise FacegenError(f"{name} must be {what} >= {minimum:g}, got {value!r}") from None
    if not minimum <= number <= maximum or (kind is float and not math.isfinite(number)):
        limit = f"between {minimum:g} and {maximum:,}" if maximum < math.inf else f">= {minimum:g}"
        raise FacegenError(f"{name} must be {limit}, got {value!r}")
    return number


def _is_on(name: str, flag) -> bool:
    """A yes/no parameter: 1, true, yes, on mean yes; 0, false, no, off or unset mean no; anything else is refused
    (FACEGEN_FRESH=nein must not start over, nor FACEGEN_PRETRAINED=n load the generator)."""
    text = str(flag if flag is not None else "").strip().lower()
    if text not in ON + OFF:
        raise FacegenError(f"{name} must be one of 1, true, yes, on or 0, false, no, off; got {flag!r}")
    return text in ON


def _number(kind: type, minimum: float, empty: bool = True, maximum: float = math.inf) -> Callable:
    return lambda name, value: _parse_number(name, value, kind, minimum, empty, maximum)


def _text(name: str, value) -> str:
    return str(value or "").strip()


def _path(name: str, value) -> Path | None:
    return Path(str(value).strip()) if str(value or "").strip() else None


def _precision(name: str, value) -> str:
    text = str(value or "auto").strip().lower()
    if text not in ("auto", "fp32", "bf16"):
        raise FacegenError(f"{name} must be auto, fp32 or bf16, got {value!r}")
    return text


def _device(name: str, value) -> str:
    text = str(value or "").strip().lower()
    pick_device(text)  # an unknown device fails here, before any work starts
    return text


# Every knob of a run, with how its value is read: a string from the environment or a value from the
# notebook, validated the same way. The settings cell and the FACEGEN_* variables set the first group; the
# Hyperparameters cell the second (through Settings.replace, in step 8's training cell).
PARSERS = {
    "data": _text,  # a zip or a folder; "" = look beside the notebook, download, or synthesise
    "out_dir": lambda name, value: _path(name, value) or Path("outputs"),  # the run folders, the cache
    "epochs": _number(int, 1),  # None = 40 on a GPU, time-bounded on a CPU (training_budget)
    "minutes": _number(float, 0.01),  # stop training after this many minutes (None = 5 on a CPU, none on a GPU)
    "max_images": _number(int, 1),  # use only the first N images (None = all)
    "batch_size": _number(int, 2),  # None = the Hyperparameters cell's (128 on a GPU, 32 on a CPU)
    "device": _device,  # "" = CUDA, else MPS, else CPU
    "seed": _number(int, 0, empty=False, maximum=SEED_MAX),
    "quick": _is_on,  # a small subset and one short epoch (CI)
    "pretrained": _is_on,  # skip training and load assets/generator.pt
    "fid_samples": _number(int, 0),  # None = 10,000 on a GPU, 300 on a CPU (step 10); 0 = off
    "fresh": _is_on,  # start training over instead of resuming this run's checkpoint
    "eager": _is_on,  # no FastStep: every step runs train_step as written (to debug it)
    "precision": _precision,  # FastStep's precision: auto (by hardware), fp32 or bf16
    "shared_cache": _path,  # a class's decoded faces, read first and never written (python -m facegen.dataset)
    # the recipe
    "z_size": _number(int, 1, empty=False),  # the length of z
    "smooth": _is_on,  # one-sided label smoothing (real faces labelled 0.9)
    "ema_decay": _number(float, 0.0, maximum=0.999999),  # the weight average's decay (None or 0: no average)
    "faces": _text,  # what the faces are, as step 1 found them: part of the run's identity
    "sample_size": _number(int, 1, empty=False),  # faces drawn from the fixed z after each epoch
    "log_every": _number(int, 1),  # steps per log line (None: about 4 an epoch, at most 50 steps)
    "checkpoint_minutes": _number(float, 0.0, empty=False),  # a checkpoint at least this often, and each epoch
}
ENVIRONMENT = tuple(PARSERS)[:tuple(PARSERS).index("shared_cache") + 1]  # what FACEGEN_* variables may set
IDENTITY = ("z_size", "smooth", "ema_decay", "seed", "faces")  # with the networks, the optimizers and the loader:
# what makes a run (runs.run_settings); the same identity resumes a run, another starts a new one


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every knob of a run in one object, validated when it is made (read_settings, Settings(...) or
    replace()). train() reads it; settings.json in the run's folder keeps its identity (IDENTITY)."""

    data: str = ""
    out_dir: Path = Path("outputs")
    epochs: int | None = None
    minutes: float | None = None
    max_images: int | None = None
    batch_size: int | None = None
    device: str = ""
    seed: int = 0
    quick: bool = False
    pretrained: bool = False
    fid_samples: int | None = None
    fresh: bool = False
    eager: bool = False
    precision: str = "auto"
    shared_cache: Path | None = None
    z_size: int = 100
    smooth: bool = True
    ema_decay: float | None = 0.999
    faces: str = ""
    sample_size: int = 64
    log_every: int | None = None
    checkpoint_minutes: float = 2.0

    def __post_init__(self):
        for name, parse in PARSERS.items():
            label = variable(name) if name in ENVIRONMENT else name
            object.__setattr__(self, name, parse(label, getattr(self, name)))

    def replace(self, **changes) -> Settings:
        """A copy with these settings changed (validated); a name that is no setting is refused in one line."""
        for name in changes:
            if name not in PARSERS:
                raise FacegenError(f"{name!r} is not a setting{did_you_mean(name, PARSERS, repr)} The settings: "
                                   f"{', '.join(PARSERS)}.")
        return dataclasses.replace(self, **changes)

    def identity(self) -> dict:
        return {name: getattr(self, name) for name in IDENTITY}


def variable(name: str) -> str:
    """The environment variable of a setting: FACEGEN_EPOCHS for epochs, FACEGEN_OUT for out_dir."""
    return f"FACEGEN_{'OUT' if name == 'out_dir' else name.upper()}"


def read_parameters(**values) -> Settings:
    """Settings from the environment's strings (or values), with the quick and pretrained configurations applied."""
    settings = Settings().replace(**{name: "" if value is None else value for name, value in values.items()})
    no_fid = 0 if settings.fid_samples is None else settings.fid_samples  # quick and pretrained: FID only when asked
    if settings.quick:
        settings = settings.replace(epochs=settings.epochs or QUICK_EPOCHS, fid_samples=no_fid,
                                    max_images=min(settings.max_images or QUICK_MAX_IMAGES, QUICK_MAX_IMAGES))
    if settings.pretrained:  # nothing is trained; all the faces still serve step 11's search for copies
        settings = settings.replace(fid_samples=no_fid)
    return settings


def training_budget(settings: Settings, device) -> tuple[int, float | None]:
    """(epochs, max_minutes): FACEGEN_EPOCHS, else 40; without FACEGEN_EPOCHS, anything but a CUDA GPU (a
    CPU, a Mac's GPU) trains the laptop recipe for at most 5 minutes (FACEGEN_MINUTES overrides)."""
    epochs = settings.epochs or GPU_EPOCHS
    bounded = device.type != "cuda" and not settings.epochs
    return epochs, settings.minutes or (CPU_MINUTES if bounded else None)


CELL = ("minutes", "fresh", "pretrained", "eager")  # what the notebook's settings cell sets
OTHER_VARIABLES = ("FACEGEN_PROJECT_URL",)  # read elsewhere (the notebook's first cell)


def read_settings(environ=None, **cell) -> Settings:
    """The run's Settings from the notebook's settings cell (minutes, fresh, pretrained, eager) and the FACEGEN_*
    environment variables (FACEGEN_EPOCHS for epochs, ...), which override the cell in headless runs (said in
    one line when they do); what neither sets keeps its default. A FACEGEN_* name that is no setting (a
    misspelling that would be ignored) is refused in one line naming the nearest setting."""
    environ = os.environ if environ is None else environ
    unknown = sorted(set(cell) - set(CELL))
    if unknown:
        raise FacegenError(f"read_settings takes {', '.join(CELL)} from the settings cell, not {', '.join(unknown)}")
    known = (*map(variable, ENVIRONMENT), *OTHER_VARIABLES)
    for name in sorted(n for n in environ if n.upper().startswith("FACEGEN_") and n not in known):
        raise FacegenError(f"{name} is not a setting{did_you_mean(name.upper(), known)} The settings are listed in "
                           "docs/outputs.md.")
    values = {**cell, **{name: environ[variable(name)] for name in ENVIRONMENT if variable(name) in environ}}
    for name in CELL:
        if variable(name) in environ and name in cell:
            print(f"{variable(name)}={environ[variable(name)]} (set outside the notebook) overrides "
                  f"{name} = {cell[name]!r} of the settings cell.")
    try:
        return read_parameters(**values)
    except FacegenError as e:  # name a value of the settings cell as the learner wrote it
        text = str(e)
        for name in (n for n in CELL if n in cell and variable(n) not in environ):
            text = text.replace(variable(name), f"{name} (in the settings cell)")
            text = text.replace("must be one of 1, true, yes, on or 0, false, no, off", "must be True or False")
        raise FacegenError(text) from None
