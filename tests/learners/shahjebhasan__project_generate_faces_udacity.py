"""shahjebhasan/Project-Generate_faces-Udacity at 46b906ade99d85760bee02196686a4c9e2b2978e:
dlnd_face_generation/dlnd_face_generation.ipynb (the Udacity face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`,
`beta1`, `beta2` variables taken from the arguments (passed to Adam as a list); `scale(real_images)` removed
from the loop; nothing else. real_loss keeps its one parameter (no `smooth`).
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np
from torch.nn import init

SOURCE = ("https://github.com/shahjebhasan/Project-Generate_faces-Udacity/blob/"
          "46b906ade99d85760bee02196686a4c9e2b2978e/dlnd_face_generation/dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": ("Dropout(0.5) applied to the logit itself", r"dropout"),
    "generator": ("batch norm on the output layer, just before the tanh", r"batch ?norm"),
    "weights_init": "pass",
    "losses": ("real_loss has no smooth parameter (labels always 1)", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); smooth never reaches D's real loss",
                   r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "mistake: four stride-2 convolutions (4, 2, 1) to 2x2, conv_dim x1, x2, x4, x8, batch norm on "
                     "all but the first, leaky ReLU 0.2, linear head on the whole 2x2 map, then Dropout(0.5) on "
                     "the logit; `self.out = nn.Sigmoid` stores the class, never used",
    "generator": "mistake: linear to conv_dim*8 x 2x2, four transpose convolutions (4, 2, 1) halving the channels, "
                 "ReLU on the hidden ones, tanh at the end, but the last deconv keeps the helper's default "
                 "batch_norm=True, so the image is batch-normalised right before the tanh",
    "weights_init": "correct: Conv*/Linear weights N(0, 0.02), biases 0; BatchNorm2d weights N(1, 0.02), biases 0",
    "losses": "mistake: real_loss(D_out) without smooth, labels always 1; BCEWithLogits on squeezed logits; "
              "fake_loss correct",
    "optimizers": "correct: one Adam per network with the given lr and betas (as a list)",
    "train_step": "mistake: both z from np.random.uniform(-1, 1); real_loss without smoothing, so `smooth` is "
                  "ignored. Fakes not detached, but G's gradients are zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    a, b = feature_range
    return x * (b - a) + a


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    seq = [nn.Conv2d(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                     stride=stride, padding=padding, bias=False)]
    if batch_norm:
        seq.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*seq)


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.conv4 = conv(conv_dim * 4, conv_dim * 8, 4)
        self.fc = nn.Linear(conv_dim * 8 * 2 * 2, 1)
        self.out = nn.Sigmoid            # the class itself, as written; never called
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        for block in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.leaky_relu(block(x), 0.2)
        x = self.fc(x.view(-1, self.conv_dim * 8 * 2 * 2))
        return self.dropout(x)


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    seq = [nn.ConvTranspose2d(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                              stride=stride, padding=padding, bias=False)]
    if batch_norm:
        seq.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*seq)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 8 * 2 * 2)
        self.t_conv1 = deconv(conv_dim * 8, conv_dim * 4, 4)
        self.t_conv2 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.t_conv3 = deconv(conv_dim * 2, conv_dim, 4)
        self.t_conv4 = deconv(conv_dim, 3, 4)   # batch_norm left at its default (True)

    def forward(self, x):
        x = self.fc(x).view(-1, self.conv_dim * 8, 2, 2)
        for block in (self.t_conv1, self.t_conv2, self.t_conv3):
            x = F.relu(block(x))
        return F.tanh(self.t_conv4(x))


def weights_init_normal(m):
    classname = m.__class__.__name__
    if hasattr(m, 'weight') and (classname.find('Conv') != -1 or classname.find('Linear') != -1):
        init.normal_(m.weight.data, 0.0, 0.02)
        if hasattr(m, 'bias') and m.bias is not None:
            init.constant_(m.bias.data, 0.0)
    elif classname.find('BatchNorm2d') != -1:
        init.normal_(m.weight.data, 1.0, 0.02)
        init.constant_(m.bias.data, 0.0)


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

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    D_real = D(real_images)
    d_real_loss = real_loss(D_real)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    D_fake = D(G(z))
    d_fake_loss = fake_loss(D_fake)
    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)))
    g_loss.backward()
    g_optimizer.step()

    return (d_loss.detach(), g_loss.detach(),
            torch.sigmoid(D_real).mean().detach(), torch.sigmoid(D_fake).mean().detach())
