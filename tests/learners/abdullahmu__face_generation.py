"""AbdullahMu/Face-Generation at 85b535cbca1b72de4a65972b2c84ef6fcc518281: dlnd_face_generation.ipynb (the Udacity
face generation project).

Adapted: the training loop's body as train_step (its return line added from the learner's own D outputs);
the `smooth=True` they wrote in D's real_loss call becomes the lesson's `smooth` argument (default True);
the optimizer cell as make_optimizers(D, G, lr, betas), where the numbers they wrote (lr=0.0002,
betas=[0.5, 0.999]) stay written in; `scale(real_images)` removed from the loop; nothing else.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = ("https://github.com/AbdullahMu/Face-Generation/blob/85b535cbca1b72de4a65972b2c84ef6fcc518281/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": ("the condition (Conv2d AND Linear in the name) is never true: no layer is initialised",
                     r"conv|linear|0\.02|N\(0"),
    "losses": "pass",
    "optimizers": "pass",  # in review: written in, but the lesson's own values (as the other helpers judged)
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1)", r"randn|N\(0, ?1\)|normal|uniform"),
}
JUDGEMENT = {
    "optimizers": "off-spec: lr and betas written in as numbers, 0.0002 and [0.5, 0.999], the lesson's own values",
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct, off-spec: 3 strided 4x4 convs conv_dim, x2, x4, batch norm on the 2nd and 3rd, "
                     "leaky ReLU 0.2, a linear head on raw logits; Dropout(0.5) after each hidden layer (before "
                     "the head, not on the logit; the module is registered after fc) is accepted",
    "generator": "correct, off-spec: linear to conv_dim*4 x 4x4, two transpose convs with batch norm and ReLU, "
                 "a transpose conv to 3 channels and tanh; Dropout(0.5) after the two hidden layers (registered "
                 "last) is noisy but still trains",
    "weights_init": "mistake: `find('Conv2d') != -1 and find('Linear') != -1` never holds, so every layer "
                    "keeps PyTorch's default init",
    "losses": "correct: BCEWithLogitsLoss on squeezed logits, 0.9 with smooth, 0 for fakes",
    "train_step": "mistake: both z batches from np.random.uniform(-1, 1); order and zero_grads are right; D's "
                  "real loss smoothed, G's not",
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


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    parts = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        parts.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*parts)


class Discriminator(nn.Module):

    def __init__(self, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.conv_1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv_2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv_3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)
        self.dropout = nn.Dropout(p=.5)

    def forward(self, x):
        x = self.dropout(F.leaky_relu(self.conv_1(x), 0.2))
        x = self.dropout(F.leaky_relu(self.conv_2(x), 0.2))
        x = self.dropout(F.leaky_relu(self.conv_3(x), 0.2))
        return self.fc(x.view(-1, self.conv_dim * 4 * 4 * 4))


class Generator(nn.Module):

    def __init__(self, z_size, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.deconv_1 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.deconv_2 = deconv(conv_dim * 2, conv_dim, 4)
        self.deconv_3 = deconv(conv_dim, 3, 4, batch_norm=False)
        self.dropout = nn.Dropout(p=.5)

    def forward(self, x):
        x = self.fc(x).view(-1, self.conv_dim * 4, 4, 4)
        x = self.dropout(F.relu(self.deconv_1(x)))
        x = self.dropout(F.relu(self.deconv_2(x)))
        return torch.tanh(self.deconv_3(x))


def weights_init_normal(m):
    name = m.__class__.__name__
    if name.find('Conv2d') != -1 and name.find('Linear') != -1:
        m.weight.data.normal_(0, 0.02)
        m.bias.data.fill_(0)


def real_loss(D_out, smooth=False):
    n = D_out.size(0)
    labels = torch.ones(n) * .9 if smooth else torch.ones(n)
    if train_on_gpu:
        labels = labels.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), labels)


def fake_loss(D_out):
    labels = torch.zeros(D_out.size(0))
    if train_on_gpu:
        labels = labels.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), labels)


def make_optimizers(D, G, lr, betas):
    # the learner's cell had its numbers written in
    d_optimizer = optim.Adam(D.parameters(), lr=0.0002, betas=[0.5, 0.999])
    g_optimizer = optim.Adam(G.parameters(), lr=0.0002, betas=[0.5, 0.999])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)
    if train_on_gpu:
        real_images = real_images.cuda()

    d_optimizer.zero_grad()
    D_real = D(real_images)
    d_real_loss = real_loss(D_real, smooth=smooth)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    D_fake = D(G(z))
    d_loss = d_real_loss + fake_loss(D_fake)
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)))
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(D_real).mean(), torch.sigmoid(D_fake).mean()
