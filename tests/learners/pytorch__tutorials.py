"""pytorch/tutorials at 7d4b657a: beginner_source/dcgan_faces_tutorial.py (the PyTorch DCGAN faces tutorial).

Adapted: the classes take the lesson's arguments (ndf and ngf become conv_dim, nz becomes z_size); for 32x32,
D loses its 4th stride-2 convolution (ndf*4 -> ndf*8), so the 4x4 head convolution reads conv_dim*4 channels,
and G loses its last hidden stage (ngf*2 -> ngf), so the output transpose convolution reads conv_dim*2
channels; G's forward still takes z as (B, z_size, 1, 1). weights_init is renamed weights_init_normal. The
tutorial has no real_loss/fake_loss: they are written as its loop computes them (nn.BCELoss on D's output
against torch.full((b,), real_label) with the int labels real_label = 1, fake_label = 0 of this version),
and real_loss gets the lesson's smooth (target 0.9). The optimizer lines become make_optimizers (beta1 is
betas[0], 0.999 stays written in). The loop's per-batch body becomes train_step, returning errD, errG and
the means its .item() calls read (D_x and D_G_z1), as tensors.
"""
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = ("https://github.com/pytorch/tutorials/blob/7d4b657ab2f03a756b525b7b174fc01f41f2e379/"
          "beginner_source/dcgan_faces_tutorial.py")

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("a sigmoid at D's end, and logits shaped (B, 1, 1, 1), not (B, 1)", r"sigmoid|\(batch, 1\)"),
    "generator": ("G only takes z as (B, z_size, 1, 1)", _Z4 + r"|view|reshape|unsqueeze"),
    "weights_init": ("Linear layers are left out of the N(0, 0.02) init", r"Linear"),
    "losses": ("nn.BCELoss takes probabilities, not D's logits; labels (B,) fail a (B, 1) D_out (and the int "
               "labels make Long targets)",
               r"logits|BCEWithLogits|binary_cross_entropy_with_logits|dtype|Long|integer|"
               r"target size|same size|shape"),
    "optimizers": "pass",
    "train_step": ("z drawn as (B, z_size, 1, 1) (and the Long labels of the int real_label/fake_label crash "
                   "BCELoss)", _Z4 + r"|dtype|Long|integer"),
}
JUDGEMENT = {  # discriminator: the output shape added to the mistakes in review (the loop flattened it)
    "discriminator": "mistake: 3 stride-2 convs (conv_dim, x2, x4), no batch norm on the first, leaky ReLU 0.2, "
                     "a 4x4 conv head, then nn.Sigmoid(): D outputs probabilities, and its output is "
                     "(B, 1, 1, 1), not (B, 1)",
    "generator": "mistake: ConvTranspose2d(z_size, conv_dim*8, 4, 1, 0) on a 1x1 input, so z must be "
                 "(B, z_size, 1, 1); the lesson's loop, samples and FID give (B, z_size). The layers are "
                 "otherwise right (BN + ReLU on hidden layers, tanh at the end, 32x32)",
    "weights_init": "mistake: class names with 'Conv' get N(0, 0.02), batch norm N(1, 0.02) and bias 0, but "
                    "Linear is not handled (harmless for its all-convolutional nets, yet the lesson asks for "
                    "all three layer types)",
    "losses": "mistake: nn.BCELoss expects probabilities (the lesson's losses take logits); besides, "
              "torch.full((b,), 1) is an int64 tensor in today's PyTorch, which BCELoss refuses (the smoothed "
              "0.9 target is float); the labels are (b,) (the loop flattens D's output"
              " first), so the lesson's (B, 1) D_out makes BCELoss raise a size mismatch",
    "optimizers": "correct: one Adam per network with the lr passed in and betas (betas[0], 0.999); off-spec: "
                  "beta2 is written in, but as the lesson's own 0.999",
    "train_step": "mistake: order, detach, zero_grad and G's non-saturating loss on the updated D are right, but "
                  "z = torch.randn(b, z_size, 1, 1) is not (B, z_size); and fake_loss / G's real_loss build "
                  "int64 labels, so the step crashes in BCELoss",
}

real_label = 1
fake_label = 0
criterion = nn.BCELoss()


def weights_init_normal(m):
    # DCGAN init, picked by the layer's class name
    name = m.__class__.__name__
    if name.find('Conv') != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif name.find('BatchNorm') != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        g = conv_dim
        self.main = nn.Sequential(
            nn.ConvTranspose2d(z_size, g * 8, 4, 1, 0, bias=False),   # 1x1 -> 4x4
            nn.BatchNorm2d(g * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(g * 8, g * 4, 4, 2, 1, bias=False),    # -> 8x8
            nn.BatchNorm2d(g * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(g * 4, g * 2, 4, 2, 1, bias=False),    # -> 16x16
            nn.BatchNorm2d(g * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(g * 2, 3, 4, 2, 1, bias=False),        # -> 32x32, RGB
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        d = conv_dim
        self.main = nn.Sequential(
            nn.Conv2d(3, d, 4, 2, 1, bias=False),                     # 32 -> 16
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(d, d * 2, 4, 2, 1, bias=False),                 # -> 8
            nn.BatchNorm2d(d * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(d * 2, d * 4, 4, 2, 1, bias=False),             # -> 4
            nn.BatchNorm2d(d * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(d * 4, 1, 4, 1, 0, bias=False),                 # -> 1x1
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input)


def real_loss(D_out, smooth=False):
    target = real_label * 0.9 if smooth else real_label
    label = torch.full((D_out.size(0),), target, device=D_out.device)
    return criterion(D_out, label)


def fake_loss(D_out):
    label = torch.full((D_out.size(0),), fake_label, device=D_out.device)
    return criterion(D_out, label)


def make_optimizers(D, G, lr, betas):
    optimizerD = optim.Adam(D.parameters(), lr=lr, betas=(betas[0], 0.999))
    optimizerG = optim.Adam(G.parameters(), lr=lr, betas=(betas[0], 0.999))
    return optimizerD, optimizerG


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    device = real_images.device
    # D on an all-real batch
    D.zero_grad()
    n = real_images.size(0)
    scores = D(real_images).view(-1)
    d_on_real = real_loss(scores, smooth)
    d_on_real.backward()
    p_real = scores.mean()
    # D on a batch of generated images
    z = torch.randn(n, z_size, 1, 1, device=device)
    made = G(z)
    scores = D(made.detach()).view(-1)
    d_on_fake = fake_loss(scores)
    d_on_fake.backward()
    p_fake = scores.mean()
    d_total = d_on_real + d_on_fake
    d_optimizer.step()
    # G: the freshly updated D should call the same fakes real
    G.zero_grad()
    scores = D(made).view(-1)
    g_total = real_loss(scores)
    g_total.backward()
    g_optimizer.step()
    return d_total, g_total, p_real, p_fake
