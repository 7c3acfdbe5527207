"""AkshatYadav0/Face_generation_GAN at d1fe7f896472e0ca89ed21decb75dfc3dc6044fc: dlnd_face_generation.ipynb (the
Udacity face generation project).

Adapted: the training loop's body as train_step (its return line added from the learner's own D outputs);
the optimizer cell as make_optimizers(D, G, lr, betas), their lr, beta1, beta2 taken from the arguments;
`scale(real_images)` removed from the loop; their module-level `criterion` kept at module level; nothing
else. `smooth` is not used: their real_loss has no such parameter (it always smooths).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = ("https://github.com/AkshatYadav0/Face_generation_GAN/blob/d1fe7f896472e0ca89ed21decb75dfc3dc6044fc/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": ("subtracts max instead of adding min: right only for symmetric ranges like (-1, 1)",
              r"feature.?range|range"),
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("real_loss has no smooth parameter: its labels are always 0.9", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1)", r"randn|N\(0, ?1\)|normal|uniform"),
}
JUDGEMENT = {
    "scale": "mistake: x * (max - min) - max equals min + x * (max - min) only when min == -max; (0, 1) gives "
             "[-1, 0]",
    "discriminator": "correct, off-spec: a 3x3 stride-1 conv first (no batch norm), then 4 strided 4x4 convs "
                     "(32 -> 2) with batch norm, channels conv_dim..x16, leaky ReLU with slopes 0.2, 0.2, 0.23, "
                     "0.25, 0.3 (about 0.2), a linear head on raw logits",
    "generator": "correct, off-spec: linear to conv_dim*16 x 2x2 (more than x8), four transpose convs with "
                 "batch norm and ReLU to 32x32, a 3x3 stride-1 transpose conv to 3 channels and tanh",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02); biases and batch norm left as PyTorch made "
                    "them",
    "losses": "mistake: BCEWithLogitsLoss on squeezed logits, but real_loss(D_out) takes no smooth argument and "
              "always uses 0.9",
    "optimizers": "correct: one Adam per network with the lr and betas passed in (their own beta2 was 0.9)",
    "train_step": "mistake: both z batches from np.random.uniform(-1, 1); G's target is 0.9 too (their "
                  "real_loss always smooths); order and zero_grads are right",
}

train_on_gpu = torch.cuda.is_available()
criterion = nn.BCEWithLogitsLoss()


def scale(x, feature_range=(-1, 1)):
    lo, hi = feature_range
    return (x * (hi - lo)) - hi


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    pieces = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        pieces.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*pieces)


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    pieces = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        pieces.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*pieces)


class Discriminator(nn.Module):

    def __init__(self, conv_dim):
        super().__init__()
        self.cd = conv_dim
        self.c1 = conv(3, conv_dim, 3, stride=1, padding=1, batch_norm=False)   # 32x32
        self.c2 = conv(conv_dim, conv_dim * 2, 4)                               # 16x16
        self.c3 = conv(conv_dim * 2, conv_dim * 4, 4)                           # 8x8
        self.c4 = conv(conv_dim * 4, conv_dim * 8, 4)                           # 4x4
        self.c5 = conv(conv_dim * 8, conv_dim * 16, 4)                          # 2x2
        self.l1 = nn.Linear(conv_dim * 16 * 2 * 2, 1)

    def forward(self, x):
        x = F.leaky_relu(self.c1(x), 0.2)
        x = F.leaky_relu(self.c2(x), 0.2)
        x = F.leaky_relu(self.c3(x), 0.23)
        x = F.leaky_relu(self.c4(x), 0.25)
        x = F.leaky_relu(self.c5(x), 0.3)
        x = x.view(-1, self.cd * 16 * 2 * 2)
        return self.l1(x)


class Generator(nn.Module):

    def __init__(self, z_size, conv_dim):
        super().__init__()
        self.cd = conv_dim
        self.l1 = nn.Linear(z_size, conv_dim * 16 * 2 * 2)
        self.t_c1 = deconv(conv_dim * 16, conv_dim * 8, 4)                          # 4x4
        self.t_c2 = deconv(conv_dim * 8, conv_dim * 4, 4)                           # 8x8
        self.t_c3 = deconv(conv_dim * 4, conv_dim * 2, 4)                           # 16x16
        self.t_c4 = deconv(conv_dim * 2, conv_dim, 4)                               # 32x32
        self.t_c5 = deconv(conv_dim, 3, 3, stride=1, padding=1, batch_norm=False)   # 32x32
        self.th = nn.Tanh()

    def forward(self, x):
        x = self.l1(x).view(-1, self.cd * 16, 2, 2)
        x = F.relu(self.t_c1(x))
        x = F.relu(self.t_c2(x))
        x = F.relu(self.t_c3(x))
        x = F.relu(self.t_c4(x))
        return self.th(self.t_c5(x))


def weights_init_normal(m):
    kind = m.__class__.__name__
    if kind.find('Conv') != -1 or kind.find('Linear') != -1:
        m.weight.data.normal_(0, 0.02)


def real_loss(D_out):
    labels = torch.ones(D_out.size(0)) * 0.9
    if train_on_gpu:
        labels = labels.cuda()
    return criterion(D_out.squeeze(), labels)


def fake_loss(D_out):
    labels = torch.zeros(D_out.size(0))
    if train_on_gpu:
        labels = labels.cuda()
    return criterion(D_out.squeeze(), labels)


def make_optimizers(D, G, lr, betas):
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr, [beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr, [beta1, beta2])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    bs = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    d_real = D(real_images)
    d_real_loss = real_loss(d_real)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(bs, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    d_fake = D(G(z))
    d_fake_loss = fake_loss(d_fake)
    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(bs, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)))
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()
