"""bkocis/DLND_Pr_5_Face_Generation at e54a65f5527ced9c80344207864de782e332e99c: dlnd_face_generation.ipynb (the
Udacity face generation project; the submitted answer cells, not the experiment cells at the notebook's end,
and the last commit whose notebook could be read).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`,
`b1`, `b2` variables taken from the arguments (passed to Adam as a list); `scale(real_images)` removed from
the loop; nothing else. real_loss keeps its one parameter (no `smooth`); the loop's unconditional
`.cuda()` on the real images is kept.
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np
from torch.nn import init

SOURCE = ("https://github.com/bkocis/DLND_Pr_5_Face_Generation/blob/e54a65f5527ced9c80344207864de782e332e99c/"
          "dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": ("x * (max - min) - max: right only for a range symmetric about 0", r"feature_range|range"),
    "discriminator": ("F.leaky_relu with its default slope 0.01, not 0.2", r"0\.2|slope"),
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("least squares against 0.9 and 0 instead of BCE on the logits, and no smooth parameter",
               r"least.squares|squared|MSE|BCE|cross.entropy|smooth"),
    "optimizers": "pass",
    "train_step": ("real images sent to .cuda() whatever the device (fails without CUDA); z uniform, not N(0, 1)",
                   r"cuda|device|uniform|randn|N\(0, ?1\)"),
}
JUDGEMENT = {
    "scale": "mistake: subtracts max instead of adding min; gives [-1, 1] for the default (-1, 1) but, e.g., "
             "[-1, 0] for (0, 1)",
    "discriminator": "mistake: three stride-2 convolutions (4, 2, 1), conv_dim x1, x2, x4, batch norm on the last "
                     "two, linear head on the whole 4x4 map; but F.leaky_relu without a slope, i.e. 0.01",
    "generator": "correct: linear to conv_dim*4 x 4x4, three transpose convolutions (4, 2, 1), batch norm and "
                 "ReLU on the hidden two, tanh on the bias-free output layer",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02); the Linear biases and batch norm left as "
                    "PyTorch made them (the convolutions have no bias)",
    "losses": "mistake: real_loss = mean((D_out - 0.9)^2), fake_loss = mean(D_out^2): a least-squares GAN loss "
              "on raw logits with the 0.9 always on, and real_loss takes no smooth",
    "optimizers": "correct: one Adam per network with the given lr and betas (as a list)",
    "train_step": "mistake: D(real_images.cuda()) with no device check, so it cannot run on a machine without "
                  "CUDA (the lesson's laptop recipe); both z from np.random.uniform(-1, 1). Fakes not "
                  "detached, but G's gradients are zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    min_v, max_v = feature_range
    return x * (max_v - min_v) - max_v


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        k, s, p = 4, 2, 1
        self.conv_dim = conv_dim
        self.conv1 = nn.Sequential(nn.Conv2d(3, conv_dim, k, s, p, bias=False))
        self.conv2 = nn.Sequential(nn.Conv2d(conv_dim, conv_dim * 2, k, s, p, bias=False),
                                   nn.BatchNorm2d(conv_dim * 2))
        self.conv3 = nn.Sequential(nn.Conv2d(conv_dim * 2, conv_dim * 4, k, s, p, bias=False),
                                   nn.BatchNorm2d(conv_dim * 4))
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x))
        x = F.leaky_relu(self.conv2(x))
        x = F.leaky_relu(self.conv3(x))
        x = x.view(-1, self.conv_dim * 4 * 4 * 4)
        return self.fc(x)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        k, s, p = 4, 2, 1
        self.z_size = z_size
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.deconv1 = nn.Sequential(nn.ConvTranspose2d(conv_dim * 4, conv_dim * 2, k, s, p, bias=False),
                                     nn.BatchNorm2d(conv_dim * 2))
        self.deconv2 = nn.Sequential(nn.ConvTranspose2d(conv_dim * 2, conv_dim, k, s, p, bias=False),
                                     nn.BatchNorm2d(conv_dim))
        self.deconv3 = nn.Sequential(nn.ConvTranspose2d(conv_dim, 3, k, s, p, bias=False))

    def forward(self, x):
        x = self.fc(x).view(-1, self.conv_dim * 4, 4, 4)
        x = F.relu(self.deconv1(x))
        x = F.relu(self.deconv2(x))
        return F.tanh(self.deconv3(x))


def weights_init_normal(m):
    classname = m.__class__.__name__
    if hasattr(m, 'weight'):
        if classname.find('Conv') != -1 or classname.find('Linear') != -1:
            init.normal_(m.weight.data, 0.0, 0.02)


def real_loss(D_out):
    return torch.mean((D_out - 0.9) ** 2)


def fake_loss(D_out):
    return torch.mean(D_out ** 2)


def make_optimizers(D, G, lr, betas):
    b1, b2 = betas
    return optim.Adam(D.parameters(), lr, [b1, b2]), optim.Adam(G.parameters(), lr, [b1, b2])


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)

    d_optimizer.zero_grad()
    on_real = D(real_images.cuda())
    d_loss_real = real_loss(on_real)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    on_fake = D(G(z))
    d_loss_fake = fake_loss(on_fake)
    d_loss = d_loss_real + d_loss_fake
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
            torch.sigmoid(on_real).mean().detach(), torch.sigmoid(on_fake).mean().detach())
