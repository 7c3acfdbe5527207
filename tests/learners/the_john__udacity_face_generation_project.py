"""the-john/Udacity_Face_Generation_Project at e83365b0ee5c2c0839a0d06961f8f84cd72b4609: dlnd_face_generation.ipynb
(the Udacity face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), where the
learner wrote the numbers 0.0002 and (0.5, 0.999) literally, so they stay literal; `scale(real_images)`
removed from the loop; nothing else. real_loss keeps its one parameter (no `smooth`).
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np

SOURCE = ("https://github.com/the-john/Udacity_Face_Generation_Project/blob/"
          "e83365b0ee5c2c0839a0d06961f8f84cd72b4609/dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": "pass",
    "generator": "pass",
    "weights_init": ("weights from N(0, 0.2): ten times the DCGAN std", r"0\.02|std"),
    "losses": ("real_loss has no smooth parameter and always aims at 0.9", r"smooth"),
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); G's target smoothed to 0.9 too",
                   r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "correct: x * (max - min) + min",
    "discriminator": "correct: four stride-2 convolutions (4, 2, 1) to 2x2, conv_dim x1, x2, x4, x8, batch norm "
                     "after all but the first, leaky ReLU 0.2, a linear head; the view(-1, conv_dim*8*2*2) "
                     "flattens the whole map, so any batch size works",
    "generator": "correct: linear to conv_dim*8 x 2x2, four transpose convolutions (4, 2, 1) halving the "
                 "channels, batch norm and ReLU on the hidden ones, tanh at the end",
    "weights_init": "mistake: Conv/ConvTranspose/Linear weights from normal_(0.0, 0.2) (biases zeroed); std 0.2 "
                    "where the lesson asks 0.02",
    "losses": "mistake: real_loss(D_out) only, labels always 0.9 (the smooth branch commented out); BCEWithLogits "
              "otherwise right, fake_loss correct",
    "optimizers": "off-spec: literal lr 0.0002 and betas (0.5, 0.999), the very values the lesson passes, "
                  "one Adam per network",
    "train_step": "mistake: np.random.uniform(-1, 1) noise for both updates; real_loss always smooths, so G "
                  "chases 0.9 as well and `smooth` is ignored. Fakes not detached, but G's gradients are "
                  "zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    lo, hi = feature_range
    return x * (hi - lo) + lo


def conv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    stack = [nn.Conv2d(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size,
                       stride=stride, padding=padding, bias=False)]
    if batch_norm:
        stack.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*stack)


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.conv1 = conv(3, conv_dim, 4, batch_norm=False)
        self.conv2 = conv(conv_dim, conv_dim * 2, 4)
        self.conv3 = conv(conv_dim * 2, conv_dim * 4, 4)
        self.conv4 = conv(conv_dim * 4, conv_dim * 8, 4)
        self.fc = nn.Linear(conv_dim * 8 * 2 * 2, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        h = F.leaky_relu(self.conv3(h), 0.2)
        h = F.leaky_relu(self.conv4(h), 0.2)
        h = h.view(-1, self.conv_dim * 8 * 2 * 2)
        return self.fc(h)


def deconv(in_channels, out_channels, kernel_size, stride=2, padding=1, batch_norm=True):
    stack = [nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        stack.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*stack)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 8 * 2 * 2)
        self.t_conv1 = deconv(conv_dim * 8, conv_dim * 4, 4)
        self.t_conv2 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.t_conv3 = deconv(conv_dim * 2, conv_dim, 4)
        self.t_conv4 = deconv(conv_dim, 3, 4, batch_norm=False)

    def forward(self, x):
        h = self.fc(x).view(-1, self.conv_dim * 8, 2, 2)
        h = F.relu(self.t_conv1(h))
        h = F.relu(self.t_conv2(h))
        h = F.relu(self.t_conv3(h))
        return F.tanh(self.t_conv4(h))


def weights_init_normal(m):
    name = m.__class__.__name__
    if hasattr(m, 'weight') and (name.find('Conv') != -1 or name.find('Linear') != -1):
        m.weight.data.normal_(0.0, 0.2)
        if hasattr(m, 'bias') and m.bias is not None:
            m.bias.data.zero_()


def real_loss(D_out):
    n = D_out.size(0)
    labels = torch.ones(n) * 0.9   # smoothing always on
    if train_on_gpu:
        labels = labels.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), labels)


def fake_loss(D_out):
    labels = torch.zeros(D_out.size(0))
    if train_on_gpu:
        labels = labels.cuda()
    return nn.BCEWithLogitsLoss()(D_out.squeeze(), labels)


def make_optimizers(D, G, lr, betas):
    d_optimizer = optim.Adam(D.parameters(), lr=0.0002, betas=(0.5, 0.999))
    g_optimizer = optim.Adam(G.parameters(), lr=0.0002, betas=(0.5, 0.999))
    return d_optimizer, g_optimizer


def _uniform_z(batch_size, z_size):
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    return z.cuda() if train_on_gpu else z


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)

    d_optimizer.zero_grad()
    if train_on_gpu:
        real_images = real_images.cuda()
    scores_real = D(real_images)
    d_real_loss = real_loss(scores_real)
    scores_fake = D(G(_uniform_z(batch_size, z_size)))
    d_fake_loss = fake_loss(scores_fake)
    d_loss = d_real_loss + d_fake_loss
    d_loss.backward()
    d_optimizer.step()

    g_optimizer.zero_grad()
    g_loss = real_loss(D(G(_uniform_z(batch_size, z_size))))  # flipped labels through real_loss
    g_loss.backward()
    g_optimizer.step()

    return (d_loss.detach(), g_loss.detach(),
            torch.sigmoid(scores_real).mean().detach(), torch.sigmoid(scores_fake).mean().detach())
