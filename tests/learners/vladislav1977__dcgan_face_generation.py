"""Vladislav1977/DCGAN_face_generation at 8debea20: train.py (fit: loss, labels, the training loop; the
optimizers in train), with model.py (the networks, GaussianNoise, ImageBuffer, weights_init).

Adapted: the classes take the lesson's arguments (the global latent_size becomes z_size; conv_dim is
accepted but, as their channels are written as numbers, unused). Their networks are for 128x128 images, so
for 32x32 each loses TWO stride-2 layers: D its 4th and 5th convolution blocks (128 -> 256 -> 512, with
their GaussianNoise), so the 4x4 head (after its GaussianNoise) reads 128 channels; G its 4th and 5th
transpose-convolution blocks (128 -> 64 -> 32), so the output transpose convolution reads 128 channels; G's
forward still takes z as (B, z_size, 1, 1). weights_init is renamed weights_init_normal. There is no
real_loss/fake_loss: they are written as the loop computes them (nn.BCELoss; real targets
torch.ones(b, 1) minus uniform(0, 0.1) noise, fake targets torch.zeros(b, 1), G's targets torch.ones), and
since the loop always smooths D's real targets, real_loss does it when smooth is set. The optimizer dict
becomes make_optimizers (lr is lr, betas=(0.5, 0.999) stays written in). The body of fit's batch loop
becomes train_step, with the module-level Buffer = ImageBuffer(bufsize=1024) and the global batch_size = 128
of train.py; it returns loss_d, loss_g and the mean real and fake scores it logs, as tensors.
"""
import random

import torch
import torch.nn as nn

SOURCE = ("https://github.com/Vladislav1977/DCGAN_face_generation/blob/8debea20f28963aa07b0f1b82e65975ce9783e9b/"
          "train.py")

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("a sigmoid at D's end (and channels that ignore conv_dim)", r"sigmoid|conv_dim"),
    "generator": ("G only takes z as (B, z_size, 1, 1) (and its channels ignore conv_dim)",
                  _Z4 + r"|view|reshape|unsqueeze|conv_dim"),
    "weights_init": ("Linear layers are left out of the N(0, 0.02) init", r"Linear"),
    "losses": ("nn.BCELoss takes probabilities, not D's logits (and smooth draws targets in [0.9, 1])",
               r"logits|BCEWithLogits|binary_cross_entropy_with_logits|0\.9|smooth"),
    "optimizers": "pass",
    "train_step": ("z drawn as (batch_size, z_size, 1, 1) with the global batch size, not the real batch's",
                   _Z4 + r"|batch size|batch_size"),
}
JUDGEMENT = {
    "discriminator": "mistake: stride-2 convs 3 -> 32 -> 64 -> 128 (numbers, not conv_dim), batch norm from the "
                     "second, leaky ReLU 0.2, Gaussian noise (std 0.05, in training) before every conv but the "
                     "first, a 4x4 conv head, nn.Sigmoid() and nn.Flatten(): (B, 1) probabilities",
    "generator": "mistake: ConvTranspose2d(z_size, 512, 4, 1, 0) on a 1x1 input needs z as (B, z_size, 1, 1); "
                 "channels 512 -> 256 -> 128 -> 3 fixed whatever conv_dim. BN + ReLU on hidden layers "
                 "(each followed by dropout 0.3, off-spec), tanh, 32x32",
    "weights_init": "mistake: 'Conv' class names get N(0, 0.02), batch norm N(1, 0.02) and bias 0; Linear is "
                    "not handled",
    "losses": "mistake: nn.BCELoss expects probabilities, the lesson's losses take logits; with smooth the real "
              "targets are 1 - uniform(0, 0.1), a random target per image rather than 0.9",
    "optimizers": "correct: one Adam per network with the lr passed in; off-spec: betas written in as "
                  "(0.5, 0.999), the lesson's values but not the betas passed in",
    "train_step": "mistake: latent = torch.randn(batch_size, z_size, 1, 1) with the global batch_size (128), not "
                  "the real batch's size and not (B, z_size); G's targets follow that global size. Off-spec: D "
                  "sees fakes through a 1024-image replay buffer (half old fakes), detached. Order otherwise "
                  "right: D's zero_grad before its backward, step; G's loss through the updated D with real "
                  "targets, G's zero_grad, step",
}

