"""pytorch/examples at 13caa078: dcgan/main.py (the PyTorch DCGAN example).

Adapted: the classes take the lesson's arguments (ndf and ngf become conv_dim, nz becomes z_size; the ngpu /
data_parallel branch is gone); for 32x32, D loses its 4th stride-2 convolution (ndf*4 -> ndf*8), so the 4x4
head reads conv_dim*4 channels, and G loses its first stage's x8 width: the 1x1 -> 4x4 transpose
convolution goes straight to ngf*4 (the ngf*8 -> ngf*4 layer is the one dropped); G's forward still takes
z as (B, z_size, 1, 1). weights_init is renamed weights_init_normal. The example has no real_loss/fake_loss:
they are written as its loop computes them (nn.BCELoss against torch.full((b,), real_label, dtype=...);
the label's dtype, the images' there, is D's output's here), and real_loss gets the lesson's smooth (target
0.9). The optimizer lines become make_optimizers (opt.lr is lr, opt.beta1 is betas[0], 0.999 stays written
in). The loop's per-batch body becomes train_step, returning errD, errG, D_x and D_G_z1 as tensors.
"""
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = "https://github.com/pytorch/examples/blob/13caa078cd69d74ffb447a9eda09f0a81b809480/dcgan/main.py"

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("a sigmoid at D's end, and logits shaped (B,), not (B, 1)", r"sigmoid|\(batch, 1\)"),
    "generator": ("G only takes z as (B, z_size, 1, 1)", _Z4 + r"|view|reshape|unsqueeze"),
    "weights_init": ("Linear layers are left out of the N(0, 0.02) init", r"Linear"),
    "losses": ("nn.BCELoss takes probabilities, not D's logits; labels (B,) fail a (B, 1) D_out",
               r"logits|BCEWithLogits|binary_cross_entropy_with_logits|target size|same size|shape"),
    "optimizers": "pass",
    "train_step": ("z drawn as (B, z_size, 1, 1)", _Z4),
}
JUDGEMENT = {  # discriminator: the output shape added to the mistakes in review (the loop flattened it)
    "discriminator": "mistake: 3 stride-2 convs (conv_dim, x2, x4), no batch norm on the first, leaky ReLU 0.2, "
                     "a 4x4 conv head, then nn.Sigmoid(); forward flattens with .view(-1, 1).squeeze(1), so "
                     "the output is (B,) probabilities, not (B, 1) logits",
    "generator": "mistake: ConvTranspose2d(z_size, conv_dim*4, 4, 1, 0) on a 1x1 input needs z as "
                 "(B, z_size, 1, 1); the lesson gives (B, z_size). Otherwise BN + ReLU on hidden layers, tanh "
                 "at the end, 32x32",
    "weights_init": "mistake: 'Conv' class names get N(0, 0.02), batch norm N(1, 0.02) and bias 0 "
                    "(torch.nn.init on the parameters themselves), but Linear is not handled",
    "losses": "mistake: nn.BCELoss expects probabilities; the lesson's real_loss/fake_loss take D's logits. "
              "Labels are float (the images' dtype), mean reduction, but shaped (b,) (the loop flattens D's "
              "output first), so the lesson's (B, 1) D_out makes BCELoss raise a size mismatch",
    "optimizers": "correct: one Adam per network with the lr passed in and betas (betas[0], 0.999); off-spec: "
                  "beta2 written in, as the lesson's own 0.999",
    "train_step": "mistake: z = torch.randn(b, z_size, 1, 1); otherwise correct: D first with separate real "
                  "and fake backward passes, fakes detached, G's zero_grad, G's loss real_loss of the updated "
                  "D on the same fakes",
}

real_label = 1
fake_label = 0
criterion = nn.BCELoss()


def weights_init_normal(m):
    cls = m.__class__.__name__
    if cls.find('Conv') != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif cls.find('BatchNorm') != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        ngf = conv_dim
        self.main = nn.Sequential(
            # z as a 1x1 map -> 4x4
            nn.ConvTranspose2d(z_size, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # 4x4 -> 8x8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # 8x8 -> 16x16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # 16x16 -> 32x32 colour image
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input):
        output = self.main(input)
        return output


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        ndf = conv_dim
        self.main = nn.Sequential(
            nn.Conv2d(3, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        output = self.main(input)
        return output.view(-1, 1).squeeze(1)


def real_loss(D_out, smooth=False):
    target = 0.9 if smooth else real_label
    label = torch.full((D_out.size(0),), target, dtype=D_out.dtype, device=D_out.device)
    return criterion(D_out, label)


def fake_loss(D_out):
    label = torch.full((D_out.size(0),), fake_label, dtype=D_out.dtype, device=D_out.device)
    return criterion(D_out, label)


def make_optimizers(D, G, lr, betas):
    optimizerD = optim.Adam(D.parameters(), lr=lr, betas=(betas[0], 0.999))
    optimizerG = optim.Adam(G.parameters(), lr=lr, betas=(betas[0], 0.999))
    return optimizerD, optimizerG


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    device = real_images.device
    # (1) D: real batch, then generated batch, one step
    D.zero_grad()
    n = real_images.size(0)
    scores = D(real_images)
    d_on_real = real_loss(scores, smooth)
    d_on_real.backward()
    p_real = scores.mean()

    z = torch.randn(n, z_size, 1, 1, device=device)
    made = G(z)
    scores = D(made.detach())
    d_on_fake = fake_loss(scores)
    d_on_fake.backward()
    p_fake = scores.mean()
    d_total = d_on_real + d_on_fake
    d_optimizer.step()

    # (2) G: fakes labelled real for its cost
    G.zero_grad()
    scores = D(made)
    g_total = real_loss(scores)
    g_total.backward()
    g_optimizer.step()
    return d_total, g_total, p_real, p_fake
