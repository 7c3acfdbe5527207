"""Turning generator outputs into pictures: uint8 pixels, sampled with G in eval mode."""
from __future__ import annotations

import torch
import torch.nn as nn


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 images unchanged; float images in [-1, 1] (the generator's tanh range) to uint8."""
    if images.dtype == torch.uint8:
        return images.cpu()
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def fixed_noise(n: int, z_size: int, seed: int) -> torch.Tensor:
    """The fixed z a run draws its samples from: n vectors of N(0, 1), the same for the same seed (on the
    CPU, from their own generator: the global random state is not touched)."""
    return torch.randn(n, z_size, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def sample_images(G: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G's images for z as uint8 on the CPU, with G in eval mode (batch norm uses running stats)."""
    was_training = G.training
    G.eval()
    try:
        return to_uint8(G(z))
    finally:
        G.train(was_training)


