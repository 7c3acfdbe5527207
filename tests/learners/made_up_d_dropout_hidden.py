"""Dropout after every hidden leaky ReLU (off-spec, a known GAN trick): valid."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"discriminator": "pass", "train_step": "pass"}
JUDGEMENT = {"discriminator": "off-spec: nn.Dropout(0.3) after each hidden activation, none after the head",
             "train_step": "correct: the lesson's step, with this D"}


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Conv2d(conv_dim, conv_dim * 2, 4, 2, 1), nn.BatchNorm2d(conv_dim * 2), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Conv2d(conv_dim * 2, conv_dim * 4, 4, 2, 1), nn.BatchNorm2d(conv_dim * 4), nn.LeakyReLU(0.2),
            nn.Dropout(0.3), nn.Flatten(), nn.Linear(conv_dim * 4 * 16, 1))

    def forward(self, x):
        return self.net(x)
