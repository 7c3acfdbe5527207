"""ilyarudyak/face_generation at 65f239204ae4141472774ef397730401c80a04a8: dlnd_face_generation.ipynb, whose
Discriminator and Generator cells import them from model.py of the same commit (the Udacity face generation
project).

Adapted: the training loop's body as train_step (its return line added from the learner's own D outputs);
the optimizer cell as make_optimizers(D, G, lr, betas), their lr, beta1, beta2 taken from the arguments;
`scale(real_images)` removed from the loop; nothing else. `smooth` is not used: their real_loss has no such
parameter and their loop never smooths.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = ("https://github.com/ilyarudyak/face_generation/blob/65f239204ae4141472774ef397730401c80a04a8/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": ("ignores feature_range: always maps to (-1, 1)", r"feature.?range|range"),
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": ("batch norm weights drawn from N(0, 0.02) instead of around 1", r"batch.?norm"),
    "losses": ("real_loss has no smooth parameter", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1)", r"randn|N\(0, ?1\)|normal|uniform"),
}
JUDGEMENT = {
    "scale": "mistake: returns 2x - 1 whatever feature_range is passed",
    "discriminator": "correct: 3 strided 4x4 convs conv_dim, x2, x4, batch norm on the 2nd and 3rd, leaky ReLU "
                     "0.2, a linear head on raw logits; the flatten view(-1, conv_dim*4*4*4) keeps any batch size "
                     "for 32x32 inputs",
    "generator": "correct: linear to conv_dim*4 x 4x4, two transpose convs with batch norm and ReLU, a last "
                 "transpose conv to 3 channels and tanh",
    "weights_init": "mistake: Conv*/Linear weights from N(0, 0.02) (biases left), but BatchNorm2d weights also "
                    "from N(0, 0.02), i.e. near 0 instead of 1",
    "losses": "mistake: BCEWithLogitsLoss on squeezed logits against 1 and 0 is right, but real_loss(D_out) "
              "takes no smooth argument, so the lesson's call with smooth fails",
    "optimizers": "correct: one Adam per network with the lr and betas passed in",
    "train_step": "mistake: the order, zero_grads and G's real_loss are right (G's gradients from D's backward "
                  "are cleared before G's step), but both z batches come from np.random.uniform(-1, 1); "
                  "smooth is ignored as well",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    # the learner took (-1, 1) for granted
    return 2. * x - 1.


def _down(c_in, c_out, k, stride=2, padding=1, bn=True):
    """A bias-free strided convolution, then (optionally) batch norm, in one Sequential."""
    parts = [nn.Conv2d(c_in, c_out, k, stride, padding, bias=False)]
    if bn:
        parts.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*parts)


class Discriminator(nn.Module):

    def __init__(self, conv_dim=32):
        super().__init__()
        self.conv_dim = conv_dim
        self.conv1 = _down(3, conv_dim, 4, bn=False)           # 32 -> 16
        self.conv2 = _down(conv_dim, conv_dim * 2, 4)          # 16 -> 8
        self.conv3 = _down(conv_dim * 2, conv_dim * 4, 4)      # 8 -> 4
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        h = F.leaky_relu(self.conv3(h), 0.2)
        h = h.view(-1, self.conv_dim * 4 * 4 * 4)
        return self.fc(h)


def _up(c_in, c_out, k, stride=2, padding=1, bn=True):
    """A bias-free transpose convolution, then (optionally) batch norm."""
    parts = [nn.ConvTranspose2d(c_in, c_out, k, stride, padding, bias=False)]
    if bn:
        parts.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*parts)


class Generator(nn.Module):

    def __init__(self, z_size, conv_dim=32):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.t_conv1 = _up(conv_dim * 4, conv_dim * 2, 4)
        self.t_conv2 = _up(conv_dim * 2, conv_dim, 4)
        self.t_conv3 = _up(conv_dim, 3, 4, bn=False)

    def forward(self, x):
        h = self.fc(x).view(-1, self.conv_dim * 4, 4, 4)
        h = F.relu(self.t_conv1(h))
        h = F.relu(self.t_conv2(h))
        return torch.tanh(self.t_conv3(h))


def weights_init_normal(m):
    name = m.__class__.__name__
    if hasattr(m, 'weight') and (name.find('Conv') != -1 or name.find('Linear') != -1):
        nn.init.normal_(m.weight.data, mean=0, std=0.02)
    elif name.find('BatchNorm2d') != -1:
        nn.init.normal_(m.weight.data, mean=0, std=0.02)


def real_loss(D_out):
    n = D_out.size(0)
    targets = torch.ones(n)
    if train_on_gpu:
        targets = targets.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), targets)


def fake_loss(D_out):
    n = D_out.size(0)
    targets = torch.zeros(n)
    if train_on_gpu:
        targets = targets.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), targets)


def make_optimizers(D, G, lr, betas):
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr, [beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr, [beta1, beta2])
    return d_optimizer, g_optimizer


def _uniform_noise(n, z_size):
    noise = torch.from_numpy(np.random.uniform(-1, 1, size=(n, z_size))).float()
    return noise.cuda() if train_on_gpu else noise


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    n = real_images.size(0)

    # discriminator
    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    out_real = D(real_images)
    loss_on_real = real_loss(out_real)
    out_fake = D(G(_uniform_noise(n, z_size)))
    loss_on_fake = fake_loss(out_fake)
    d_loss = loss_on_real + loss_on_fake
    d_loss.backward()
    d_optimizer.step()

    # generator
    g_optimizer.zero_grad()
    out_gen = D(G(_uniform_noise(n, z_size)))
    g_loss = real_loss(out_gen)
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(out_real).mean(), torch.sigmoid(out_fake).mean()
