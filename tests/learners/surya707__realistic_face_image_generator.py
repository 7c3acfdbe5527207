"""Surya707/Realistic-Face-Image-Generator at a6d444d64b7dd21f5b8bb3d7b6652116590a94d3: FaceGeneratorGAN.ipynb (the
Udacity face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`,
`beta1`, `beta2` variables taken from the arguments (passed to Adam as a list); `scale(real_images)` removed
from the loop; nothing else. real_loss keeps its one parameter (no `smooth`).
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np

SOURCE = ("https://github.com/Surya707/Realistic-Face-Image-Generator/blob/"
          "a6d444d64b7dd21f5b8bb3d7b6652116590a94d3/FaceGeneratorGAN.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": ("the bias line fills the weight: every Linear's weights set to 0", r"linear|0\.02"),
    "losses": ("real_loss has no smooth parameter and always aims at 0.9", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); G's target smoothed to 0.9 too",
                   r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct: four stride-2 convolutions (4, 2, 1) to 2x2, conv_dim x1, x2, x4, x8, batch norm on "
                     "all but the first, leaky ReLU 0.2, linear head on the whole 2x2 map",
    "generator": "correct: linear to conv_dim*8 x 2x2, four transpose convolutions (4, 2, 1) halving the "
                 "channels, batch norm and ReLU on the hidden ones, tanh at the end",
    "weights_init": "mistake: weights from N(0, 0.02), then `if m.bias is not None: m.weight.data.fill_(0.0)`: the "
                    "bias-free convolutions keep their N(0, 0.02) weights, but both nn.Linear layers (D's head, "
                    "G's input layer) end with all-zero weights",
    "losses": "mistake: real_loss(D_out) only, labels always 0.9; BCEWithLogits on squeezed logits; fake_loss "
              "correct",
    "optimizers": "correct: one Adam per network with the given lr and betas (their own beta1 0.4)",
    "train_step": "mistake: both z from np.random.uniform(-1, 1); real_loss always smooths, so G aims at 0.9 and "
                  "`smooth` is ignored. Fakes not detached, but G's gradients are zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    lo, hi = feature_range
    return x * (hi - lo) + lo


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    seq = [nn.Conv2d(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                     stride=stride, padding=padding, bias=False)]
    if batch_norm:
        seq.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*seq)


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    seq = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        seq.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*seq)


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.conv4 = conv(conv_dim * 4, conv_dim * 8, 4)
        self.fc = nn.Linear(conv_dim * 8 * 2 * 2, 1)

    def forward(self, x):
        h = x
        for block in (self.conv1, self.conv2, self.conv3, self.conv4):
            h = F.leaky_relu(block(h), 0.2)
        return self.fc(h.view(-1, self.conv_dim * 8 * 2 * 2))


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 8 * 2 * 2)
        self.deconv1 = deconv(conv_dim * 8, conv_dim * 4, 4)
        self.deconv2 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.deconv3 = deconv(conv_dim * 2, conv_dim, 4)
        self.deconv4 = deconv(conv_dim, 3, 4, batch_norm=False)

    def forward(self, x):
        h = self.fc(x).view(-1, self.conv_dim * 8, 2, 2)
        for block in (self.deconv1, self.deconv2, self.deconv3):
            h = F.relu(block(h))
        return torch.tanh(self.deconv4(h))


def weights_init_normal(m):
    classname = m.__class__.__name__
    if hasattr(m, 'weight') and classname.find('Conv') != -1 or classname.find('Linear') != -1:
        m.weight.data.normal_(0.0, 0.02)
        if hasattr(m, 'bias') and m.bias is not None:
            m.weight.data.fill_(0.0)   # as written: the weight, not the bias


def real_loss(D_out):
    labels = torch.ones(D_out.size(0)) * .9
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
    d_real_loss = real_loss(D_real)
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
    g_loss = real_loss(D(G(z)))
    g_loss.backward()
    g_optimizer.step()

    return (d_loss.detach(), g_loss.detach(),
            torch.sigmoid(D_real).mean().detach(), torch.sigmoid(D_fake).mean().detach())
