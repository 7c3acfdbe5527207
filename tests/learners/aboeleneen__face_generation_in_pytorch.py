"""Aboeleneen/Face-Generation-in-Pytorch at cfde55190b810b448261ebf24d96a8e4c90a4887: dlnd_face_generation.ipynb
(the Udacity face generation project).

Adapted: the training loop's body as train_step (its return line added from the learner's own D outputs,
with torch.sigmoid as for every case, although this D already ends in a sigmoid); the optimizer cell as
make_optimizers(D, G, lr, betas), their lr, beta1, beta2 taken from the arguments; `scale(real_images)`
removed from the loop; nothing else. Their loop never passes smooth to D's real_loss, so `smooth` is unused;
the `True` they pass for G's real_loss stays as written.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = ("https://github.com/Aboeleneen/Face-Generation-in-Pytorch/blob/cfde55190b810b448261ebf24d96a8e4c90a4887/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": ("a sigmoid after the head (and batch norm on the first conv)",
                      r"sigmoid|batch.?norm"),
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("nn.BCELoss, which wants probabilities, not logits", r"BCEWithLogits|logit|sigmoid|BCELoss"),
    "optimizers": "pass",
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1)", r"randn|N\(0, ?1\)|normal|uniform"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "mistake: 5 strided 4x4 convs (32 -> 1) conv_dim..x16, leaky ReLU 0.2 on the first four, "
                     "but batch norm on the first conv too and F.sigmoid after the linear head, so D returns "
                     "probabilities, not logits",
    "generator": "correct, off-spec: linear to conv_dim x 2x2 (a narrow start), a transpose conv up to "
                 "conv_dim*8, then halving to x4, x2, each with batch norm and ReLU, a last transpose conv to 3 "
                 "channels and F.tanh; it also prints z_size when built",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02), existing biases 0; batch norm left as "
                    "PyTorch made it",
    "losses": "mistake: 0.9 with smooth and 0 for fakes, but with nn.BCELoss, which takes probabilities: on the "
              "lesson's logits it fails or learns the wrong thing",
    "optimizers": "correct: one Adam per network with the lr and betas passed in (their own were 5e-4, 0.1)",
    "train_step": "mistake: both z batches from np.random.uniform(-1, 1); D's real loss never smoothed while "
                  "G's target is smoothed to 0.9; order and zero_grads are right",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    lo, hi = feature_range
    return x * (hi - lo) + lo


class Discriminator(nn.Module):

    def __init__(self, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.conv1 = nn.Conv2d(3, conv_dim, kernel_size=4, stride=2, padding=1, bias=False)
        self.batch_norm1 = nn.BatchNorm2d(conv_dim)
        self.conv2 = nn.Conv2d(conv_dim, conv_dim * 2, kernel_size=4, stride=2, padding=1, bias=False)
        self.batch_norm2 = nn.BatchNorm2d(conv_dim * 2)
        self.conv3 = nn.Conv2d(conv_dim * 2, conv_dim * 4, kernel_size=4, stride=2, padding=1, bias=False)
        self.batch_norm3 = nn.BatchNorm2d(conv_dim * 4)
        self.conv4 = nn.Conv2d(conv_dim * 4, conv_dim * 8, kernel_size=4, stride=2, padding=1, bias=False)
        self.batch_norm4 = nn.BatchNorm2d(conv_dim * 8)
        self.conv5 = nn.Conv2d(conv_dim * 8, conv_dim * 16, kernel_size=4, stride=2, padding=1, bias=False)
        self.fc = nn.Linear(conv_dim * 4 * 4, 1)

    def forward(self, x):
        x = F.leaky_relu(self.batch_norm1(self.conv1(x)), 0.2)
        x = F.leaky_relu(self.batch_norm2(self.conv2(x)), 0.2)
        x = F.leaky_relu(self.batch_norm3(self.conv3(x)), 0.2)
        x = F.leaky_relu(self.batch_norm4(self.conv4(x)), 0.2)
        x = self.conv5(x)                          # conv_dim*16 x 1x1, no activation
        x = x.view(-1, self.conv_dim * 4 * 4)
        return F.sigmoid(self.fc(x))


class Generator(nn.Module):

    def __init__(self, z_size, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.t_conv1 = nn.ConvTranspose2d(conv_dim, conv_dim * 8, kernel_size=4, stride=2, padding=1, bias=False)
        self.batch_norm1 = nn.BatchNorm2d(conv_dim * 8)
        self.t_conv2 = nn.ConvTranspose2d(conv_dim * 8, conv_dim * 4, kernel_size=4, stride=2, padding=1,
                                          bias=False)
        self.batch_norm2 = nn.BatchNorm2d(conv_dim * 4)
        self.t_conv3 = nn.ConvTranspose2d(conv_dim * 4, conv_dim * 2, kernel_size=4, stride=2, padding=1,
                                          bias=False)
        self.batch_norm3 = nn.BatchNorm2d(conv_dim * 2)
        self.t_conv4 = nn.ConvTranspose2d(conv_dim * 2, 3, kernel_size=4, stride=2, padding=1, bias=False)
        self.fc = nn.Linear(z_size, conv_dim * 4)
        print('z_size', z_size)

    def forward(self, x):
        rows = x.shape[0]
        x = self.fc(x).view(rows, self.conv_dim, 2, 2)
        x = F.relu(self.batch_norm1(self.t_conv1(x)))
        x = F.relu(self.batch_norm2(self.t_conv2(x)))
        x = F.relu(self.batch_norm3(self.t_conv3(x)))
        return F.tanh(self.t_conv4(x))


def weights_init_normal(m):
    name = m.__class__.__name__
    if hasattr(m, 'weight') and (name.find('Conv') != -1 or name.find('Linear') != -1):
        nn.init.normal_(m.weight.data, 0.0, 0.02)
        if hasattr(m.bias, 'data'):
            nn.init.constant_(m.bias.data, 0.0)


def real_loss(D_out, smooth=False):
    n = D_out.size(0)
    labels = torch.ones(n) * 0.9 if smooth else torch.ones(n)
    if train_on_gpu:
        labels = labels.cuda()
    return nn.BCELoss()(D_out.squeeze(), labels)


def fake_loss(D_out):
    labels = torch.zeros(D_out.size(0))
    if train_on_gpu:
        labels = labels.cuda()
    return nn.BCELoss()(D_out.squeeze(), labels)


def make_optimizers(D, G, lr, betas):
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr, [beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr, [beta1, beta2])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)
    if train_on_gpu:
        real_images = real_images.cuda()

    d_optimizer.zero_grad()
    D_real = D(real_images)
    d_real_loss = real_loss(D_real)
    z_flex = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z_flex = z_flex.cuda()
    D_fake = D(G(z_flex))
    d_loss = d_real_loss + fake_loss(D_fake)
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z_flex = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z_flex = z_flex.cuda()
    g_loss = real_loss(D(G(z_flex)), True)
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(D_real).mean(), torch.sigmoid(D_fake).mean()
