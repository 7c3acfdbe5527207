"""HebertoMadrigalSastre/DLND_P4_Face_Generation at db3f01868c666df031a0b00c1dfed6eeecebdc5c:
dlnd_face_generation.ipynb (the Udacity face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`,
`beta1`, `beta2` variables taken from the arguments (passed to Adam as a list); `scale(real_images)` removed
from the loop; nothing else. real_loss keeps its one parameter (no `smooth`).
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np

SOURCE = ("https://github.com/HebertoMadrigalSastre/DLND_P4_Face_Generation/blob/"
          "db3f01868c666df031a0b00c1dfed6eeecebdc5c/dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": ("leaky ReLU slope 0.001, next to a plain ReLU, where DCGAN uses 0.2", r"0\.2|slope"),
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("real_loss has no smooth parameter (labels always 1)", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); smooth never reaches D's real loss",
                   r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "mistake: three stride-2 convolutions (4, 2, 1), conv_dim x1, x2, x4, instance norm (not "
                     "batch norm) on the last two, Dropout2d(0.1) after each, linear head on the whole 4x4 map; "
                     "the leaky ReLU slope is 0.001, practically a ReLU (the spec names even 0.01 a mistake)",
    "generator": "off-spec: linear to conv_dim*8 x 4x4, three transpose convolutions (4, 2, 1) halving the "
                 "channels to 32x32, then a 1x1 stride-1 transpose convolution to 3 channels and tanh; "
                 "InstanceNorm2d instead of batch norm and Dropout2d(0.1) after each ReLU. A different "
                 "normalisation and dropout, but it maps z to 32x32 images through tanh and trains",
    "weights_init": "correct: Conv*/Linear weights from N(0, 0.02), biases 0; the instance norms have no weights",
    "losses": "mistake: real_loss(D_out) without smooth, labels always 1; BCEWithLogits on squeezed logits, "
              "fake_loss correct",
    "optimizers": "correct: one Adam per network with the given lr and betas (their own were 0.0006 and 0.2)",
    "train_step": "mistake: both z from np.random.uniform(-1, 1); real_loss without smoothing, so `smooth` is "
                  "ignored. Fakes not detached, but G's gradients are zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    bottom, top = feature_range
    return x * (top - bottom) + bottom


def ConvLayer(c_in, c_out, kernel, stride=2, padding=1, norm=True, normType='BatchNorm'):
    """Bias-free convolution with an optional normalisation layer (batch or instance)."""
    seq = [nn.Conv2d(in_channels=c_in, out_channels=c_out, kernel_size=kernel, padding=padding,
                     stride=stride, bias=False)]
    if norm:
        if normType == 'BatchNorm':
            seq.append(nn.BatchNorm2d(c_out))
        elif normType == 'InstanceNorm':
            seq.append(nn.InstanceNorm2d(c_out))
    return nn.Sequential(*seq)


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.negative_slope = 0.001
        self.pDrop = 0.1
        self.cnv1 = ConvLayer(3, conv_dim, 4, norm=False)
        self.cnv2 = ConvLayer(conv_dim, conv_dim * 2, 4, normType='InstanceNorm')
        self.cnv3 = ConvLayer(conv_dim * 2, conv_dim * 4, 4, normType='InstanceNorm')
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)
        self.dropout = nn.Dropout2d(self.pDrop)

    def forward(self, x):
        for block in (self.cnv1, self.cnv2, self.cnv3):
            x = self.dropout(F.leaky_relu(block(x), self.negative_slope))
        x = x.view(-1, self.conv_dim * 4 * 4 * 4)
        return self.fc(x)


def DeconvLayer(c_in, c_out, kernel, stride=2, padding=1, norm=True, normType='BatchNorm'):
    """Bias-free transpose convolution with an optional normalisation layer."""
    seq = [nn.ConvTranspose2d(in_channels=c_in, out_channels=c_out, kernel_size=kernel, stride=stride,
                              padding=padding, bias=False)]
    if norm:
        if normType == 'BatchNorm':
            seq.append(nn.BatchNorm2d(c_out))
        elif normType == 'InstanceNorm':
            seq.append(nn.InstanceNorm2d(c_out))
    return nn.Sequential(*seq)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.conv_dim = conv_dim
        self.pDrop = 0.1
        self.fc = nn.Linear(z_size, conv_dim * 8 * 4 * 4)
        self.dropout = nn.Dropout2d(self.pDrop)
        self.dcnv1 = DeconvLayer(conv_dim * 8, conv_dim * 4, 4, normType='InstanceNorm')   # 8x8
        self.dcnv2 = DeconvLayer(conv_dim * 4, conv_dim * 2, 4, normType='InstanceNorm')   # 16x16
        self.dcnv3 = DeconvLayer(conv_dim * 2, conv_dim, 4, normType='InstanceNorm')       # 32x32
        self.dcnv4 = DeconvLayer(conv_dim, 3, 1, stride=1, padding=0, norm=False)          # 32x32, 3 channels

    def forward(self, x):
        x = self.fc(x).view(-1, self.conv_dim * 8, 4, 4)
        for block in (self.dcnv1, self.dcnv2, self.dcnv3):
            x = self.dropout(F.relu(block(x)))
        return F.tanh(self.dcnv4(x))


def weights_init_normal(m):
    classname = m.__class__.__name__
    gain = 0.02
    if hasattr(m, 'weight') and (classname.find('Conv') != -1 or classname.find('Linear') != -1):
        nn.init.normal_(m.weight.data, 0.0, gain)
        if hasattr(m, 'bias') and m.bias is not None:
            nn.init.constant_(m.bias.data, 0.0)


def real_loss(D_out):
    target = torch.ones(D_out.size(0))
    if train_on_gpu:
        target = target.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), target)


def fake_loss(D_out):
    target = torch.zeros(D_out.size(0))
    if train_on_gpu:
        target = target.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), target)


def make_optimizers(D, G, lr, betas):
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr, [beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr, [beta1, beta2])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)

    d_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        real_images = real_images.cuda()
        z = z.cuda()
    fakes = G(z)
    out_real = D(real_images)
    loss_on_real = real_loss(out_real)
    out_fake = D(fakes)
    loss_on_fake = fake_loss(out_fake)
    d_loss = loss_on_real + loss_on_fake
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    fakes = G(z)
    g_loss = real_loss(D(fakes))
    g_loss.backward()
    g_optimizer.step()

    return (d_loss.detach(), g_loss.detach(),
            torch.sigmoid(out_real).mean().detach(), torch.sigmoid(out_fake).mean().detach())
