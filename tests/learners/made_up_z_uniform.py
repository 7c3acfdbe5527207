"""z from torch.rand: uniform in [0, 1], neither centred nor N(0, 1) as the lesson samples faces."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"train_step": ("z from torch.rand", r"randn")}
JUDGEMENT = {"train_step": "mistake: G learns z in [0, 1]^100 and is then sampled with z ~ N(0, 1)"}


def sample_z(real_images, z_size):
    return torch.rand(real_images.size(0), z_size, device=real_images.device)


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    _lesson.sample_z, saved = sample_z, _lesson.sample_z
    try:
        return _lesson.train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth)
    finally:
        _lesson.sample_z = saved
