"""G's transpose convolutions with padding 0: 4 -> 10 -> 22 -> 46, never 32."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"generator": ("padding 0 in the transpose convolutions", r"padding")}
JUDGEMENT = {"generator": "mistake: ConvTranspose2d(..., 4, 2) without padding=1 gives 2n + 2, not 2n"}


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(conv_dim * 4, conv_dim * 2, 4, 2), nn.BatchNorm2d(conv_dim * 2), nn.ReLU(),
            nn.ConvTranspose2d(conv_dim * 2, conv_dim, 4, 2), nn.BatchNorm2d(conv_dim), nn.ReLU(),
            nn.ConvTranspose2d(conv_dim, 3, 4, 2), nn.Tanh())

    def forward(self, z):
        return self.net(self.fc(z).view(-1, self.conv_dim * 4, 4, 4))
