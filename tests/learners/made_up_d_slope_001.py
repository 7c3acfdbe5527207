"""D with nn.LeakyReLU() (PyTorch's default slope 0.01) instead of 0.2."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"discriminator": ("leaky ReLU with slope 0.01", r"0\.2")}
JUDGEMENT = {"discriminator": "mistake: nn.LeakyReLU() has slope 0.01, the paper's is 0.2"}


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(),
            nn.Conv2d(conv_dim, conv_dim * 2, 4, 2, 1), nn.BatchNorm2d(conv_dim * 2), nn.LeakyReLU(),
            nn.Conv2d(conv_dim * 2, conv_dim * 4, 4, 2, 1), nn.BatchNorm2d(conv_dim * 4), nn.LeakyReLU(),
            nn.Flatten(), nn.Linear(conv_dim * 4 * 16, 1))

    def forward(self, x):
        return self.net(x)
