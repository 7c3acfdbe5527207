"""Ahmed-Elshehawy/Face-Generation at 3bd29df1fec63d52ff7746824118b38c29033aae: dlnd_face_generation.ipynb (the
Udacity face generation project).

Adapted: the training loop's body as train_step (its return line added from the learner's own D outputs);
the optimizer cell as make_optimizers(D, G, lr, betas), their lr_d and lr_g both taken from lr and beta1,
beta2 from betas; `scale(real_images)` removed from the loop; nothing else. `smooth` is not used: their
real_loss has no such parameter.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.nn import init

SOURCE = ("https://github.com/Ahmed-Elshehawy/Face-Generation/blob/3bd29df1fec63d52ff7746824118b38c29033aae/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("real_loss has no smooth parameter", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1); G updated twice (the lesson's step updates "
                   "each network once)", r"randn|N\(0, ?1\)|normal|uniform|once"),  # the second mistake added in review
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct, off-spec: 3 strided 4x4 convs (32 -> 4) with a 3x3 stride-1 conv after each, "
                     "channels conv_dim, x2, x2, x4, x4, x8; the first a plain biased conv without batch norm, "
                     "the others with batch norm; leaky ReLU 0.2 throughout; a linear head on raw logits",
    "generator": "correct, off-spec: linear to conv_dim*4 x 4x4, then up to 16x16, down to 8x8 with a strided "
                 "conv, up, down, up again (ConvT, ConvT, Conv, ConvT, Conv, ConvT), each with batch norm and "
                 "ReLU, and a biased transpose conv to 3 x 32x32 with tanh: an odd path, but z goes to a "
                 "32x32 tanh image and it trains",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02); every bias that exists (batch norm's too) "
                    "set to 0; batch norm weights left at 1",
    "losses": "mistake: BCEWithLogitsLoss on squeezed logits against 1 and 0, but no smooth argument",
    "optimizers": "correct: one Adam per network with the lr and betas passed in",
    "train_step": "mistake: z from np.random.uniform(-1, 1) for D and for G; G takes two steps per batch "
                  "(off-spec); order and zero_grads are right; smooth is ignored",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    min_v, max_v = feature_range
    return x * (max_v - min_v) + min_v


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    block = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)]
    if batch_norm:
        block.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*block)


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    block = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                bias=False)]
    if batch_norm:
        block.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*block)


class Discriminator(nn.Module):

    def __init__(self, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.conv1 = nn.Conv2d(3, conv_dim, 4, stride=2, padding=1)      # 16x16
        self.conv2 = conv(conv_dim, conv_dim * 2, 3, stride=1)          # 16x16
        self.conv3 = conv(conv_dim * 2, conv_dim * 2, 4)                # 8x8
        self.conv4 = conv(conv_dim * 2, conv_dim * 4, 3, stride=1)      # 8x8
        self.conv5 = conv(conv_dim * 4, conv_dim * 4, 4)                # 4x4
        self.conv6 = conv(conv_dim * 4, conv_dim * 8, 3, stride=1)      # 4x4
        self.fc1 = nn.Linear(4 * 4 * conv_dim * 8, 1)

    def forward(self, x):
        for layer in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5, self.conv6):
            x = F.leaky_relu(layer(x), 0.2)
        x = x.view(-1, 4 * 4 * self.conv_dim * 8)
        return self.fc1(x)


class Generator(nn.Module):

    def __init__(self, z_size, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc1 = nn.Linear(z_size, 4 * 4 * conv_dim * 4)
        self.deconv1 = deconv(conv_dim * 4, conv_dim * 2, 4)    # 8x8
        self.deconv2 = deconv(conv_dim * 2, conv_dim, 4)        # 16x16
        self.conv1 = conv(conv_dim, conv_dim * 2, 4)            # 8x8
        self.deconv3 = deconv(conv_dim * 2, conv_dim, 4)        # 16x16
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)            # 8x8
        self.deconv4 = deconv(conv_dim * 2, conv_dim, 4)        # 16x16
        self.deconv5 = nn.ConvTranspose2d(conv_dim, 3, 4, stride=2, padding=1)   # 32x32

    def forward(self, x):
        x = self.fc1(x).view(-1, self.conv_dim * 4, 4, 4)
        for layer in (self.deconv1, self.deconv2, self.conv1, self.deconv3, self.conv2, self.deconv4):
            x = F.relu(layer(x))
        return torch.tanh(self.deconv5(x))


def weights_init_normal(m):
    name = m.__class__.__name__
    if hasattr(m, "weight") and (name.find("Conv") != -1 or name.find("Linear") != -1):
        init.normal_(m.weight.data, 0.0, 0.02)
    if hasattr(m, "bias") and m.bias is not None:
        init.constant_(m.bias.data, 0.0)


def real_loss(D_out):
    labels = torch.ones(D_out.size(0))
    if train_on_gpu:
        labels = labels.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), labels)


def fake_loss(D_out):
    labels = torch.zeros(D_out.size(0))
    if train_on_gpu:
        labels = labels.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), labels)


def make_optimizers(D, G, lr, betas):
    lr_d = lr_g = lr
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr_d, [beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr_g, [beta1, beta2])
    return d_optimizer, g_optimizer


def _uniform_z(n, z_size):
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(n, z_size))).float()
    return z.cuda() if train_on_gpu else z


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    n = real_images.size(0)
    if train_on_gpu:
        real_images = real_images.cuda()

    d_optimizer.zero_grad()
    d_real = D(real_images)
    d_real_loss = real_loss(d_real)
    d_fake = D(G(_uniform_z(n, z_size)))
    d_fake_loss = fake_loss(d_fake)
    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    for _ in range(2):   # two generator updates per discriminator update
        g_optimizer.zero_grad()
        g_loss = real_loss(D(G(_uniform_z(n, z_size))))
        g_loss.backward()
        g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()
