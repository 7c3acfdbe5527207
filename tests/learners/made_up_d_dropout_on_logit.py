"""Dropout on D's logit: each call scores the same image differently."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"discriminator": ("dropout after the last layer", r"dropout")}
JUDGEMENT = {"discriminator": "mistake: F.dropout(self.fc(x), 0.3, self.training) zeroes logits at random"}


class Discriminator(_lesson.Discriminator):
    def forward(self, x):
        return F.dropout(super().forward(x), 0.3, self.training)
