"""The run's settings: the FACEGEN_* environment variables, validated in one place, and the device
and precision to train on."""
from __future__ import annotations

import dataclasses
import inspect
import math
import os
from pathlib import Path

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


@dataclasses.dataclass(frozen=True)
class Config:
    """Every knob of a run, validated. Built by read_parameters."""

    data: str  # a zip or a folder; "" = look beside the notebook, download, or synthesise
    out_dir: Path  # where samples.png, losses.png, checkpoint.pt and summary.json land
    epochs: int | None  # None = 40 on a GPU, time-bounded on a CPU
    minutes: float | None  # stop training after this many minutes (None = no time bound)
    max_images: int | None  # use only the first N images (None = all)
    batch_size: int | None  # None = the recipe's (the Hyperparameters cell: 128 on a GPU, 32 on a CPU)
    device: str  # "" = CUDA, else MPS, else CPU
    seed: int
    quick: bool  # a small subset and one short epoch (CI)
    pretrained: bool  # skip training and load assets/generator.pt
    fid_samples: int | None  # None = 10,000 on a GPU, 300 on a CPU (step 10); 0 = off
    fresh: bool = False  # start training over instead of resuming this run's checkpoint
    eager: bool = False  # no CUDA graph: every step runs as plain Python (for debugging train_step)
    precision: str = "auto"  # FastStep's precision: auto (by hardware), fp32 or bf16
    shared_cache: Path | None = None  # a class's decoded faces, read first and never written (python -m facegen.dataset)


SEED_MAX = 2**32 - 1  # numpy's and most libraries' seeds; the loader's order mixes it with the epoch in 64 bits
ON, OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
SETTINGS = ("FACEGEN_PROJECT_URL",)  # read elsewhere (the notebook's first cell); the rest: read_environment


def _parse_number(name: str, value, kind: type, minimum: float, allow_empty: bool, maximum: float = math.inf):
    """Turn an environment string into a number, or raise one clear line about it. A whole number may be
    written as 2.0 (a float that is whole), not as 2.5."""
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


def read_parameters(data="", out_dir="outputs", epochs="", minutes="", max_images="", batch_size="",
                    device="", seed="0", quick="", pretrained="", fid_samples="", fresh="",
                    eager="", precision="auto", shared_cache="") -> Config:
    """Validate the notebook's parameters (strings from the environment, or numbers from a caller)."""
    config = Config(
        data=str(data or "").strip(),
        out_dir=Path(str(out_dir or "outputs")),
        epochs=_parse_number("FACEGEN_EPOCHS", epochs, int, 1, allow_empty=True),
        minutes=_parse_number("FACEGEN_MINUTES", minutes, float, 0.01, allow_empty=True),
        max_images=_parse_number("FACEGEN_MAX_IMAGES", max_images, int, 1, allow_empty=True),
        batch_size=_parse_number("FACEGEN_BATCH_SIZE", batch_size, int, 2, allow_empty=True),
        device=str(device or "").strip().lower(),
        seed=_parse_number("FACEGEN_SEED", seed, int, 0, allow_empty=False, maximum=SEED_MAX),
        quick=_is_on("FACEGEN_QUICK", quick),
        pretrained=_is_on("FACEGEN_PRETRAINED", pretrained),
        fid_samples=_parse_number("FACEGEN_FID_SAMPLES", fid_samples, int, 0, allow_empty=True),
        fresh=_is_on("FACEGEN_FRESH", fresh),
        eager=_is_on("FACEGEN_EAGER", eager),
        precision=str(precision or "auto").strip().lower(),
        shared_cache=Path(str(shared_cache).strip()) if str(shared_cache or "").strip() else None,
    )
    if config.precision not in ("auto", "fp32", "bf16"):
        raise FacegenError(f"FACEGEN_PRECISION must be auto, fp32 or bf16, got {precision!r}")
    pick_device(config.device)  # an unknown device fails here, before any work starts
    no_fid = 0 if config.fid_samples is None else config.fid_samples  # quick and pretrained: FID only when asked
    if config.quick:
        config = dataclasses.replace(
            config, epochs=config.epochs or QUICK_EPOCHS, fid_samples=no_fid,
            max_images=min(config.max_images or QUICK_MAX_IMAGES, QUICK_MAX_IMAGES))
    if config.pretrained:  # nothing is trained; all the faces still serve step 11's search for copies
        config = dataclasses.replace(config, fid_samples=no_fid)
    return config


def training_budget(config: Config, device) -> tuple[int, float | None]:
    """(epochs, max_minutes): FACEGEN_EPOCHS, else 40; without FACEGEN_EPOCHS, anything but a CUDA GPU (a
    CPU, a Mac's GPU) trains the laptop recipe for at most 5 minutes (FACEGEN_MINUTES overrides)."""
    epochs = config.epochs or GPU_EPOCHS
    bounded = device.type != "cuda" and not config.epochs
    return epochs, config.minutes or (CPU_MINUTES if bounded else None)


CELL = ("minutes", "fresh", "pretrained", "eager")  # what the notebook's settings cell sets


def read_environment(environ=None, **cell) -> Config:
    """read_parameters from the notebook's settings cell (minutes, fresh, pretrained, eager) and the FACEGEN_*
    environment variables (FACEGEN_EPOCHS for epochs, ...), which override the cell in headless runs (said in
    one line when they do); what neither sets takes read_parameters' default. A FACEGEN_* name that is no setting
    (a misspelling that would be ignored) is refused in one line naming the nearest setting."""
    environ = os.environ if environ is None else environ
    defaults = inspect.signature(read_parameters).parameters
    unknown = sorted(set(cell) - set(CELL))
    if unknown:
        raise FacegenError(f"read_environment takes {', '.join(CELL)} from the settings cell, not {', '.join(unknown)}")
    variable = {name: f"FACEGEN_{'OUT' if name == 'out_dir' else name.upper()}" for name in defaults}
    known = (*variable.values(), *SETTINGS)
    for name in sorted(n for n in environ if n.upper().startswith("FACEGEN_") and n not in known):
        raise FacegenError(f"{name} is not a setting{did_you_mean(name.upper(), known)} The settings are listed in "
                           "docs/outputs.md.")
    values = {name: environ.get(variable[name], cell.get(name, p.default)) for name, p in defaults.items()}
    for name in CELL:
        if variable[name] in environ and name in cell:
            print(f"{variable[name]}={environ[variable[name]]} (set outside the notebook) overrides "
                  f"{name} = {cell[name]!r} of the settings cell.")
    try:
        return read_parameters(**{name: "" if value is None else value for name, value in values.items()})
    except FacegenError as e:  # name a value of the settings cell as the learner wrote it
        text = str(e)
        for name in (n for n in CELL if n in cell and variable[n] not in environ):
            text = text.replace(variable[name], f"{name} (in the settings cell)")
            text = text.replace("must be one of 1, true, yes, on or 0, false, no, off", "must be True or False")
        raise FacegenError(text) from None
