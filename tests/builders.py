"""Small builders the test files share: images and zips, tiny networks and a seeded training run,
checkpoint-like states, and the one-line-message check. Imported as `from tests.builders import ...`.

Models are the notebook's own (the `nb` fixture of conftest.py), at conv_dim=8, on a few dozen
random images, so a whole training run takes a fraction of a second on a CPU.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import torch
from PIL import Image

import helpers
from benchmarks.notebook import load_notebook_code
from facegen import checkpoints

ROOT = Path(helpers.__file__).resolve().parent
CPU = torch.device("cpu")
ASSET_CONV_DIM = 32  # assets/generator.pt: the CPU recipe's generator (the notebook's Hyperparameters, README "Results")
scale = load_notebook_code()["scale"]  # the notebook's, for every DataLoader the tests build


# --- Images and zips ------------------------------------------------------------------------------

def image_bytes(colour=(200, 30, 30), size=(40, 40), mode="RGB", fmt="JPEG", **save_kw) -> bytes:
    """One plain image encoded as fmt."""
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, fmt, **save_kw)
    return buf.getvalue()


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    """A zip holding exactly these entries (names are stored as given, even '../x' or '/abs')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


def good_zip(path: Path, n: int = 4) -> Path:
    """A zip of n small plain JPEGs under celeba/."""
    return write_zip(path, {f"celeba/{i:06d}.jpg": image_bytes((20 * i, 100, 50)) for i in range(n)})


def slip_zip(tmp_path: Path, evil: str) -> Path:
    """box/faces.zip with two good faces and one entry named `evil` (e.g. '../evil.jpg')."""
    return write_zip(tmp_path / "box" / "faces.zip", {"faces/000001.jpg": image_bytes(), evil: image_bytes((1, 2, 3)),
                                                      "faces/000002.jpg": image_bytes()})


def slip_names(tmp_path: Path) -> dict[str, str]:
    """Zip-slip entry names: each would land outside the folder a zip is extracted into."""
    return {"dotdot": "../evil.jpg", "deep-dotdot": "faces/../../../evil.jpg",
            "absolute": str(tmp_path / "abs-evil.jpg"), "dotdot-into-sibling": "../sibling/evil.jpg"}


def files_under(root: Path, exclude: Path | None = None) -> set[str]:
    """Every file and folder below root (relative names), except those inside exclude."""
    out = set()
    for p in root.rglob("*"):
        if exclude is not None and (p == exclude or exclude in p.parents):
            continue
        out.add(p.relative_to(root).as_posix())
    return out


# --- Messages -------------------------------------------------------------------------------------

def one_line(excinfo, *needles: str) -> str:
    """The FacegenError's message: one line that contains every needle (case-insensitive)."""
    message = str(excinfo.value)
    assert "\n" not in message.strip(), f"not one line: {message!r}"
    for needle in needles:
        assert needle.lower() in message.lower(), f"{needle!r} not in {message!r}"
    return message


# --- Tiny training runs ---------------------------------------------------------------------------

def random_images(n: int = 64, size: int = 32, seed: int = 1) -> torch.Tensor:
    """n random uint8 images (n, 3, size, size), the same for the same seed."""
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def nets(nb: dict, conv_dim: int = 8, lr: float = 2e-4, betas=(0.5, 0.999), g_lr: float | None = None,
         g_betas=None):
    """The notebook's D and G at conv_dim, initialised as in the notebook, with Adam as in the notebook."""
    D, G = nb["Discriminator"](conv_dim=conv_dim), nb["Generator"](conv_dim=conv_dim)
    D.apply(nb["weights_init_normal"])
    G.apply(nb["weights_init_normal"])
    d_opt = torch.optim.Adam(D.parameters(), lr, betas=betas)
    g_opt = torch.optim.Adam(G.parameters(), g_lr or lr, betas=g_betas or betas)
    return D, G, d_opt, g_opt


def tiny(nb: dict, n_images: int = 64, batch_size: int = 16, conv_dim: int = 8, **optimizer):
    """The notebook's D and G at conv_dim, Adam as in the notebook, and a loader of random images."""
    D, G, d_opt, g_opt = nets(nb, conv_dim, **optimizer)
    return D, G, d_opt, g_opt, helpers.get_dataloader(batch_size, images=random_images(n_images), scale=scale)


TRAIN_DEFAULTS = {"sample_size": 8, "log_every": 2, "checkpoint_minutes": 60.0}


def run_train(nb, out_dir: Path, epochs: int, train_step=None, conv_dim: int = 8, n_images: int = 64,
              batch_size: int = 16, init_seed: int = 0, optimizer: dict | None = None, precision: str | None = None,
              **kw) -> helpers.TrainResult:
    """Train tiny networks as the notebook run from the top would: seeded, so a second call is the same run.
    64 images in batches of 16 (4 steps an epoch), logged every 2 steps, unless told otherwise.
    precision ("fp32", "bf16", "auto"): through helpers.FastStep in that precision, as the notebook trains."""
    torch.manual_seed(init_seed)
    D, G, d_opt, g_opt, loader = tiny(nb, n_images=n_images, batch_size=batch_size, conv_dim=conv_dim,
                                      **(optimizer or {}))
    step = train_step or nb["train_step"]
    if precision is not None:
        step = helpers.FastStep(step, D, G, CPU, precision)
    update_average = kw.pop("update_average", nb["update_average"])
    return helpers.train(D, G, d_opt, g_opt, step, loader, helpers.Settings(**{"epochs": epochs, "out_dir": out_dir,
                                                                             **TRAIN_DEFAULTS, **kw}),
                         update_average=update_average)


# --- Checkpoints ----------------------------------------------------------------------------------

def state(epoch: int) -> dict:
    """A small checkpoint-like state whose tensor says which one it is."""
    return {"epoch": epoch, "w": torch.full((8,), float(epoch))}


def assert_is(loaded: dict | None, epoch: int) -> None:
    """loaded is the state(epoch) written earlier."""
    assert loaded is not None, "no checkpoint could be loaded"
    assert loaded["epoch"] == epoch and torch.equal(loaded["w"], torch.full((8,), float(epoch)))


def assert_resumable(path: Path, epoch: int) -> None:
    """path holds a loadable checkpoint at the end of `epoch`."""
    loaded = checkpoints.load_checkpoint(path)
    assert loaded is not None and loaded["state"]["epoch"] == epoch and loaded["state"]["batch"] == 0


class Killed(BaseException):
    """Stands in for the process dying at this point: no except-clause of helpers may catch it."""
