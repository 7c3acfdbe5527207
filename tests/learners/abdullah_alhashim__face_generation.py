"""abdullah-alhashim/face_generation at 0170cef1a7c374aff82e9960cc78d03dee5c91fa: dlnd_face_generation.ipynb (the
Udacity face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the `fixed_z` their loop feeds G, drawn once before the loop in
their train() (16 rows of np.random.uniform(-1, 1)), is drawn once here too, on the first step, and kept
for every later step; the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`, `beta1`, `beta2`
variables taken from the arguments (passed to Adam as a list); `scale(real_images)` removed from the loop;
nothing else. real_loss keeps its one parameter (no `smooth`).
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np

SOURCE = ("https://github.com/abdullah-alhashim/face_generation/blob/0170cef1a7c374aff82e9960cc78d03dee5c91fa/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": ("class name compared with == 'Conv': no convolution is initialised", r"conv"),
    "losses": ("real_loss has no smooth parameter (labels always 1)", r"smooth"),
    "optimizers": "pass",
    "train_step": ("G fed the same 16 fixed uniform z every step instead of fresh N(0, 1) z for the batch",
                   r"fresh|fixed|same|reus|uniform|randn|N\(0, ?1\)"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct: three stride-2 convolutions (4, 2, 1), conv_dim x1, x2, x4, batch norm on all but "
                     "the first, leaky ReLU 0.2, linear head on the whole 4x4 map",
    "generator": "correct: linear to conv_dim*4 x 4x4, three transpose convolutions (4, 2, 1), batch norm and "
                 "ReLU on the hidden two, tanh at the end",
    "weights_init": "mistake: `classname == 'Conv' or classname == 'Linear'`: only nn.Linear matches exactly, so "
                    "Conv2d and ConvTranspose2d keep PyTorch's default initialisation",
    "losses": "mistake: real_loss(D_out) without smooth, labels always 1; BCEWithLogits on squeezed logits, "
              "fake_loss correct",
    "optimizers": "correct: one Adam per network with the given lr and betas (their own lr was 0.00035)",
    "train_step": "mistake: both updates use G(fixed_z), the 16 uniform vectors drawn once for the progress "
                  "samples, so G only ever learns 16 points of a uniform cube and the lesson samples N(0, 1); "
                  "real_loss without smoothing ignores `smooth`. Fakes not detached, but G's gradients are "
                  "zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()
sample_size = 16
_fixed = {}  # z_size -> the fixed_z their train() drew once before its loop


def scale(x, feature_range=(-1, 1)):
    lo, hi = feature_range
    return x * (hi - lo) + lo


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)

    def forward(self, x):
        out = F.leaky_relu(self.conv1(x), 0.2)
        out = F.leaky_relu(self.conv2(out), 0.2)
        out = F.leaky_relu(self.conv3(out), 0.2)
        out = out.view(-1, self.conv_dim * 4 * 4 * 4)
        return self.fc(out)


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    layers = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.t_conv1 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.t_conv2 = deconv(conv_dim * 2, conv_dim, 4)
        self.t_conv3 = deconv(conv_dim, 3, 4, batch_norm=False)

    def forward(self, x):
        out = self.fc(x).view(-1, self.conv_dim * 4, 4, 4)
        out = F.relu(self.t_conv1(out))
        out = F.relu(self.t_conv2(out))
        return F.tanh(self.t_conv3(out))


def weights_init_normal(m):
    classname = m.__class__.__name__
    if (classname == 'Conv') or (classname == 'Linear'):
        nn.init.normal_(m.weight.data, mean=0, std=0.02)


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
    if z_size not in _fixed:
        z0 = torch.from_numpy(np.random.uniform(-1, 1, size=(sample_size, z_size))).float()
        _fixed[z_size] = z0.cuda() if train_on_gpu else z0
    fixed_z = _fixed[z_size]
    batch_size = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    scored_real = D(real_images)
    d_real_loss = real_loss(scored_real)
    scored_fake = D(G(fixed_z))
    d_fake_loss = fake_loss(scored_fake)
    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    g_loss = real_loss(D(G(fixed_z)))
    g_loss.backward()
    g_optimizer.step()

    return (d_loss.detach(), g_loss.detach(),
            torch.sigmoid(scored_real).mean().detach(), torch.sigmoid(scored_fake).mean().detach())
