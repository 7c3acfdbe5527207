"""cl3080/Face_Generation at 04379d978111346cf3836278a3d5b0fe9d58a0c0: dlnd_face_generation.ipynb (the Udacity
face generation project).

Adapted: the training loop's body as train_step (its return line added from the learner's own D outputs);
the `smooth=True` they wrote in D's real_loss call becomes the lesson's `smooth` argument (whose default is
True), while the `smooth=True` in G's real_loss call stays as written; the optimizer cell as
make_optimizers(D, G, lr, betas), their lr, beta1, beta2 taken from the arguments; `scale(real_images)`
removed from the loop; nothing else.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.nn import init

SOURCE = ("https://github.com/cl3080/Face_Generation/blob/04379d978111346cf3836278a3d5b0fe9d58a0c0/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": "pass",
    "optimizers": "pass",
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1)", r"randn|N\(0, ?1\)|normal|uniform"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct: 4 strided 4x4 convs conv_dim..x8 (32 -> 2), batch norm on all but the first, "
                     "leaky ReLU 0.2, a linear head from conv_dim*8*2*2 on raw logits",
    "generator": "correct: linear to conv_dim*8 x 2x2, three transpose convs with batch norm and ReLU halving "
                 "the channels, a last transpose conv to 3 channels and F.tanh",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02), biases and batch norm left as PyTorch made "
                    "them",
    "losses": "correct: BCEWithLogitsLoss on squeezed logits, 0.9 with smooth, 0 for fakes",
    "optimizers": "correct: one Adam per network with the lr and betas passed in",
    "train_step": "mistake: both z batches from np.random.uniform(-1, 1); also G's loss is real_loss(..., "
                  "smooth=True), so G aims at 0.9, not 1; order and zero_grads are right",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    a, b = feature_range
    return x * (b - a) + a


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    mods = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        mods.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*mods)


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    mods = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        mods.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*mods)


class Discriminator(nn.Module):

    def __init__(self, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)     # 16x16
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)            # 8x8
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)        # 4x4
        self.conv4 = conv(conv_dim * 4, conv_dim * 8, 4)        # 2x2
        self.fc = nn.Linear(conv_dim * 8 * 2 * 2, 1)

    def forward(self, x):
        y = F.leaky_relu(self.conv1(x), 0.2)
        y = F.leaky_relu(self.conv2(y), 0.2)
        y = F.leaky_relu(self.conv3(y), 0.2)
        y = F.leaky_relu(self.conv4(y), 0.2)
        y = y.view(-1, self.conv_dim * 8 * 2 * 2)
        return self.fc(y)


class Generator(nn.Module):

    def __init__(self, z_size, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 8 * 2 * 2)
        self.t_conv1 = deconv(conv_dim * 8, conv_dim * 4, 4)
        self.t_conv2 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.t_conv3 = deconv(conv_dim * 2, conv_dim, 4)
        self.t_conv4 = deconv(conv_dim, 3, 4, batch_norm=False)

    def forward(self, x):
        y = self.fc(x).view(-1, self.conv_dim * 8, 2, 2)
        y = F.relu(self.t_conv1(y))
        y = F.relu(self.t_conv2(y))
        y = F.relu(self.t_conv3(y))
        return F.tanh(self.t_conv4(y))


def weights_init_normal(m):
    name = m.__class__.__name__
    if hasattr(m, "weight"):
        if name.find('Conv') != -1 or name.find('Linear') != -1:
            init.normal_(m.weight.data, 0.0, 0.02)


def real_loss(D_out, smooth=False):
    n = D_out.size(0)
    labels = torch.ones(n) * 0.9 if smooth else torch.ones(n)
    if train_on_gpu:
        labels = labels.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), labels)


def fake_loss(D_out):
    labels = torch.zeros(D_out.size(0))
    if train_on_gpu:
        labels = labels.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), labels)


def make_optimizers(D, G, lr, betas):
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr, [beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr, [beta1, beta2])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    D_real = D(real_images)
    d_real_loss = real_loss(D_real, smooth=smooth)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    D_fake = D(G(z))
    d_fake_loss = fake_loss(D_fake)
    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)), smooth=True)   # the learner smooths G's target too
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(D_real).mean(), torch.sigmoid(D_fake).mean()
