"""Alrehawi/dlnd_face_generation at 2a05f65e79eb25a5cb74a861a05effaf0d402512: dlnd_face_generation.ipynb (the
Udacity face generation project).

Adapted: the training loop's body as train_step (its return line added from the learner's own D outputs);
the optimizer cell as make_optimizers(D, G, lr, betas), their lr, beta11, beta22 taken from the arguments;
`scale(real_images)` removed from the loop; nothing else. `smooth` is not used: their real_loss has no such
parameter.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.nn import init

SOURCE = ("https://github.com/Alrehawi/dlnd_face_generation/blob/2a05f65e79eb25a5cb74a861a05effaf0d402512/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("real_loss has no smooth parameter", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1)", r"randn|N\(0, ?1\)|normal|uniform"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct: 4 strided 4x4 convs conv_dim..x8, batch norm on all but the first, leaky ReLU "
                     "0.2, a linear head on raw logits",
    "generator": "correct: linear to conv_dim*8 x 2x2, three transpose convs with batch norm and ReLU, a last "
                 "transpose conv to 3 channels and F.tanh",
    "weights_init": "correct: `hasattr(weight) and is_conv or is_linear` groups as (hasattr and conv) or linear, "
                    "which still picks exactly Conv2d, ConvTranspose2d and Linear: weights from N(0, 0.02); "
                    "batch norm left as PyTorch made it",
    "losses": "mistake: BCEWithLogitsLoss on squeezed logits against 1 and 0, but no smooth argument",
    "optimizers": "correct: one Adam per network with the lr and betas passed in",
    "train_step": "mistake: both z batches from np.random.uniform(-1, 1); order and zero_grads are right; "
                  "smooth is ignored",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    bottom, top = feature_range
    return x * (top - bottom) + bottom


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    stack = [nn.Conv2d(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                       stride=stride, padding=padding, bias=False)]
    if batch_norm:
        stack.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*stack)


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    stack = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        stack.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*stack)


class Discriminator(nn.Module):

    def __init__(self, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.conv4 = conv(conv_dim * 4, conv_dim * 8, 4)
        self.classifier = nn.Linear(conv_dim * 8 * 2 * 2, 1)

    def forward(self, x):
        h = x
        for block in (self.conv1, self.conv2, self.conv3, self.conv4):
            h = F.leaky_relu(block(h), 0.2)
        h = h.view(-1, self.conv_dim * 8 * 2 * 2)
        return self.classifier(h)


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
        h = self.fc(x).view(-1, self.conv_dim * 8, 2, 2)
        for block in (self.t_conv1, self.t_conv2, self.t_conv3):
            h = F.relu(block(h))
        return F.tanh(self.t_conv4(h))


def weights_init_normal(m):
    name = m.__class__.__name__
    is_conv = name.find('Conv') != -1
    is_linear = name.find('Linear') != -1
    if hasattr(m, 'weight') and is_conv or is_linear:
        init.normal_(m.weight.data, 0.0, 0.02)


def real_loss(D_out):
    target = torch.ones(D_out.size(0))
    if train_on_gpu:
        target = target.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), target)


def fake_loss(D_out):
    target = torch.zeros(D_out.size(0))
    if train_on_gpu:
        target = target.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), target)


def make_optimizers(D, G, lr, betas):
    beta11, beta22 = betas
    d_optimizer = optim.Adam(D.parameters(), lr, [beta11, beta22])
    g_optimizer = optim.Adam(G.parameters(), lr, [beta11, beta22])
    return d_optimizer, g_optimizer


def _noise(rows, z_size):
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(rows, z_size))).float()
    return z.cuda() if train_on_gpu else z


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    rows = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    real_scores = D(real_images)
    fake_scores = D(G(_noise(rows, z_size)))
    d_loss = real_loss(real_scores) + fake_loss(fake_scores)
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    g_loss = real_loss(D(G(_noise(rows, z_size))))
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(real_scores).mean(), torch.sigmoid(fake_scores).mean()
