"""A correct solution of every step, for the made-up cases to change one piece of (not a case itself)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


def scale(x, feature_range=(-1, 1)):
    low, high = feature_range
    return x * (high - low) + low


def conv(c_in, c_out, norm=True):
    """A stride-2 convolution that halves the image, with batch norm unless norm=False."""
    layers = [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not norm)]
    return nn.Sequential(*layers, nn.BatchNorm2d(c_out)) if norm else layers[0]


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, norm=False)           # 16x16
        self.conv2 = conv(conv_dim, conv_dim * 2)            # 8x8
        self.conv3 = conv(conv_dim * 2, conv_dim * 4)        # 4x4
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.conv2(x), 0.2)
        x = F.leaky_relu(self.conv3(x), 0.2)
        return self.fc(x.flatten(1))


def deconv(c_in, c_out, norm=True):
    """A stride-2 transpose convolution that doubles the image, with batch norm unless norm=False."""
    layers = [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=not norm)]
    return nn.Sequential(*layers, nn.BatchNorm2d(c_out)) if norm else layers[0]


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.deconv1 = deconv(conv_dim * 4, conv_dim * 2)     # 8x8
        self.deconv2 = deconv(conv_dim * 2, conv_dim)         # 16x16
        self.deconv3 = deconv(conv_dim, 3, norm=False)        # 32x32

    def forward(self, z):
        x = self.fc(z).view(-1, self.conv_dim * 4, 4, 4)
        x = F.relu(self.deconv1(x))
        x = F.relu(self.deconv2(x))
        return torch.tanh(self.deconv3(x))


def weights_init_normal(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def real_loss(D_out, smooth=False):
    return F.binary_cross_entropy_with_logits(D_out, torch.full_like(D_out, 0.9 if smooth else 1.0))


def fake_loss(D_out):
    return F.binary_cross_entropy_with_logits(D_out, torch.zeros_like(D_out))


def make_optimizers(D, G, lr, betas):
    return optim.Adam(D.parameters(), lr, betas), optim.Adam(G.parameters(), lr, betas)


def sample_z(real_images, z_size):
    return torch.randn(real_images.size(0), z_size, device=real_images.device)


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    d_optimizer.zero_grad()
    d_real = D(real_images)
    fake_images = G(sample_z(real_images, z_size))
    d_fake = D(fake_images.detach())
    d_loss = real_loss(d_real, smooth) + fake_loss(d_fake)
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    g_loss = real_loss(D(fake_images))
    g_loss.backward()
    g_optimizer.step()
    return d_loss.detach(), g_loss.detach(), torch.sigmoid(d_real).mean().detach(), torch.sigmoid(d_fake).mean().detach()
