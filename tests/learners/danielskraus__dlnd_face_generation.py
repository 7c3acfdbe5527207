"""DanielsKraus/dlnd_face_generation at 28a0bb1a45cd2ac861dc6f2e346c0c1794f43f4d: dlnd_face_generation.ipynb (the
Udacity face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`,
`beta1`, `beta2` variables taken from the arguments (passed to Adam as a list, as they wrote);
`scale(real_images)` removed from the loop; nothing else. real_loss keeps its one parameter (no `smooth`).
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np

SOURCE = ("https://github.com/DanielsKraus/dlnd_face_generation/blob/28a0bb1a45cd2ac861dc6f2e346c0c1794f43f4d/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("real_loss has no smooth parameter (labels always 1)", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); smooth never reaches D's real loss",
                   r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct: three stride-2 convolutions (4, 2, 1), conv_dim x1, x2, x4, batch norm on all but "
                     "the first, leaky ReLU 0.2, view(-1, 4*4*4*conv_dim) of the whole 4x4 map, linear head",
    "generator": "correct: linear to conv_dim*4 x 4x4, three transpose convolutions (4, 2, 1), batch norm and "
                 "ReLU on the hidden two, tanh on the output",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02), their biases 0, batch norm left as made",
    "losses": "mistake: real_loss(D_out) without smooth, labels always 1 (BCEWithLogits on squeezed logits); "
              "fake_loss correct",
    "optimizers": "correct: one Adam per network with the given lr and betas (as a list)",
    "train_step": "mistake: np.random.uniform(-1, 1) noise for both updates, so G never learns the N(0, 1) it is "
                  "sampled from; real_loss is called without smoothing, so `smooth` is ignored. Order, "
                  "zero_grad and G's non-saturating loss are right; fakes not detached but G's gradients are "
                  "zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    a, b = feature_range
    return x * (b - a) + a


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    mods = [nn.Conv2d(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                      stride=stride, padding=padding, bias=False)]
    if batch_norm:
        mods.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*mods)


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.conv2(x), 0.2)
        x = F.leaky_relu(self.conv3(x), 0.2)
        return self.fc(x.view(-1, 4 * 4 * 4 * self.conv_dim))


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    mods = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        mods.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*mods)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.t_conv1 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.t_conv2 = deconv(conv_dim * 2, conv_dim, 4)
        self.t_conv3 = deconv(conv_dim, 3, 4, batch_norm=False)

    def forward(self, x):
        x = self.fc(x).view(-1, self.conv_dim * 4, 4, 4)
        x = F.relu(self.t_conv1(x))
        x = F.relu(self.t_conv2(x))
        return torch.tanh(self.t_conv3(x))


def weights_init_normal(m):
    kind = m.__class__.__name__
    if hasattr(m, 'weight') and (kind.find('Conv') != -1 or kind.find('Linear') != -1):
        nn.init.normal_(m.weight.data, mean=0, std=0.02)
        if hasattr(m, 'bias') and m.bias is not None:
            nn.init.constant_(m.bias.data, 0.0)


def real_loss(D_out):
    labels = torch.ones(D_out.size(0))
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

    # D: real batch, then a batch of fakes
    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    real_logits = D(real_images)
    d_real_loss = real_loss(real_logits)

    z = np.random.uniform(-1, 1, size=(batch_size, z_size))
    z = torch.from_numpy(z).float()
    if train_on_gpu:
        z = z.cuda()
    fake_logits = D(G(z))
    d_fake_loss = fake_loss(fake_logits)

    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    # G: new fakes, scored as real
    g_optimizer.zero_grad()
    z = np.random.uniform(-1, 1, size=(batch_size, z_size))
    z = torch.from_numpy(z).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)))
    g_loss.backward()
    g_optimizer.step()

    return (d_loss.detach(), g_loss.detach(),
            torch.sigmoid(real_logits).mean().detach(), torch.sigmoid(fake_logits).mean().detach())
