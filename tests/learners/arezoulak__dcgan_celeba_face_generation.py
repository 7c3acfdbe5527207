"""ArezouLak/dcgan-celeba-face-generation at 66049b33: src/train.py (weights_init, loss, optimizers, loop),
with src/network.py (the networks).

Adapted: the classes take the lesson's arguments (latent_dim becomes z_size; conv_dim is accepted but, as
their channels are written as numbers, unused; image_channels is 3 and alpha 0.2); for 32x32, D loses its
4th stride-2 convolution (256 -> 512), so the 4x4 head reads 256 channels, and G loses its last hidden stage
(256 -> 128), so the output transpose convolution reads 256 channels; G's forward still takes z as
(B, z_size, 1, 1). weights_init is renamed weights_init_normal. There is no real_loss/fake_loss: they are
written as the loop computes them (nn.BCELoss against torch.ones(b) / torch.zeros(b)), and real_loss gets
the lesson's smooth (target 0.9). The optimizer lines become make_optimizers (args.lr is lr, args.beta1 is
betas[0], 0.999 stays written in). The loop's per-batch body becomes train_step, returning d_loss, g_loss
and the two means its log prints (real_output, fake_output) as tensors.
"""
import torch
from torch import nn
from torch.optim import Adam

SOURCE = ("https://github.com/ArezouLak/dcgan-celeba-face-generation/blob/"
          "66049b33ccc5a72bb2bbad68a96f90f9a6e89e7c/src/train.py")

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("a sigmoid at D's end (and channels that ignore conv_dim)", r"sigmoid|conv_dim"),
    "generator": ("G only takes z as (B, z_size, 1, 1) (and its channels ignore conv_dim)",
                  _Z4 + r"|view|reshape|unsqueeze|conv_dim"),
    "weights_init": ("Linear layers are left out of the N(0, 0.02) init", r"Linear"),
    "losses": ("nn.BCELoss takes probabilities, not D's logits; labels (B,) fail a (B, 1) D_out",
               r"logits|BCEWithLogits|binary_cross_entropy_with_logits|target size|same size|shape"),
    "optimizers": "pass",
    "train_step": ("z drawn as (B, z_size, 1, 1)", _Z4),
}
JUDGEMENT = {
    "discriminator": "mistake: stride-2 convs 3 -> 64 -> 128 -> 256 (numbers, not conv_dim), batch norm from the "
                     "second, leaky ReLU 0.2, a 4x4 conv head, then nn.Sigmoid(): probabilities, (B, 1, 1, 1)",
    "generator": "mistake: ConvTranspose2d(z_size, 1024, 4, 1, 0) on a 1x1 input needs z as (B, z_size, 1, 1); "
                 "channels 1024 -> 512 -> 256 -> 3 are fixed, whatever conv_dim; BN + ReLU, tanh, 32x32",
    "weights_init": "mistake: 'Conv' in the class name gets N(0, 0.02), 'BatchNorm' N(1, 0.02) and bias 0; "
                    "Linear is not handled",
    "losses": "mistake: nn.BCELoss expects probabilities, the lesson's losses take logits; float labels sized "
              "from D_out; the labels are (b,) (the loop flattens D's output"
              " first), so the lesson's (B, 1) D_out makes BCELoss raise a size mismatch",
    "optimizers": "correct: one Adam per network, lr passed in, betas (betas[0], 0.999); off-spec: beta2 "
                  "written in as the lesson's own 0.999",
    "train_step": "mistake: noise = torch.randn(b, z_size, 1, 1); otherwise correct: D's zero_grad, real and "
                  "detached fake backward passes, step; G's zero_grad, real labels on the updated D for the "
                  "same fakes, step",
}

criterion = nn.BCELoss()


def weights_init_normal(module):
    kind = module.__class__.__name__
    if "Conv" in kind:
        nn.init.normal_(module.weight.data, 0.0, 0.02)
    elif "BatchNorm" in kind:
        nn.init.normal_(module.weight.data, 1.0, 0.02)
        nn.init.constant_(module.bias.data, 0)


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_size, 1024, 4, 1, 0, bias=False),   # 4x4
            nn.BatchNorm2d(1024),
            nn.ReLU(True),
            nn.ConvTranspose2d(1024, 512, 4, 2, 1, bias=False),      # 8x8
            nn.BatchNorm2d(512),
            nn.ReLU(True),
            nn.ConvTranspose2d(512, 256, 4, 2, 1, bias=False),       # 16x16
            nn.BatchNorm2d(256),
            nn.ReLU(True),
            nn.ConvTranspose2d(256, 3, 4, 2, 1, bias=False),         # 32x32
            nn.Tanh(),
        )

    def forward(self, x):
        return self.net(x)


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        slope = 0.2
        self.net = nn.Sequential(
            nn.Conv2d(3, 64, 4, 2, 1, bias=False),
            nn.LeakyReLU(slope, inplace=True),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(slope, inplace=True),
            nn.Conv2d(128, 256, 4, 2, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.LeakyReLU(slope, inplace=True),
            nn.Conv2d(256, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.net(x)


def real_loss(D_out, smooth=False):
    real_labels = torch.ones(D_out.size(0), device=D_out.device)
    if smooth:
        real_labels = real_labels * 0.9
    return criterion(D_out, real_labels)


def fake_loss(D_out):
    fake_labels = torch.zeros(D_out.size(0), device=D_out.device)
    return criterion(D_out, fake_labels)


def make_optimizers(D, G, lr, betas):
    optimizer_g = Adam(G.parameters(), lr=lr, betas=(betas[0], 0.999))
    optimizer_d = Adam(D.parameters(), lr=lr, betas=(betas[0], 0.999))
    return optimizer_d, optimizer_g


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    device = real_images.device
    n_img = real_images.size(0)

    # discriminator
    D.zero_grad()
    on_real = D(real_images).view(-1)
    part_real = real_loss(on_real, smooth)
    part_real.backward()

    z = torch.randn(n_img, z_size, 1, 1, device=device)
    fakes = G(z)
    on_fake = D(fakes.detach()).view(-1)
    part_fake = fake_loss(on_fake)
    part_fake.backward()

    d_loss = part_real + part_fake
    d_optimizer.step()

    # generator
    G.zero_grad()
    on_fake_again = D(fakes).view(-1)
    g_loss = real_loss(on_fake_again)
    g_loss.backward()
    g_optimizer.step()
    return d_loss, g_loss, on_real.mean(), on_fake.mean()
