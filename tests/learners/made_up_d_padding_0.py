"""D's convolutions with padding 0: 32 -> 15 -> 6 -> 2, so the linear layer sized for 4x4 gets the wrong features."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"discriminator": ("padding 0 in the convolutions", r"padding")}
JUDGEMENT = {"discriminator": "mistake: Conv2d(..., 4, 2) without padding=1 does not halve the image"}


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, conv_dim, 4, 2), nn.LeakyReLU(0.2),
            nn.Conv2d(conv_dim, conv_dim * 2, 4, 2), nn.BatchNorm2d(conv_dim * 2), nn.LeakyReLU(0.2),
            nn.Conv2d(conv_dim * 2, conv_dim * 4, 4, 2), nn.BatchNorm2d(conv_dim * 4), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(conv_dim * 4 * 4 * 4, 1))

    def forward(self, x):
        return self.net(x)
