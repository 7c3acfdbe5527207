"""Sergey55/dlnd_face_generation at c527a973af5f0638dc409d9a7d2d95e38682df0d: dlnd_face_generation.ipynb (the
Udacity face generation project; the notebook was removed from the repository in a later commit).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`,
`beta1`, `beta2` variables taken from the arguments (still passed to Adam as a list); `scale(real_images)`
removed from the loop; nothing else. Their build_network applied a Kaiming initialiser instead; the
weights_init_normal they wrote is judged here.
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np
from torch.nn import init

SOURCE = ("https://github.com/Sergey55/dlnd_face_generation/blob/c527a973af5f0638dc409d9a7d2d95e38682df0d/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": "pass",
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); D's real loss never smoothed, G's "
                   "target smoothed instead", r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "off-spec: five stride-2 convolutions (4, 2, 1) down to 1x1 with conv_dim x1, x2, x4, x8, x16 "
                     "channels, batch norm on all but the first, leaky ReLU 0.2 after each, then a linear head on "
                     "the 1x1 map; one stride more than the spec's 3 or 4, but the flatten is the whole 1x1 map, "
                     "so any batch size works and it trains",
    "generator": "off-spec: linear to conv_dim*8 x 2x2, four transpose convolutions (4, 2, 1) halving the "
                 "channels to 32x32, batch norm on the hidden ones, tanh at the end; the hidden activation is "
                 "F.leaky_relu with its default slope 0.01 instead of ReLU, which still trains",
    "weights_init": "off-spec: an inner function applied with m.apply that tests the OUTER module's class name; "
                    "through D.apply it reaches every Conv2d, ConvTranspose2d and Linear with N(0, 0.02), biases "
                    "and batch norm left as PyTorch made them",
    "losses": "correct: BCEWithLogitsLoss on the squeezed logits, labels sized from D_out, 0.9 with smooth",
    "optimizers": "correct: one Adam per network with the lr and betas given (betas as a list)",
    "train_step": "mistake: both z are np.random.uniform(-1, 1) (G then sampled from N(0, 1)); D's real loss is "
                  "called without smooth, G's with smooth=True. Fakes are not detached, but G's gradients "
                  "are zeroed before G's backward, which is fine",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    # x comes in as [0, 1]; stretch it onto the wanted interval
    low, high = feature_range
    return x * (high - low) + low


def conv(c_in, c_out, kernel_size, stride=2, padding=1, batch_norm=True):
    """A bias-free convolution, followed by batch norm when asked, as one Sequential."""
    parts = [nn.Conv2d(c_in, c_out, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        parts.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*parts)


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)     # 16x16
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)            # 8x8
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)        # 4x4
        self.conv4 = conv(conv_dim * 4, conv_dim * 8, 4)        # 2x2
        self.conv5 = conv(conv_dim * 8, conv_dim * 16, 4)       # 1x1
        self.fc = nn.Linear(conv_dim * 16, 1)

    def forward(self, x):
        for layer in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            x = F.leaky_relu(layer(x), 0.2)
        x = x.view(-1, self.conv_dim * 16)
        return self.fc(x)


def deconv(c_in, c_out, kernel_size, stride=2, padding=1, batch_norm=True):
    """A bias-free transpose convolution, followed by batch norm when asked."""
    parts = [nn.ConvTranspose2d(c_in, c_out, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        parts.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*parts)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.z_size = z_size
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 8 * 2 * 2)
        self.deconv1 = deconv(conv_dim * 8, conv_dim * 4, 4)     # 4x4
        self.deconv2 = deconv(conv_dim * 4, conv_dim * 2, 4)     # 8x8
        self.deconv3 = deconv(conv_dim * 2, conv_dim, 4)         # 16x16
        self.deconv4 = deconv(conv_dim, 3, 4, batch_norm=False)  # 32x32

    def forward(self, x):
        x = self.fc(x).view(-1, self.conv_dim * 8, 2, 2)
        x = F.leaky_relu(self.deconv1(x))   # default negative slope
        x = F.leaky_relu(self.deconv2(x))
        x = F.leaky_relu(self.deconv3(x))
        return F.tanh(self.deconv4(x))


def weights_init_normal(m):
    classname = m.__class__.__name__

    def init_one(module):
        other_name = module.__class__.__name__  # computed, but the test below reads the outer name
        if hasattr(module, 'weight') and (classname.find('Conv') != -1 or classname.find('Linear') != -1):
            init.normal_(module.weight.data, 0.0, 0.02)

    m.apply(init_one)


def real_loss(D_out, smooth=False):
    criterion = nn.BCEWithLogitsLoss()
    n = D_out.size(0)
    targets = torch.ones(n) * 0.9 if smooth else torch.ones(n)
    if train_on_gpu:
        targets = targets.cuda()
    return criterion(D_out.squeeze(), targets)


def fake_loss(D_out):
    criterion = nn.BCEWithLogitsLoss()
    targets = torch.zeros(D_out.size(0))
    if train_on_gpu:
        targets = targets.cuda()
    return criterion(D_out.squeeze(), targets)


def make_optimizers(D, G, lr, betas):
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr, [beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr, [beta1, beta2])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)

    # discriminator
    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    on_real = D(real_images)
    loss_real = real_loss(on_real)

    noise = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        noise = noise.cuda()
    forged = G(noise)
    on_forged = D(forged)
    loss_forged = fake_loss(on_forged)

    d_loss = loss_real + loss_forged
    d_loss.backward()
    d_optimizer.step()

    # generator
    g_optimizer.zero_grad()
    noise = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        noise = noise.cuda()
    forged = G(noise)
    g_loss = real_loss(D(forged), True)
    g_loss.backward()
    g_optimizer.step()

    return (d_loss.detach(), g_loss.detach(),
            torch.sigmoid(on_real).mean().detach(), torch.sigmoid(on_forged).mean().detach())
