"""The shipped generator (assets/generator.pt), in the project's own copy of the lesson's Generator.

The pretrained route and Going further's experiments never load the file into the learner's Generator: a
correct Generator may keep biases the file lacks, order its layers differently, or be built with the
GPU recipe's conv_dim 64. They load it into LessonGenerator, built with the file's own sizes.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from facegen import FacegenError

PACKAGE = Path(__file__).resolve().parent
# assets/ beside the notebook in a clone; facegen/assets/ where the project is installed as a package.
ASSETS = next((p for p in (PACKAGE.parent / "assets", PACKAGE / "assets") if (p / "generator.pt").exists()),
              PACKAGE.parent / "assets")
PRETRAINED = ASSETS / "generator.pt"
ABOUT = "the CPU recipe, 30 minutes on 2 CPU cores, on the real faces; README, Results"


class LessonGenerator(nn.Module):
    """The notebook's Generator, as its solution builds it (tests/test_pretrained.py keeps the two alike):
    z -> a linear layer to conv_dim * 8 channels of 2x2 -> four transpose convolutions up to 3x32x32, tanh."""

    def __init__(self, z_size: int = 100, conv_dim: int = 64):
        super().__init__()
        self.z_size, self.conv_dim = z_size, conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 8 * 2 * 2)
        layers = []
        for channels, out in ((conv_dim * 8, conv_dim * 4), (conv_dim * 4, conv_dim * 2), (conv_dim * 2, conv_dim)):
            layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.ConvTranspose2d(channels, out, 4, 2, 1, bias=False)]
        layers += [nn.BatchNorm2d(conv_dim), nn.ReLU(), nn.ConvTranspose2d(conv_dim, 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, self.conv_dim * 8, 2, 2))


def load_pretrained(device: torch.device | str = "cpu", path: Path = PRETRAINED) -> LessonGenerator:
    """The generator in `path` (assets/generator.pt), on device, in eval mode: a LessonGenerator whose
    z_size and conv_dim are read from the file's first layer (conv_dim 32 for the shipped one)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        rows, z_size = state["fc.weight"].shape
        G = LessonGenerator(z_size, conv_dim=rows // (8 * 2 * 2))
        G.load_state_dict(state)
    except FileNotFoundError:
        raise FacegenError(f"{path} does not exist: it ships with the project (assets/generator.pt); "
                           "get the project again, or train (pretrained = False in the settings cell).") from None
    except Exception as e:  # noqa: BLE001 - not a state dict of the lesson's Generator
        raise FacegenError(f"{path} is not a generator written by this project ({e.__class__.__name__}: "
                           f"{str(e).splitlines()[0][:120]}).") from None
    return G.to(device).eval()
