"""Bloodshoot111/Face-Generation at 2905dd8ed404f006786cbdaa80b27fef94758f02: dlnd_face_generation.ipynb (the
Udacity face generation project).

Adapted: the training loop's body as train_step (its return line added from the learner's own D outputs);
the optimizer cell as make_optimizers(D, G, lr, betas), where the numbers they wrote (lr=0.00015,
betas=(0.2, 0.999)) stay written in; `scale(real_images)` removed from the loop; nothing else. `smooth` is
not used: their real_loss has no such parameter (it always smooths).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = ("https://github.com/Bloodshoot111/Face-Generation/blob/2905dd8ed404f006786cbdaa80b27fef94758f02/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("real_loss has no smooth parameter: its labels are always 0.9", r"smooth"),
    "optimizers": ("lr and betas written in (0.00015, (0.2, 0.999)), the ones passed in ignored",
                   r"\blr\b|learning.?rate|beta"),
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1)", r"randn|N\(0, ?1\)|normal|uniform"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct: 4 strided 4x4 convs conv_dim..x8, batch norm on all but the first, leaky ReLU "
                     "0.2, a linear head on raw logits",
    "generator": "correct: linear to conv_dim*8 x 2x2, three transpose convs with batch norm and ReLU, a last "
                 "transpose conv to 3 channels and tanh",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02), their biases 0; batch norm left as PyTorch "
                    "made it",
    "losses": "mistake: BCEWithLogitsLoss on squeezed logits, but real_loss(D_out) takes no smooth argument and "
              "always uses 0.9",
    "optimizers": "mistake: one Adam per network, but lr=0.00015 and betas=(0.2, 0.999) written in instead of "
                  "the lr and betas passed in",
    "train_step": "mistake: both z batches from np.random.uniform(-1, 1); G's target is 0.9 too (their "
                  "real_loss always smooths); order and zero_grads are right",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    start, stop = feature_range
    return x * (stop - start) + start


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    layer_list = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        layer_list.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layer_list)


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    layer_list = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        layer_list.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layer_list)


class Discriminator(nn.Module):

    def __init__(self, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.conv4 = conv(conv_dim * 4, conv_dim * 8, 4)
        self.fc = nn.Linear(conv_dim * 8 * 2 * 2, 1)

    def forward(self, x):
        z = F.leaky_relu(self.conv1(x), 0.2)
        z = F.leaky_relu(self.conv2(z), 0.2)
        z = F.leaky_relu(self.conv3(z), 0.2)
        z = F.leaky_relu(self.conv4(z), 0.2)
        return self.fc(z.view(-1, self.conv_dim * 8 * 2 * 2))


class Generator(nn.Module):

    def __init__(self, z_size, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 8 * 2 * 2)
        self.deconv1 = deconv(conv_dim * 8, conv_dim * 4, 4)
        self.deconv2 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.deconv3 = deconv(conv_dim * 2, conv_dim, 4)
        self.deconv4 = deconv(conv_dim, 3, 4, batch_norm=False)

    def forward(self, x):
        h = self.fc(x).view(-1, self.conv_dim * 8, 2, 2)
        h = F.relu(self.deconv1(h))
        h = F.relu(self.deconv2(h))
        h = F.relu(self.deconv3(h))
        return torch.tanh(self.deconv4(h))


def weights_init_normal(m):
    name = m.__class__.__name__
    if hasattr(m, 'weight') and (name.find('Conv') != -1 or name.find('Linear') != -1):
        m.weight.data.normal_(0.0, 0.02)
        if hasattr(m, 'bias') and m.bias is not None:
            m.bias.data.zero_()


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
    # the learner's own numbers, written into the cell
    d_optimizer = optim.Adam(D.parameters(), lr=0.00015, betas=(0.2, 0.999))
    g_optimizer = optim.Adam(G.parameters(), lr=0.00015, betas=(0.2, 0.999))
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    real_out = D(real_images)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    fake_out = D(G(z))
    d_loss = real_loss(real_out) + fake_loss(fake_out)
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)))
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(real_out).mean(), torch.sigmoid(fake_out).mean()
