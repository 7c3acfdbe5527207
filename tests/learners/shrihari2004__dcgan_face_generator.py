"""Shrihari2004/dcgan-face-generator at 9b03a777: src/trainer.py (GANTrainer: optimizers, loss, train_step),
with src/models.py (the networks and weights_init).

Adapted: the classes take the lesson's arguments (ndf and ngf become conv_dim, latent_dim becomes z_size,
channels is 3); for 32x32, D loses its 4th stride-2 convolution (conv4, ndf*4 -> ndf*8, with bn4), so the
linear head reads conv_dim*4 x 4 x 4 features, and G loses its third transpose convolution (ngf*2 -> ngf,
with bn4), so the output transpose convolution reads conv_dim*2 channels. weights_init is renamed
weights_init_normal. There is no real_loss/fake_loss: they are written as train_step computes them
(nn.BCEWithLogitsLoss against torch.ones(b, 1) / torch.zeros(b, 1)), and real_loss gets the lesson's smooth
(target 0.9). The optimizers of GANTrainer.__init__ become make_optimizers (lr, and (beta1, beta2) as
(betas[0], betas[1])). GANTrainer.train_step becomes train_step (self.device is the images' device), which
returns d_loss, g_loss and the two scores it computes (sigmoid means of real_outputs and of the last
fake_outputs) as tensors, not .item() numbers.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = ("https://github.com/Shrihari2004/dcgan-face-generator/blob/9b03a777bef1f2387fa2716f9ba5498c02190f5d/"
          "src/trainer.py")

VERDICTS = {
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": "pass",
    "optimizers": "pass",
    "train_step": "pass",
}
JUDGEMENT = {
    "discriminator": "correct: 3 stride-2 convs (conv_dim, x2, x4), batch norm from the second, leaky ReLU 0.2 "
                     "after each, a flatten by x.view(x.size(0), -1) and a linear head: raw logits (B, 1). "
                     "Off-spec: dropout 0.3 after the 2nd and 3rd blocks (so the last one sits before the head, "
                     "on features, not on the logit), and an unused BatchNorm2d(conv_dim) bn1 is registered",
    "generator": "correct: linear z -> conv_dim*8 x 4 x 4, .view, BN + ReLU, transpose convs halving the channels "
                 "to 32x32, tanh at the end, no BN on the output. Off-spec: dropout 0.3 after the 2nd and 3rd "
                 "hidden layers",
    "weights_init": "correct: 'Conv' class names (Conv2d, ConvTranspose2d) and Linear get N(0, 0.02), Linear's "
                    "bias 0; batch norm N(1, 0.02) with bias 0",
    "losses": "correct: nn.BCEWithLogitsLoss (mean) on logits against ones (0.9 with smooth) / zeros shaped "
              "(b, 1) like D's output",
    "optimizers": "correct: one Adam per network with the lr and both betas passed in",
    "train_step": "correct: D's zero_grad, real and detached fake losses from fresh z ~ N(0, 1) of shape "
                  "(B, z_size), one backward, step; G's zero_grad, real labels on the updated D's output for "
                  "the same fakes, step",
}

criterion = nn.BCEWithLogitsLoss()


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        self.latent_dim = z_size
        self.ngf = ngf = conv_dim
        # z to a 4x4 map of ngf*8 channels
        self.linear = nn.Linear(z_size, ngf * 8 * 4 * 4)
        # each transpose convolution doubles the size
        self.conv_transpose1 = nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False)
        self.conv_transpose2 = nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False)
        self.conv_transpose4 = nn.ConvTranspose2d(ngf * 2, 3, 4, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ngf * 8)
        self.bn2 = nn.BatchNorm2d(ngf * 4)
        self.bn3 = nn.BatchNorm2d(ngf * 2)
        self.dropout = nn.Dropout(0.3)

    def forward(self, x):
        x = self.linear(x)
        x = x.view(x.size(0), self.ngf * 8, 4, 4)
        x = F.relu(self.bn1(x))
        x = self.conv_transpose1(x)            # 8x8
        x = F.relu(self.bn2(x))
        x = self.dropout(x)
        x = self.conv_transpose2(x)            # 16x16
        x = F.relu(self.bn3(x))
        x = self.dropout(x)
        x = self.conv_transpose4(x)            # 32x32
        return torch.tanh(x)


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        self.ndf = ndf = conv_dim
        # each convolution halves the size
        self.conv1 = nn.Conv2d(3, ndf, 4, 2, 1, bias=False)
        self.conv2 = nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False)
        self.conv3 = nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ndf)   # made but never used in forward
        self.bn2 = nn.BatchNorm2d(ndf * 2)
        self.bn3 = nn.BatchNorm2d(ndf * 4)
        self.dropout = nn.Dropout(0.3)
        self.linear = nn.Linear(ndf * 4 * 4 * 4, 1)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), 0.2)   # 16x16
        x = self.conv2(x)                      # 8x8
        x = F.leaky_relu(self.bn2(x), 0.2)
        x = self.dropout(x)
        x = self.conv3(x)                      # 4x4
        x = F.leaky_relu(self.bn3(x), 0.2)
        x = self.dropout(x)
        x = x.view(x.size(0), -1)
        return self.linear(x)


def weights_init_normal(m):
    name = m.__class__.__name__
    if name.find('Conv') != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif name.find('BatchNorm') != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)
    elif name.find('Linear') != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def real_loss(D_out, smooth=False):
    real_labels = torch.ones(D_out.size(0), 1, device=D_out.device)
    if smooth:
        real_labels = real_labels * 0.9
    return criterion(D_out, real_labels)


def fake_loss(D_out):
    fake_labels = torch.zeros(D_out.size(0), 1, device=D_out.device)
    return criterion(D_out, fake_labels)


def make_optimizers(D, G, lr, betas):
    beta1, beta2 = betas[0], betas[1]
    g_optimizer = optim.Adam(G.parameters(), lr=lr, betas=(beta1, beta2))
    d_optimizer = optim.Adam(D.parameters(), lr=lr, betas=(beta1, beta2))
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    device = real_images.device
    n = real_images.size(0)

    # the discriminator
    d_optimizer.zero_grad()
    logits_real = D(real_images)
    d_term_real = real_loss(logits_real, smooth)
    z = torch.randn(n, z_size, device=device)
    fakes = G(z)
    logits_fake = D(fakes.detach())
    d_term_fake = fake_loss(logits_fake)
    d_loss = d_term_real + d_term_fake
    d_loss.backward()
    d_optimizer.step()

    # the generator, against the updated discriminator
    g_optimizer.zero_grad()
    logits_fake = D(fakes)
    g_loss = real_loss(logits_fake)
    g_loss.backward()
    g_optimizer.step()

    p_real = torch.sigmoid(logits_real).mean()
    p_fake = torch.sigmoid(logits_fake).mean()
    return d_loss, g_loss, p_real, p_fake
