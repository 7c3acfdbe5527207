"""The notebook's Generator written differently by a learner: other attribute names, other nesting, the same
architecture (a linear layer to conv_dim * 8 x 2 x 2; batch norm, ReLU, 4x4 transpose convolutions of stride 2;
tanh). For the tests of load_generator (matching by order and shape) and draw_networks (traced by hooks)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class GeneratorByAttributes(nn.Module):
    """Every layer its own attribute (self.fc, self.bn0, self.deconv1, ...), the activations in forward()."""

    def __init__(self, z_size=100, conv_dim=64, last_bias=True, fc_bias=True):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 8 * 2 * 2, bias=fc_bias)
        channels = [conv_dim * 8, conv_dim * 4, conv_dim * 2, conv_dim]
        for i, (c_in, c_out) in enumerate(zip(channels, channels[1:] + [3]), start=1):
            setattr(self, f"bn{i - 1}", nn.BatchNorm2d(c_in))
            setattr(self, f"deconv{i}", nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=c_out == 3 and last_bias))

    def forward(self, z):
        x = torch.reshape(self.fc(z), (z.shape[0], self.conv_dim * 8, 2, 2))
        for i in range(1, 5):
            x = getattr(self, f"deconv{i}")(F.relu(getattr(self, f"bn{i - 1}")(x)))
        return torch.tanh(x)


class GeneratorNested(nn.Module):
    """Nested Sequentials: self.project (a Sequential holding the linear layer), self.blocks of blocks."""

    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        self.conv_dim = conv_dim
        self.project = nn.Sequential(nn.Linear(z_size, conv_dim * 8 * 4))
        channels = [conv_dim * 8, conv_dim * 4, conv_dim * 2, conv_dim, 3]
        self.blocks = nn.Sequential(*(
            nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=c_out == 3))
            for c_in, c_out in zip(channels, channels[1:])))
        self.out = nn.Tanh()

    def forward(self, z):
        return self.out(self.blocks(self.project(z).view(len(z), -1, 2, 2)))


class GeneratorOtherOrder(GeneratorByAttributes):
    """The same layers, but __init__ assigns all the transpose convolutions before the batch norms."""

    def __init__(self, z_size=100, conv_dim=64):
        super().__init__(z_size, conv_dim)
        norms = {f"bn{i}": getattr(self, f"bn{i}") for i in range(4)}
        for name in norms:
            delattr(self, name)
        for name, module in norms.items():
            setattr(self, name, module)
