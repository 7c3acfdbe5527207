"""z drawn once and reused at every step: G learns to draw one batch of faces."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"train_step": ("the same z at every step", r"fresh|new z|each step|every step")}
JUDGEMENT = {"train_step": "mistake: a z kept from the first call; the batch size matches, so no global is involved"}

_kept = {}


def sample_z(real_images, z_size):
    return _kept.setdefault((real_images.size(0), z_size), torch.randn(real_images.size(0), z_size))


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    _lesson.sample_z, saved = sample_z, _lesson.sample_z
    try:
        return _lesson.train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth)
    finally:
        _lesson.sample_z = saved
