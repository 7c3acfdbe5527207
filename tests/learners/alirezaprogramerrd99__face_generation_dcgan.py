"""Alirezaprogramerrd99/Face-Generation-DCGAN at 9ccd735e: main_model/DCGAN_model.py (the networks and
weights_init), with main_model/engine.py (the training loop) and DCGAN.py (loss, labels, optimizers).

Adapted: the classes take the lesson's arguments (ndf and ngf of constants.py become conv_dim, nz becomes
z_size); for 32x32, D loses its 4th stride-2 convolution (ndf*4 -> ndf*8), so the 4x4 head reads
conv_dim*4 channels, and G loses its last hidden stage (ngf*2 -> ngf), so the output transpose convolution
reads conv_dim*2 channels; G's forward still takes z as (B, z_size, 1, 1). weights_init is renamed
weights_init_normal. There is no real_loss/fake_loss: they are written as engine.py's loop computes them
(nn.BCELoss against torch.ones((b,)) for real, and the label filled with fake_label = 0. for fake), and
real_loss gets the lesson's smooth (target 0.9). The optimizer lines become make_optimizers (beta1 is
betas[0], 0.999 stays written in). The loop's per-batch body becomes train_step, returning errD, errG, D_x
and D_G_z1 as tensors.
"""
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = ("https://github.com/Alirezaprogramerrd99/Face-Generation-DCGAN/blob/"
          "9ccd735e224a0a5bb7b3e493902115ebb752d4f9/main_model/DCGAN_model.py")

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("a sigmoid at D's end, and logits shaped (B, 1, 1, 1), not (B, 1)", r"sigmoid|\(batch, 1\)"),
    "generator": ("G only takes z as (B, z_size, 1, 1)", _Z4 + r"|view|reshape|unsqueeze"),
    "weights_init": ("Conv2d (and Linear) left out: D's convolutions keep PyTorch's init",
                     r"\bConv2d|\bLinear|convolution"),
    "losses": ("nn.BCELoss takes probabilities, not D's logits; labels (B,) fail a (B, 1) D_out",
               r"logits|BCEWithLogits|binary_cross_entropy_with_logits|target size|same size|shape"),
    "optimizers": "pass",
    "train_step": ("z drawn as (B, z_size, 1, 1)", _Z4),
}
JUDGEMENT = {  # discriminator: the output shape added to the mistakes in review (the loop flattened it)
    "discriminator": "mistake: the tutorial's D (3 stride-2 convs conv_dim, x2, x4; batch norm from the second; "
                     "leaky ReLU 0.2; 4x4 conv head) ending in nn.Sigmoid(): probabilities, shaped (B, 1, 1, 1)",
    "generator": "mistake: ConvTranspose2d(z_size, conv_dim*8, 4, 1, 0) on a 1x1 input needs z as "
                 "(B, z_size, 1, 1); otherwise BN + ReLU on hidden layers, tanh, 32x32",
    "weights_init": "mistake: isinstance picks only ConvTranspose2d (N(0, 0.02)) and BatchNorm2d (N(1, 0.02), "
                    "bias 0); Conv2d is missing, so all of D's convolutions keep PyTorch's default init, and "
                    "Linear is missing too",
    "losses": "mistake: nn.BCELoss expects probabilities, the lesson's losses take logits; float labels "
              "(torch.ones and 0.), sized from D_out; the labels are (b,) (the loop flattens D's output"
              " first), so the lesson's (B, 1) D_out makes BCELoss raise a size mismatch",
    "optimizers": "correct: one Adam per network, lr passed in, betas (betas[0], 0.999); off-spec: beta2 "
                  "written in as the lesson's own 0.999",
    "train_step": "mistake: noise = torch.randn(b, z_size, 1, 1); otherwise the tutorial's correct order: "
                  "D's zero_grad, real and detached fake backward passes, step; G's zero_grad, real labels "
                  "on the updated D's output for the same fakes",
}

real_label = 1.
fake_label = 0.
loss = nn.BCELoss()


def weights_init_normal(m):
    if isinstance(m, nn.ConvTranspose2d):
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        ngf = conv_dim
        self.model = nn.Sequential(
            nn.ConvTranspose2d(z_size, ngf * 8, 4, 1, 0, bias=False),    # z -> 4x4
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),   # 8x8
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),   # 16x16
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, 3, 4, 2, 1, bias=False),         # 32x32
            nn.Tanh(),
        )

    def forward(self, input):
        return self.model(input)


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
        return self.main(input)


def real_loss(D_out, smooth=False):
    label = torch.ones((D_out.size(0),), dtype=torch.float, device=D_out.device)
    if smooth:
        label = label * 0.9
    return loss(D_out, label)


def fake_loss(D_out):
    label = torch.ones((D_out.size(0),), dtype=torch.float, device=D_out.device)
    label.fill_(fake_label)
    return loss(D_out, label)


def make_optimizers(D, G, lr, betas):
    optimizerD = optim.Adam(D.parameters(), lr=lr, betas=(betas[0], 0.999))
    optimizerG = optim.Adam(G.parameters(), lr=lr, betas=(betas[0], 0.999))
    return optimizerD, optimizerG


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    device = real_images.device
    D.zero_grad()
    n = real_images.size(0)
    probs = D(real_images).view(-1)                 # the real batch
    loss_r = real_loss(probs, smooth)
    loss_r.backward()
    mean_real = probs.mean()

    latent = torch.randn(n, z_size, 1, 1, device=device)
    gen_imgs = G(latent)
    probs = D(gen_imgs.detach()).view(-1)        # the fake batch, cut off from G
    loss_f = fake_loss(probs)
    loss_f.backward()
    mean_fake = probs.mean()
    loss_d = loss_r + loss_f
    d_optimizer.step()

    G.zero_grad()
    probs = D(gen_imgs).view(-1)                 # D was just updated: a new pass
    loss_g = real_loss(probs)
    loss_g.backward()
    g_optimizer.step()
    return loss_d, loss_g, mean_real, mean_fake
