"""A tanh on D's logit: the logit can no longer leave [-1, 1]."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"discriminator": ("a tanh at D's end", r"tanh")}
JUDGEMENT = {"discriminator": "mistake: torch.tanh(self.fc(x)) bounds the logit to [-1, 1]"}


class Discriminator(_lesson.Discriminator):
    def forward(self, x):
        return torch.tanh(super().forward(x))
