"""D whose channels stay at conv_dim in every layer."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"discriminator": ("channels that never grow", r"conv_dim \* 2|double|grow")}
JUDGEMENT = {"discriminator": "mistake: conv_dim -> conv_dim -> conv_dim: D loses capacity as the image shrinks"}


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(conv_dim, conv_dim, 4, 2, 1), nn.BatchNorm2d(conv_dim), nn.LeakyReLU(0.2),
            nn.Conv2d(conv_dim, conv_dim, 4, 2, 1), nn.BatchNorm2d(conv_dim), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(conv_dim * 16, 1))

    def forward(self, x):
        return self.net(x)
