"""atandra2000/DCGAN-Face-Generation at 662a479d: src/train.py (the training loop, loss and optimizers), with
src/model.py (the networks and weights_init) and configs/config.py.

Adapted: the classes take the lesson's arguments (n_filters becomes conv_dim, latent_dim becomes z_size;
num_channels is 3); for 32x32, D loses its 4th stride-2 convolution (nf*4 -> nf*8), so the 4x4 head reads
conv_dim*4 channels, and G drops its nf*8 stage: the 1x1 -> 4x4 transpose convolution goes straight to nf*4
(the nf*8 -> nf*4 layer is the one dropped); G's forward still takes z as (N, z_size, 1, 1). weights_init
is renamed weights_init_normal. There is no real_loss/fake_loss: they are written as the loop computes them
(nn.BCELoss against torch.full((b,), REAL_LABEL / FAKE_LABEL), 1.0 and 0.0), and real_loss gets the
lesson's smooth (target 0.9). The optimizer lines become make_optimizers (cfg.learning_rate is lr,
(cfg.beta1, cfg.beta2) is (betas[0], betas[1])). The loop's per-batch body becomes train_step, returning
loss_D, loss_G, D_x and D_G_z1 as tensors.
"""
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = ("https://github.com/atandra2000/DCGAN-Face-Generation/blob/662a479d99e696fe12becfef3a5530d5db8f7564/"
          "src/train.py")

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("a sigmoid at D's end, and logits shaped (B, 1, 1, 1), not (B, 1)", r"sigmoid|\(batch, 1\)"),
    "generator": ("G only takes z as (B, z_size, 1, 1)", _Z4 + r"|view|reshape|unsqueeze"),
    "weights_init": ("Linear layers are left out of the N(0, 0.02) init", r"Linear"),
    "losses": ("nn.BCELoss takes probabilities, not D's logits; labels (B,) fail a (B, 1) D_out",
               r"logits|BCEWithLogits|binary_cross_entropy_with_logits|target size|same size|shape"),
    "optimizers": "pass",
    "train_step": ("z drawn as (B, z_size, 1, 1)", _Z4),
}
JUDGEMENT = {  # discriminator: the output shape added to the mistakes in review (the loop flattened it)
    "discriminator": "mistake: 3 stride-2 convs (conv_dim, x2, x4), no batch norm on the first, leaky ReLU 0.2, a "
                     "4x4 conv head, then nn.Sigmoid(): probabilities, shaped (N, 1, 1, 1)",
    "generator": "mistake: ConvTranspose2d(z_size, conv_dim*4, 4, 1, 0) on a 1x1 input needs z as "
                 "(N, z_size, 1, 1); otherwise BN + ReLU on hidden layers, tanh, 32x32",
    "weights_init": "mistake: 'Conv' in the class name gets N(0, 0.02), 'BatchNorm' N(1, 0.02) and bias 0; "
                    "Linear is not handled",
    "losses": "mistake: nn.BCELoss expects probabilities, the lesson's losses take logits; float labels via "
              "torch.full, sized from D_out; the labels are (b,) (the loop flattens D's output"
              " first), so the lesson's (B, 1) D_out makes BCELoss raise a size mismatch",
    "optimizers": "correct: one Adam per network with the lr and both betas passed in",
    "train_step": "mistake: noise = torch.randn(b, z_size, 1, 1); otherwise correct: D's zero_grad, real and "
                  "detached fake backward passes, step; G's zero_grad, REAL_LABEL on the updated D's output for "
                  "the same fakes, step",
}

REAL_LABEL = 1.0
FAKE_LABEL = 0.0
criterion = nn.BCELoss()


def weights_init_normal(m: nn.Module) -> None:
    kind = m.__class__.__name__
    if "Conv" in kind:
        nn.init.normal_(m.weight.data, mean=0.0, std=0.02)
    elif "BatchNorm" in kind:
        nn.init.normal_(m.weight.data, mean=1.0, std=0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self, z_size: int = 100, conv_dim: int = 64):
        super().__init__()
        nf = conv_dim
        self.net = nn.Sequential(
            # noise (1x1) to 4x4
            nn.ConvTranspose2d(z_size, nf * 4, kernel_size=4, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(nf * 4),
            nn.ReLU(inplace=True),
            # 4 to 8
            nn.ConvTranspose2d(nf * 4, nf * 2, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(nf * 2),
            nn.ReLU(inplace=True),
            # 8 to 16
            nn.ConvTranspose2d(nf * 2, nf, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(nf),
            nn.ReLU(inplace=True),
            # 16 to 32, three channels
            nn.ConvTranspose2d(nf, 3, kernel_size=4, stride=2, padding=1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, conv_dim: int = 64):
        super().__init__()
        nf = conv_dim
        self.net = nn.Sequential(
            # 32 to 16, batch norm left out here
            nn.Conv2d(3, nf, kernel_size=4, stride=2, padding=1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # 16 to 8
            nn.Conv2d(nf, nf * 2, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(nf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # 8 to 4
            nn.Conv2d(nf * 2, nf * 4, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(nf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            # 4 to 1: the real/fake score
            nn.Conv2d(nf * 4, 1, kernel_size=4, stride=1, padding=0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def real_loss(D_out, smooth=False):
    target = 0.9 if smooth else REAL_LABEL
    return criterion(D_out, torch.full((D_out.size(0),), target, device=D_out.device))


def fake_loss(D_out):
    return criterion(D_out, torch.full((D_out.size(0),), FAKE_LABEL, device=D_out.device))


def make_optimizers(D, G, lr, betas):
    opt_G = optim.Adam(G.parameters(), lr=lr, betas=(betas[0], betas[1]))
    opt_D = optim.Adam(D.parameters(), lr=lr, betas=(betas[0], betas[1]))
    return opt_D, opt_G


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    device = real_images.device
    count = real_images.size(0)

    # discriminator
    D.zero_grad()
    real_p = D(real_images).view(-1)
    d_real_term = real_loss(real_p, smooth)
    d_real_term.backward()
    real_mean = real_p.mean()

    z = torch.randn(count, z_size, 1, 1, device=device)
    fakes = G(z)
    fake_p = D(fakes.detach()).view(-1)
    d_fake_term = fake_loss(fake_p)
    d_fake_term.backward()
    fake_mean = fake_p.mean()

    d_loss = d_real_term + d_fake_term
    d_optimizer.step()

    # generator
    G.zero_grad()
    gen_p = D(fakes).view(-1)
    g_loss = real_loss(gen_p)
    g_loss.backward()
    g_optimizer.step()
    return d_loss, g_loss, real_mean, fake_mean