batch_size = 128  # train.py's global
criterion = nn.BCELoss()


class GaussianNoise(nn.Module):
    """Adds N(0, std) noise to its input while training (std minus decay_rate, never below 0)."""

    def __init__(self, std=0.05, decay_rate=0):
        super().__init__()
        self.std = std
        self.decay_rate = decay_rate

    def decay_step(self):
        return max(self.std - self.decay_rate, 0)

    def forward(self, x):
        if self.training:
            std = self.decay_step()
            return x + torch.empty_like(x).normal_(std=std)
        return x


class ImageBuffer:
    """Keeps up to bufsize past fakes; once full, each new fake is returned as is or swapped for an old one."""

    def __init__(self, bufsize):
        self.bufsize = bufsize
        self.n_images = 0
        self.buff = []

    def extract(self, images):
        out = []
        for image in images:
            if self.n_images < self.bufsize:
                out.append(image)
                self.buff.append(image)
                self.n_images += 1
            elif random.uniform(0, 1) >= 0.5:
                out.append(image)
            else:
                idx = random.randint(0, self.bufsize - 1)
                out.append(self.buff[idx].clone())
                self.buff[idx] = image
        return torch.stack(out, dim=0)


Buffer = ImageBuffer(bufsize=1024)


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(z_size, 512, kernel_size=4, stride=1, padding=0, bias=False),   # 4x4
            nn.BatchNorm2d(512),
            nn.ReLU(True),
            nn.Dropout(p=0.3),
            nn.ConvTranspose2d(512, 256, kernel_size=4, stride=2, padding=1, bias=False),      # 8x8
            nn.BatchNorm2d(256),
            nn.ReLU(True),
            nn.Dropout(p=0.3),
            nn.ConvTranspose2d(256, 128, kernel_size=4, stride=2, padding=1, bias=False),      # 16x16
            nn.BatchNorm2d(128),
            nn.ReLU(True),
            nn.Dropout(p=0.3),
            nn.ConvTranspose2d(128, 3, kernel_size=4, stride=2, padding=1, bias=False),        # 32x32
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=4, stride=2, padding=1, bias=False),     # 16x16
            nn.LeakyReLU(0.2, inplace=True),
            GaussianNoise(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2, padding=1, bias=False),    # 8x8
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2, inplace=True),
            GaussianNoise(),
            nn.Conv2d(64, 128, kernel_size=4, stride=2, padding=1, bias=False),   # 4x4
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2, inplace=True),
            GaussianNoise(),
            nn.Conv2d(128, 1, kernel_size=4, stride=1, padding=0, bias=False),    # 1x1
            nn.Sigmoid(),
            nn.Flatten(),
        )

    def forward(self, input):
        return self.main(input)


def weights_init_normal(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def real_loss(D_out, smooth=False):
    real_targets = torch.ones(D_out.size(0), 1, device=D_out.device)
    if smooth:
        noise = torch.empty_like(real_targets).uniform_(0, 0.1)
        real_targets = real_targets - noise
    return criterion(D_out, real_targets)


def fake_loss(D_out):
    fake_targets = torch.zeros(D_out.size(0), 1, device=D_out.device)
    return criterion(D_out, fake_targets)


def make_optimizers(D, G, lr, betas):
    optimizer = {
        "discriminator": torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999)),
        "generator": torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999)),
    }
    return optimizer["discriminator"], optimizer["generator"]


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    device = real_images.device
    # D on the real images
    p_real = D(real_images)
    d_part_real = real_loss(p_real, smooth)
    real_score = torch.mean(p_real)

    # fakes, mixed with older ones from the buffer
    z = torch.randn(batch_size, z_size, 1, 1, device=device)
    fakes = G(z)
    mixed = Buffer.extract(fakes.detach())
    p_fake = D(mixed)
    d_part_fake = fake_loss(p_fake)
    fake_score = torch.mean(p_fake)

    d_optimizer.zero_grad()
    d_loss = d_part_real + d_part_fake
    d_loss.backward()
    d_optimizer.step()

    # G: make the updated D call the fakes real
    p_again = D(fakes)
    ones = torch.ones(batch_size, 1, device=device)
    g_loss = criterion(p_again, ones)
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()
    return d_loss, g_loss, real_score, fake_score
