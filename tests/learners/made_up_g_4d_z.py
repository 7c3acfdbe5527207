"""The PyTorch tutorial's G ported as is: it takes z as (B, z_size, 1, 1), and its train_step draws z that way."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"generator": ("G only takes z as (B, z_size, 1, 1)", r"\(batch, z_size\)"),
            "train_step": ("z drawn as (B, z_size, 1, 1)", r"\(batch, z_size\)")}
JUDGEMENT = {"generator": "mistake: starts with ConvTranspose2d(z_size, ...) on 1x1; the lesson's loop, samples and "
                          "FID give G z of shape (B, z_size)",
             "train_step": "mistake: torch.randn(B, z_size, 1, 1); correct otherwise"}


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_size, conv_dim * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(conv_dim * 4), nn.ReLU(),
            nn.ConvTranspose2d(conv_dim * 4, conv_dim * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(conv_dim * 2), nn.ReLU(),
            nn.ConvTranspose2d(conv_dim * 2, conv_dim, 4, 2, 1, bias=False), nn.BatchNorm2d(conv_dim), nn.ReLU(),
            nn.ConvTranspose2d(conv_dim, 3, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.net(z)


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    z = torch.randn(real_images.size(0), z_size, 1, 1, device=real_images.device)
    fake_images = G(z)
    d_optimizer.zero_grad()
    d_real, d_fake = D(real_images), D(fake_images.detach())
    d_loss = real_loss(d_real, smooth) + fake_loss(d_fake)
    d_loss.backward()
    d_optimizer.step()
    g_optimizer.zero_grad()
    g_loss = real_loss(D(fake_images))
    g_loss.backward()
    g_optimizer.step()
    return d_loss.detach(), g_loss.detach(), torch.sigmoid(d_real).mean().detach(), torch.sigmoid(d_fake).mean().detach()
