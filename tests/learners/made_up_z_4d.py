"""z drawn as (B, z_size, 1, 1) (the PyTorch tutorial's) for the lesson's G, which takes (B, z_size)."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"train_step": ("z of shape (B, z_size, 1, 1)", r"\(batch, z_size\)")}
JUDGEMENT = {"train_step": "mistake: torch.randn(B, z_size, 1, 1); G's linear layer needs (B, z_size)"}


def sample_z(real_images, z_size):
    return torch.randn(real_images.size(0), z_size, 1, 1, device=real_images.device)


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    _lesson.sample_z, saved = sample_z, _lesson.sample_z
    try:
        return _lesson.train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth)
    finally:
        _lesson.sample_z = saved
