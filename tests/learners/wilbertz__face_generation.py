"""Wilbertz/Face-Generation at 80eec3a3d5f4e0d14469fd6704a6b3d61bdd9118: dlnd_face_generation.ipynb (the Udacity
face generation project).

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
from torch.nn import init

SOURCE = ("https://github.com/Wilbertz/Face-Generation/blob/80eec3a3d5f4e0d14469fd6704a6b3d61bdd9118/"
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
    "scale": "correct: (max - min) * x + min",
    "discriminator": "correct, off-spec: 3 strided 4x4 convs conv_dim, x2, x4, batch norm on the 2nd and 3rd, "
                     "leaky ReLU 0.2, a linear head on raw logits; a Dropout(0.2) after each hidden layer "
                     "(the last one before the linear head, not on the logit) is accepted",
    "generator": "correct: linear to conv_dim*4 x 4x4, two transpose convs with batch norm and ReLU, a last "
                 "transpose conv to 3 channels and tanh",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02), their biases 0; batch norm left as PyTorch "
                    "made it (weights 1, biases 0)",
    "losses": "mistake: BCEWithLogitsLoss on squeezed logits against 1 and 0, but real_loss(D_out) takes no "
              "smooth argument",
    "optimizers": "correct: one Adam per network with the lr and betas passed in (their own beta1 was 0.2)",
    "train_step": "mistake: order, zero_grads and G's real_loss are right, but both z batches come from "
                  "np.random.uniform(-1, 1); smooth is ignored as well",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    lo, hi = feature_range
    return (hi - lo) * x + lo


def conv(c_in, c_out, kernel_size=4, stride=2, padding=1, batch_norm=True):
    block = [nn.Conv2d(c_in, c_out, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        block.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*block)


def deconv(c_in, c_out, kernel_size=4, stride=2, padding=1, batch_norm=True):
    block = [nn.ConvTranspose2d(c_in, c_out, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        block.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*block)


class Discriminator(nn.Module):

    def __init__(self, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)

    def forward(self, x):
        x = self.dropout(F.leaky_relu(self.conv1(x), 0.2))
        x = self.dropout(F.leaky_relu(self.conv2(x), 0.2))
        x = self.dropout(F.leaky_relu(self.conv3(x), 0.2))
        x = x.view(-1, self.conv_dim * 4 * 4 * 4)
        return self.fc(x)


class Generator(nn.Module):

    def __init__(self, z_size, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.deconv1 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.deconv2 = deconv(conv_dim * 2, conv_dim, 4)
        self.deconv3 = deconv(conv_dim, 3, 4, batch_norm=False)

    def forward(self, x):
        x = self.fc(x).view(-1, self.conv_dim * 4, 4, 4)
        x = F.relu(self.deconv1(x))
        x = F.relu(self.deconv2(x))
        return torch.tanh(self.deconv3(x))


def _init_layer(m, init_type='normal', init_gain=0.02):
    """The learner's general initialiser (normal / xavier / kaiming / orthogonal); batch norm is not touched."""
    name = m.__class__.__name__
    if hasattr(m, 'weight') and (name.find('Conv') != -1 or name.find('Linear') != -1):
        if init_type == 'normal':
            init.normal_(m.weight.data, 0.0, init_gain)
        elif init_type == 'xavier':
            init.xavier_normal_(m.weight.data, gain=init_gain)
        elif init_type == 'kaiming':
            init.kaiming_normal_(m.weight.data, a=0, mode='fan_in')
        elif init_type == 'orthogonal':
            init.orthogonal_(m.weight.data, gain=init_gain)
        else:
            raise NotImplementedError(f'no initialisation called {init_type}')
        if hasattr(m, 'bias') and m.bias is not None:
            init.constant_(m.bias.data, 0.0)


def weights_init_normal(m):
    _init_layer(m, init_type='normal', init_gain=0.02)


def real_loss(D_out):
    ones = torch.ones(D_out.size(0))
    if train_on_gpu:
        ones = ones.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), ones)


def fake_loss(D_out):
    zeros = torch.zeros(D_out.size(0))
    if train_on_gpu:
        zeros = zeros.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), zeros)


def make_optimizers(D, G, lr, betas):
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr, [beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr, [beta1, beta2])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    d_on_real = D(real_images)
    d_real_loss = real_loss(d_on_real)

    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    d_on_fake = D(G(z))
    d_fake_loss = fake_loss(d_on_fake)

    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)))   # fakes judged against the "real" label
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(d_on_real).mean(), torch.sigmoid(d_on_fake).mean()
