"""AlahmadiAmal/Face-Generation at 4c4cf8c28d87e4bd8d3942a5deeb38514d3b062b: dlnd_face_generation.ipynb (the
Udacity face generation project).

Adapted: the training loop's body as train_step (its return line added from the learner's own D outputs);
the optimizer cell as make_optimizers(D, G, lr, betas), where the numbers they wrote (0.001, [0.1, 0.999])
stay written in; `scale(real_images)` removed from the loop; nothing else. `smooth` is not used: their
real_loss has no such parameter (it always smooths).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = ("https://github.com/AlahmadiAmal/Face-Generation/blob/4c4cf8c28d87e4bd8d3942a5deeb38514d3b062b/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("real_loss has no smooth parameter: its labels are always 0.9", r"smooth"),
    "optimizers": ("lr and betas written in (0.001, [0.1, 0.999]), the ones passed in ignored",
                   r"\blr\b|learning.?rate|beta"),
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1)", r"randn|N\(0, ?1\)|normal|uniform"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct: 3 strided 4x4 convs conv_dim, x2, x4, batch norm on the 2nd and 3rd, in-place "
                     "leaky ReLU 0.2 (F.leaky_relu_, harmless here), a linear head on raw logits",
    "generator": "correct: linear to conv_dim*4 x 4x4, two transpose convs with batch norm and ReLU, a last "
                 "transpose conv to 3 channels and tanh",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02), existing biases 0; batch norm left as "
                    "PyTorch made it",
    "losses": "mistake: BCEWithLogitsLoss on squeezed logits, but real_loss(D_out) takes no smooth argument and "
              "always uses 0.9",
    "optimizers": "mistake: one Adam per network, but lr 0.001 and betas [0.1, 0.999] written in instead of the "
                  "lr and betas passed in",
    "train_step": "mistake: both z batches from np.random.uniform(-1, 1); G's target is 0.9 too (their "
                  "real_loss always smooths); order and zero_grads are right",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    range_min, range_max = feature_range
    return x * (range_max - range_min) + range_min


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    seq = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
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
        super().__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(in_channels=3, out_channels=conv_dim, kernel_size=4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.fc = nn.Linear(in_features=conv_dim * 4 * 4 * 4, out_features=1)

    def forward(self, x):
        x = F.leaky_relu_(self.conv1(x), negative_slope=0.2)
        x = F.leaky_relu_(self.conv2(x), 0.2)
        x = F.leaky_relu_(self.conv3(x), 0.2)
        return self.fc(x.view(-1, self.conv_dim * 4 * 4 * 4))


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


def weights_init_normal(m):
    name = m.__class__.__name__
    if name.find('Conv') != -1 or name.find('Linear') != -1:
        nn.init.normal_(m.weight.data, mean=0, std=0.02)
        if hasattr(m, 'bias') and m.bias is not None:
            nn.init.constant_(m.bias.data, 0.0)


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
    # written-in numbers, as in the learner's cell
    d_optimizer = optim.Adam(D.parameters(), 0.001, [0.1, 0.999])
    g_optimizer = optim.Adam(G.parameters(), 0.001, [0.1, 0.999])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    size = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    D_real = D(real_images)
    d_real_loss = real_loss(D_real)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    D_fake = D(G(z))
    d_fake_loss = fake_loss(D_fake)
    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)))
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(D_real).mean(), torch.sigmoid(D_fake).mean()
