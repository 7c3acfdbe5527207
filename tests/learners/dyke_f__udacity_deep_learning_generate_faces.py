"""Dyke-F/Udacity_Deep_Learning-Generate_Faces at db7d4b5aacdd6cc6b06bbcbebca1f10cfb939626: dlnd_face_generation.ipynb
(the Udacity face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the `smooth=True` they wrote in D's real_loss call becomes the
lesson's `smooth` argument (default True), while G's real_loss call stays as written (no argument, so their
default applies); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr_optim`, `lr_gen` (both
0.003) and `beta1`, `beta2` taken from the arguments (passed to Adam as a list); `scale(real_images)` removed
from the loop; nothing else.
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np

SOURCE = ("https://github.com/Dyke-F/Udacity_Deep_Learning-Generate_Faces/blob/"
          "db7d4b5aacdd6cc6b06bbcbebca1f10cfb939626/dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("real_loss smooths by default (smooth=True): real_loss(D_out) aims at 0.9", r"smooth|default|0\.9"),
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); G's target smoothed to 0.9 by the default",
                   r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "off-spec: four stride-2 convolutions (4, 2, 1) to 2x2, conv_dim x1, x2, x4, x8, batch norm on "
                     "all but the first, leaky ReLU 0.2, flatten with x.view(x.shape[0], -1), linear head; "
                     "`bias=[False if batch_norm else True]` is a one-item list, always true, so every "
                     "convolution keeps a bias (harmless before batch norm)",
    "generator": "correct: linear to conv_dim*8 x 2x2, four transpose convolutions (4, 2, 1) halving the "
                 "channels, batch norm and ReLU on the hidden ones, tanh at the end (biases kept, as in D)",
    "weights_init": "correct: Linear/Conv*/ConvTranspose* weights from N(0, 0.02), biases and batch norm left as "
                    "PyTorch made them",
    "losses": "mistake: BCEWithLogits on squeezed logits, labels sized from D_out, but real_loss(D_out, "
              "smooth=True): called without smooth it smooths, where the lesson's signature has smooth=False "
              "(and their G's loss relies on it); fake_loss correct",
    "optimizers": "correct: one Adam per network with the given lr and betas (their own lr 0.003 for both)",
    "train_step": "mistake: both z from np.random.uniform(-1, 1); G's real_loss(D_out) takes the default "
                  "smooth=True, so G aims at 0.9. D's real loss gets smooth, fakes not detached but G's "
                  "gradients are zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    low, high = feature_range
    return x * (high - low) + low


def conv(in_channels, out_channels, kernel_size, stride, padding, batch_norm=True):
    """Convolution (+ batch norm); the bias flag is a one-item list, as the learner wrote it."""
    seq = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=[not batch_norm])]
    if batch_norm:
        seq.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*seq)


def conv_out_size(in_size, kernel_size, stride, padding, num_layers):
    for _ in range(num_layers):
        in_size = (in_size - kernel_size + 2 * padding) // stride + 1
    return in_size


class Discriminator(nn.Module):
    def __init__(self, conv_dim: int) -> None:
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, kernel_size=4, stride=2, padding=1, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, kernel_size=4, stride=2, padding=1)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, kernel_size=4, stride=2, padding=1)
        self.conv4 = conv(conv_dim * 4, conv_dim * 8, kernel_size=4, stride=2, padding=1)
        side = conv_out_size(32, 4, 2, 1, 4)
        self.classifier_in_dim = side * side * self.conv4[0].out_channels
        self.classifier = nn.Linear(self.classifier_in_dim, 1)

    def forward(self, x):
        for block in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.leaky_relu(block(x), 0.2)
        x = x.view(x.shape[0], -1)
        return self.classifier(x)


def deconv(in_channels, out_channels, kernel_size, stride, padding, batch_norm=True):
    seq = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=[not batch_norm])]
    if batch_norm:
        seq.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*seq)


class Generator(nn.Module):
    def __init__(self, z_size: int, conv_dim: int) -> None:
        super(Generator, self).__init__()
        self.z_size = z_size
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, 2 * 2 * conv_dim * 8)
        self.tconv1 = deconv(conv_dim * 8, conv_dim * 4, kernel_size=4, stride=2, padding=1)
        self.tconv2 = deconv(conv_dim * 4, conv_dim * 2, kernel_size=4, stride=2, padding=1)
        self.tconv3 = deconv(conv_dim * 2, conv_dim, kernel_size=4, stride=2, padding=1)
        self.tconv4 = deconv(conv_dim, 3, kernel_size=4, stride=2, padding=1, batch_norm=False)

    def forward(self, x):
        x = self.fc(x).view(-1, self.conv_dim * 8, 2, 2)
        x = F.relu(self.tconv1(x))
        x = F.relu(self.tconv2(x))
        x = F.relu(self.tconv3(x))
        return F.tanh(self.tconv4(x))


def weights_init_normal(m):
    classname = m.__class__.__name__
    if classname.find("Linear") != -1 or classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, mean=0, std=0.02)


def real_loss(D_out, smooth=True):
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
    lr_optim = lr_gen = lr
    beta1, beta2 = betas
    d_optimizer = torch.optim.Adam(D.parameters(), lr_optim, [beta1, beta2])
    g_optimizer = torch.optim.Adam(G.parameters(), lr_gen, [beta1, beta2])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    logits_real = D(real_images)
    d_real_loss = real_loss(logits_real, smooth=smooth)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    logits_fake = D(G(z))
    d_fake_loss = fake_loss(logits_fake)
    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_optimizer.zero_grad()
    g_loss = real_loss(D(G(z)))
    g_loss.backward()
    g_optimizer.step()

    return (d_loss.detach(), g_loss.detach(),
            torch.sigmoid(logits_real).mean().detach(), torch.sigmoid(logits_fake).mean().detach())
