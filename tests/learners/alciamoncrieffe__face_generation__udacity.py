"""alciamoncrieffe/Face_Generation--Udacity at 50589d347cc329224ce47aef08ae7e80b3d26295: dlnd_face_generation.ipynb
(the Udacity face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`,
`beta1`, `beta2` variables taken from the arguments (passed to Adam as a list); `scale(real_images)` removed
from the loop; nothing else. real_loss keeps its one parameter (no `smooth`).
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np

SOURCE = ("https://github.com/alciamoncrieffe/Face_Generation--Udacity/blob/"
          "50589d347cc329224ce47aef08ae7e80b3d26295/dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": ("batch norm weights drawn from N(0, 0.02) instead of around 1", r"batch ?norm|N\(1|around 1"),
    "losses": ("real_loss has no smooth parameter and always aims at 0.9", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); G's target smoothed to 0.9 too",
                   r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "off-spec: x * (max(range) - min(range)) + min(range) with Python's max/min of the tuple; the same "
             "as the spec for any increasing range",
    "discriminator": "off-spec: four stride-2 convolutions (4, 2, 1) to 2x2 with conv_dim x1, x4, x8, x16 (skips "
                     "x2 but grows with conv_dim), batch norm on all but the first, nn.LeakyReLU(0.2), linear "
                     "head on the whole 2x2 map",
    "generator": "off-spec: linear to conv_dim*16 x 2x2, transpose convolutions (4, 2, 1) x16 -> x16 -> x8 -> x4 "
                 "-> 3 channels (starts at x16, not halving at first), batch norm on the hidden ones, "
                 "nn.ReLU(0.2) (0.2 lands on `inplace`: a plain in-place ReLU), tanh at the end; trains",
    "weights_init": "mistake: Conv*/Linear weights N(0, 0.02) and biases 0, but the same normal_(0.0, 0.02) is "
                    "applied to BatchNorm2d weights, scaling every batch norm output to about 0",
    "losses": "mistake: real_loss(D_out) only, labels always 0.9; BCEWithLogits on squeezed logits otherwise; "
              "fake_loss correct",
    "optimizers": "correct: one Adam per network with the given lr and betas (as a list)",
    "train_step": "mistake: np.random.uniform(-1, 1) noise for both updates; real_loss always smooths, so G aims "
                  "at 0.9 and `smooth` is ignored. Fakes not detached, but G's gradients are zeroed before "
                  "its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    return x * (max(feature_range) - min(feature_range)) + min(feature_range)


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    block = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        block.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*block)


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        self.convdim = conv_dim
        self.conv1 = conv(3, conv_dim, kernel_size=4, batch_norm=False)      # 16x16
        self.conv2 = conv(conv_dim, conv_dim * 4, kernel_size=4)             # 8x8
        self.conv3 = conv(conv_dim * 4, conv_dim * 8, kernel_size=4)         # 4x4
        self.conv4 = conv(conv_dim * 8, conv_dim * 16, kernel_size=4)        # 2x2
        self.lRU = nn.LeakyReLU(0.2)
        self.fc = nn.Linear(conv_dim * 16 * 2 * 2, 1)

    def forward(self, x):
        x = self.lRU(self.conv1(x))
        x = self.lRU(self.conv2(x))
        x = self.lRU(self.conv3(x))
        x = self.lRU(self.conv4(x))
        return self.fc(x.view(-1, self.convdim * 16 * 2 * 2))


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    block = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        block.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*block)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.convdim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 16 * 2 * 2)
        self.conv1 = deconv(conv_dim * 16, conv_dim * 16, kernel_size=4)    # 4x4
        self.conv2 = deconv(conv_dim * 16, conv_dim * 8, kernel_size=4)     # 8x8
        self.conv3 = deconv(conv_dim * 8, conv_dim * 4, kernel_size=4)      # 16x16
        self.reLU = nn.ReLU(0.2)   # as written: the 0.2 is taken as inplace=True
        self.conv4 = deconv(conv_dim * 4, 3, kernel_size=4, batch_norm=False)  # 32x32

    def forward(self, x):
        x = self.fc(x).view(-1, self.convdim * 16, 2, 2)
        x = self.reLU(self.conv1(x))
        x = self.reLU(self.conv2(x))
        x = self.reLU(self.conv3(x))
        return F.tanh(self.conv4(x))


def weights_init_normal(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1 or classname.find('Linear') != -1 or classname.find('BatchNorm2d') != -1:
        m.weight.data.normal_(0.0, 0.02)
        if hasattr(m, 'bias') and m.bias is not None:
            m.bias.data.fill_(0)


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
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr, [beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr, [beta1, beta2])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    d_on_real = D(real_images)
    d_real_loss = real_loss(d_on_real)

    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    d_on_fake = D(G(z))
    d_fake_loss = fake_loss(d_on_fake)
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
            torch.sigmoid(d_on_real).mean().detach(), torch.sigmoid(d_on_fake).mean().detach())
