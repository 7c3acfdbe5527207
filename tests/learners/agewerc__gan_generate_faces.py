"""Agewerc/GAN-generate-faces at c8dd6a28e26e83b51d1f404b149aa6d4dbb550ff: dlnd_face_generation.ipynb (the Udacity
face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`,
`beta1`, `beta2` variables taken from the arguments (passed to Adam as a list); `scale(real_images)` removed
from the loop; nothing else. real_loss keeps its one parameter (no `smooth`).
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np

SOURCE = ("https://github.com/Agewerc/GAN-generate-faces/blob/c8dd6a28e26e83b51d1f404b149aa6d4dbb550ff/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": ("batch norm on the first layer too: the conv helper ignores batch_norm=False",
                      r"batch ?norm|first"),
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("real_loss has no smooth parameter (labels always 1)", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); smooth never reaches D's real loss",
                   r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "mistake: three stride-2 convolutions (4, 2, 1), conv_dim x1, x2, x4, leaky ReLU 0.2, linear "
                     "head on the whole 4x4 map; but their conv helper appends BatchNorm2d unconditionally, so "
                     "conv1, asked for batch_norm=False, is batch-normalised as well",
    "generator": "correct: linear to conv_dim*4 x 4x4, three transpose convolutions (4, 2, 1), batch norm and "
                 "ReLU on the hidden two, tanh at the end",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02), biases and batch norm left as PyTorch made them",
    "losses": "mistake: real_loss(D_out) without smooth, labels always 1; BCEWithLogits on squeezed logits; "
              "fake_loss correct",
    "optimizers": "correct: one Adam per network with the given lr and betas (as a list)",
    "train_step": "mistake: both z from np.random.uniform(-1, 1); real_loss without smoothing, so `smooth` is "
                  "ignored. Fakes not detached, but G's gradients are zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    lower, upper = feature_range
    return x * (upper - lower) + lower


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    # batch_norm is accepted but never consulted: every block gets its batch norm
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
                         nn.BatchNorm2d(out_channels))


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        h = F.leaky_relu(self.conv3(h), 0.2)
        return self.fc(h.view(-1, self.conv_dim * 4 * 4 * 4))


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    seq = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        seq.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*seq)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.t_conv1 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.t_conv2 = deconv(conv_dim * 2, conv_dim, 4)
        self.t_conv3 = deconv(conv_dim, 3, 4, batch_norm=False)

    def forward(self, x):
        h = self.fc(x).view(-1, self.conv_dim * 4, 4, 4)
        h = F.relu(self.t_conv1(h))
        h = F.relu(self.t_conv2(h))
        return F.tanh(self.t_conv3(h))


def weights_init_normal(m):
    classname = m.__class__.__name__
    if hasattr(m, 'weight') and (classname.find('Conv') != -1 or classname.find('Linear') != -1):
        nn.init.normal_(m.weight.data, 0.0, 0.02)


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
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr, [beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr, [beta1, beta2])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    judged_real = D(real_images)
    d_real_loss = real_loss(judged_real)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    judged_fake = D(G(z))
    d_fake_loss = fake_loss(judged_fake)
    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)))
    g_loss.backward()
    g_optimizer.step()

    return (d_loss.detach(), g_loss.detach(),
            torch.sigmoid(judged_real).mean().detach(), torch.sigmoid(judged_fake).mean().detach())
