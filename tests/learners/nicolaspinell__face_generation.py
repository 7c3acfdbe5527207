"""NicolasPinell/Face-Generation at e54033b97491a6f2fb0d71eb67ce3b435623ea2f: dlnd_face_generation.ipynb (the
Udacity face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`,
`beta1`, `beta2` variables taken from the arguments (passed to Adam as a list); `scale(real_images)` removed
from the loop; nothing else. real_loss keeps its one parameter (no `smooth`).
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np

SOURCE = ("https://github.com/NicolasPinell/Face-Generation/blob/e54033b97491a6f2fb0d71eb67ce3b435623ea2f/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("real_loss has no smooth parameter and always aims at 0.9", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); G's target smoothed to 0.9 too",
                   r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "off-spec: three stride-2 convolutions (4, 2, 1), conv_dim x1, x2, x4, batch norm on all but "
                     "the first, leaky ReLU with slope 0.12 (less than 0.2 but a real leak), Dropout(0.3) after "
                     "each hidden layer (not on the logit), linear head on the whole 4x4 map",
    "generator": "off-spec: linear to conv_dim*8 at 1x1, five transpose convolutions (4, 2, 1) 1 -> 2 -> 4 -> 8 -> "
                 "16 -> 32 with conv_dim x8, x6, x4, x2, x1 channels, batch norm on the hidden ones, leaky ReLU "
                 "0.1 and Dropout(0.3) after each hidden layer, tanh at the end: not the spec's ReLU, but it "
                 "maps z to 32x32 images and trains",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02), biases and batch norm left as PyTorch made them",
    "losses": "mistake: real_loss(D_out) only, labels always 0.9; BCEWithLogits on squeezed logits; fake_loss "
              "correct",
    "optimizers": "correct: one Adam per network with the given lr and betas (their own lr 0.005, beta1 0.3)",
    "train_step": "mistake: both z from np.random.uniform(-1, 1); real_loss always smooths, so G aims at 0.9 and "
                  "`smooth` is ignored. Fakes not detached, but G's gradients are zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    lowest, highest = feature_range
    return x * (highest - lowest) + lowest


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    parts = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        parts.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*parts)


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)
        self.dropout = nn.Dropout(0.3)

    def forward(self, x):
        for block in (self.conv1, self.conv2, self.conv3):
            x = self.dropout(F.leaky_relu(block(x), 0.12))
        x = x.view(-1, self.conv_dim * 4 * 4 * 4)
        return self.fc(x)


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    parts = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        parts.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*parts)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 8)
        self.t_conv1 = deconv(conv_dim * 8, conv_dim * 6, 4)    # 2x2
        self.t_conv2 = deconv(conv_dim * 6, conv_dim * 4, 4)    # 4x4
        self.t_conv3 = deconv(conv_dim * 4, conv_dim * 2, 4)    # 8x8
        self.t_conv4 = deconv(conv_dim * 2, conv_dim, 4)        # 16x16
        self.t_conv5 = deconv(conv_dim, 3, 4, batch_norm=False)  # 32x32
        self.dropout = nn.Dropout(0.3)

    def forward(self, x):
        x = self.fc(x).view(-1, self.conv_dim * 8, 1, 1)
        for block in (self.t_conv1, self.t_conv2, self.t_conv3, self.t_conv4):
            x = self.dropout(F.leaky_relu(block(x), 0.1))
        return F.tanh(self.t_conv5(x))


def weights_init_normal(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1 or classname.find('Linear') != -1:
        m.weight.data.normal_(0, 0.02)


def real_loss(D_out):
    labels = torch.ones(D_out.size(0)) * 0.9
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
    return (optim.Adam(D.parameters(), lr, [beta1, beta2]),
            optim.Adam(G.parameters(), lr, [beta1, beta2]))


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    d_real = D(real_images)
    d_real_loss = real_loss(d_real)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    d_fake = D(G(z))
    d_fake_loss = fake_loss(d_fake)
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
            torch.sigmoid(d_real).mean().detach(), torch.sigmoid(d_fake).mean().detach())
