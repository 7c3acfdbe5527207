"""vijay227799/Human_Face_Generation_Using_DCGAN at 0fc66e43: humans/train_dcgan.py (a DCGAN on faces).

Adapted: the classes take the lesson's arguments (latent_dim becomes z_size; conv_dim is accepted but, as
their channels are written as numbers, unused); for 32x32, D loses its 4th stride-2 convolution
(256 -> 512), so the 4x4 head reads 256 channels, and G loses its last hidden stage (128 -> 64), so the
output transpose convolution reads 128 channels; G's forward still takes z as (B, z_size, 1, 1). The script
initialises no weights (no weights_init_normal here). There is no real_loss/fake_loss: they are written as
the loop computes them (nn.BCELoss against valid = torch.ones(b, 1) and fake = torch.zeros(b, 1)), and
real_loss gets the lesson's smooth (target 0.9). The optimizer lines become make_optimizers (beta1 is
betas[0], 0.999 stays written in). The loop's per-batch body becomes train_step ('cuda' becomes the images'
device; D's outputs, passed straight into the criterion there, are named so that D(x) and D(G(z)) can be
returned with d_loss and g_loss, as tensors).
"""
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = ("https://github.com/vijay227799/Human_Face_Generation_Using_DCGAN/blob/"
          "0fc66e43f286c2488b1a8e3988a98ead48252460/humans/train_dcgan.py")

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("a sigmoid at D's end (and channels that ignore conv_dim)", r"sigmoid|conv_dim"),
    "generator": ("G only takes z as (B, z_size, 1, 1) (and its channels ignore conv_dim)",
                  _Z4 + r"|view|reshape|unsqueeze|conv_dim"),
    "losses": ("nn.BCELoss takes probabilities, not D's logits",
               r"logits|BCEWithLogits|binary_cross_entropy_with_logits"),
    "optimizers": "pass",
    "train_step": ("G is updated before D (and z is (B, z_size, 1, 1); the (B, 1) labels against D's "
                   "(B, 1, 1, 1) output crash BCELoss)",
                   r"\border\b|before|D first|first D|target size|same size|" + _Z4),
}
JUDGEMENT = {
    "discriminator": "mistake: stride-2 convs 3 -> 64 -> 128 -> 256 with biases (numbers, not conv_dim), batch "
                     "norm from the second, leaky ReLU 0.2, a 4x4 conv head, then nn.Sigmoid(): probabilities, "
                     "(B, 1, 1, 1)",
    "generator": "mistake: ConvTranspose2d(z_size, 512, 4, 1, 0) on a 1x1 input needs z as (B, z_size, 1, 1); "
                 "channels 512 -> 256 -> 128 -> 3 fixed whatever conv_dim; BN + ReLU, tanh, 32x32",
    "losses": "mistake: nn.BCELoss expects probabilities, the lesson's losses take logits; labels (b, 1), "
              "float, sized from D_out",
    "optimizers": "correct: one Adam per network, lr passed in, betas (betas[0], 0.999); off-spec: beta2 "
                  "written in as the lesson's own 0.999",
    "train_step": "mistake: G is trained first (on the D of the previous step), then D, on the fakes G made "
                  "before its own update; z = torch.randn(b, z_size, 1, 1); and the labels are (b, 1) while "
                  "this D outputs (b, 1, 1, 1), which nn.BCELoss refuses (ValueError)",
}

criterion = nn.BCELoss()


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(3, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2),
            nn.Conv2d(128, 256, 4, 2, 1),
            nn.BatchNorm2d(256),
            nn.LeakyReLU(0.2),
            nn.Conv2d(256, 1, 4, 1, 0),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.model(x)


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        self.model = nn.Sequential(
            nn.ConvTranspose2d(z_size, 512, 4, 1, 0),
            nn.BatchNorm2d(512),
            nn.ReLU(),
            nn.ConvTranspose2d(512, 256, 4, 2, 1),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.ConvTranspose2d(256, 128, 4, 2, 1),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.ConvTranspose2d(128, 3, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, x):
        return self.model(x)


def real_loss(D_out, smooth=False):
    valid = torch.ones(D_out.size(0), 1, device=D_out.device, requires_grad=False)
    if smooth:
        valid = valid * 0.9
    return criterion(D_out, valid)


def fake_loss(D_out):
    fake = torch.zeros(D_out.size(0), 1, device=D_out.device, requires_grad=False)
    return criterion(D_out, fake)


def make_optimizers(D, G, lr, betas):
    optimizer_G = optim.Adam(G.parameters(), lr=lr, betas=(betas[0], 0.999))
    optimizer_D = optim.Adam(D.parameters(), lr=lr, betas=(betas[0], 0.999))
    return optimizer_D, optimizer_G


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    x = real_images
    b = x.size(0)

    # generator first
    g_optimizer.zero_grad()
    z = torch.randn(b, z_size, 1, 1, device=x.device)
    fakes = G(z)
    g_loss = real_loss(D(fakes))
    g_loss.backward()
    g_optimizer.step()

    # then the discriminator
    d_optimizer.zero_grad()
    p_real = D(x)
    p_fake = D(fakes.detach())
    d_loss = (real_loss(p_real, smooth) + fake_loss(p_fake)) / 2
    d_loss.backward()
    d_optimizer.step()
    return d_loss, g_loss, p_real.mean(), p_fake.mean()
