"""Classes written without the stub's default arguments, and an init with the deprecated nn.init.normal: valid."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"discriminator": "pass", "generator": "pass", "weights_init": "pass", "optimizers": "pass",
            "train_step": "pass"}
JUDGEMENT = {"discriminator": "correct: __init__(self, conv_dim) without a default",
             "generator": "correct: __init__(self, z_size, conv_dim) without defaults",
             "weights_init": "correct: nn.init.normal (deprecated: it warns) with std 0.02",
             "optimizers": "correct", "train_step": "correct"}


class Discriminator(_lesson.Discriminator):
    def __init__(self, conv_dim):
        super().__init__(conv_dim)


class Generator(_lesson.Generator):
    def __init__(self, z_size, conv_dim):
        super().__init__(z_size, conv_dim)


def weights_init_normal(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal(m.weight, 0.0, 0.02)
