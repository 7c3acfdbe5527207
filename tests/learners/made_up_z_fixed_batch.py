"""A fixed batch of 16 z (drawn once, as for the progress samples) used in every step, whatever the batch size."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"train_step": ("the same fixed z in every step", r"same in every step|fresh")}
JUDGEMENT = {"train_step": "mistake: fixed_z = torch.randn(16, z_size) reused; a message about a global batch_size "
                           "would blame the wrong thing"}

_fixed = {}


def sample_z(real_images, z_size):
    return _fixed.setdefault(z_size, torch.randn(16, z_size))


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    _lesson.sample_z, saved = sample_z, _lesson.sample_z
    try:
        return _lesson.train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth)
    finally:
        _lesson.sample_z = saved
