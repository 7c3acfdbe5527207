"""AMuntzinger/DCGAN_face_generation at ffab9a8a89d83b4205391ab2098d340015b5933b: dlnd_face_generation.ipynb (the
Udacity face generation project).

Adapted: the training loop's body as train_step (its return line added from the learner's own D outputs);
the optimizer cell as make_optimizers(D, G, lr, betas), their lr, beta1, beta2 taken from the arguments;
`scale(real_images)` removed from the loop; nothing else. `smooth` is not used: their real_loss has no such
parameter (it always smooths).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOURCE = ("https://github.com/AMuntzinger/DCGAN_face_generation/blob/ffab9a8a89d83b4205391ab2098d340015b5933b/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": ("the class-name test misses Conv2d and ConvTranspose2d: only Linear is initialised",
                     r"conv"),
    "losses": ("real_loss has no smooth parameter: its labels are always 0.9", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1)", r"randn|N\(0, ?1\)|normal|uniform"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct: 4 strided 4x4 convs conv_dim..x8, batch norm on all but the first, leaky ReLU "
                     "0.2, a linear head on raw logits",
    "generator": "correct, off-spec: linear to conv_dim*8 x 2x2, three transpose convs with batch norm halving "
                 "the channels, a last transpose conv to 3 channels and F.tanh; the hidden activations are "
                 "leaky ReLU 0.2 instead of ReLU, which still trains",
    "weights_init": "mistake: `classname == 'Conv'` never matches Conv2d or ConvTranspose2d, so only the Linear "
                    "layers get N(0, 0.02)",
    "losses": "mistake: BCEWithLogitsLoss on squeezed logits, but real_loss(D_out) takes no smooth argument "
              "and always uses 0.9",
    "optimizers": "correct: one Adam per network with the lr and betas passed in (their own were 1e-4, 0.1)",
    "train_step": "mistake: both z batches from np.random.uniform(-1, 1); G's real_loss is smoothed too (their "
                  "real_loss always is); order and zero_grads are right",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    smallest, largest = feature_range
    return x * (largest - smallest) + smallest


def conv(c_in, c_out, kernel_size, stride=2, padding=1, batch_norm=True):
    modules = [nn.Conv2d(c_in, c_out, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        modules.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*modules)


def deconv(c_in, c_out, kernel_size, stride=2, padding=1, batch_norm=True):
    modules = [nn.ConvTranspose2d(c_in, c_out, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        modules.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*modules)


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
        out = F.leaky_relu(self.conv1(x), 0.2)
        out = F.leaky_relu(self.conv2(out), 0.2)
        out = F.leaky_relu(self.conv3(out), 0.2)
        out = F.leaky_relu(self.conv4(out), 0.2)
        return self.fc(out.view(-1, self.conv_dim * 8 * 2 * 2))


class Generator(nn.Module):

    def __init__(self, z_size, conv_dim):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 8 * 2 * 2)
        self.t_conv1 = deconv(conv_dim * 8, conv_dim * 4, 4)
        self.t_conv2 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.t_conv3 = deconv(conv_dim * 2, conv_dim, 4)
        self.t_conv4 = deconv(conv_dim, 3, 4, batch_norm=False)

    def forward(self, x):
        out = self.fc(x).view(-1, self.conv_dim * 8, 2, 2)
        out = F.leaky_relu(self.t_conv1(out), 0.2)
        out = F.leaky_relu(self.t_conv2(out), 0.2)
        out = F.leaky_relu(self.t_conv3(out), 0.2)
        return F.tanh(self.t_conv4(out))


def weights_init_normal(m):
    layer_type = m.__class__.__name__
    if layer_type == 'Conv' or layer_type == 'Linear':
        nn.init.normal_(m.weight.data, mean=0, std=0.02)


def real_loss(D_out):
    labels = torch.ones(D_out.size(0)) * 0.9   # smoothed, always
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
    count = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    on_real = D(real_images)
    d_real_loss = real_loss(on_real)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(count, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    on_fake = D(G(z))
    d_loss = d_real_loss + fake_loss(on_fake)
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(count, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)))
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(on_real).mean(), torch.sigmoid(on_fake).mean()
