"""ObinnaIheanachor/Generate-Faces-Project at 4c4ee4e59e7c1178d152cfc2684cf55ed473dfde: dlnd_face_generation.ipynb
(the Udacity face generation project).

Adapted: the training loop's body as train_step (returning the two losses and D's mean probabilities on the
real images and on the D step's fakes); the optimizer cell as make_optimizers(D, G, lr, betas), their `lr`,
`beta1`, `beta2` variables taken from the arguments (passed to Adam as a list); `scale(real_images)` removed
from the loop; nothing else.
"""
import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim, numpy as np
from torch.nn import init

SOURCE = ("https://github.com/ObinnaIheanachor/Generate-Faces-Project/blob/"
          "4c4ee4e59e7c1178d152cfc2684cf55ed473dfde/dlnd_face_generation.ipynb")

VERDICTS = {
    "scale": "pass",
    "discriminator": ("Dropout(0.5) applied to the logit itself", r"dropout"),
    "generator": "pass",
    "weights_init": "pass",
    "losses": "pass",
    "optimizers": "pass",
    "train_step": ("z from np.random.uniform(-1, 1) instead of N(0, 1); D's real loss never gets smooth",
                   r"uniform|randn|N\(0, ?1\)|smooth"),
}
JUDGEMENT = {
    "scale": "correct: x * (range[1] - range[0]) + range[0]",
    "discriminator": "mistake: three stride-2 convolutions (4, 2, 1), conv_dim x1, x2, x4, batch norm on all but "
                     "the first, leaky ReLU 0.2, linear head on the whole 4x4 map, then Dropout(0.5) on the "
                     "output logit (half the logits zeroed, the rest doubled, in training); an unused "
                     "nn.Sigmoid module is registered but never called",
    "generator": "off-spec: linear to conv_dim*4 x 4x4 with Dropout(0.5) on the linear layer's output, then three "
                 "transpose convolutions (4, 2, 1), batch norm and ReLU on the hidden two, tanh at the end; "
                 "dropout in G is not the spec's, but it maps z to 32x32 images and trains",
    "weights_init": "correct: Conv*/Linear weights N(0, 0.02) (biases as made), BatchNorm2d weights N(1, 0.02), "
                    "biases 0",
    "losses": "correct: BCEWithLogitsLoss on the squeezed logits, labels sized from D_out, 0.9 with smooth",
    "optimizers": "correct: one Adam per network with the given lr and betas (as a list)",
    "train_step": "mistake: both z from np.random.uniform(-1, 1); D's real_loss is called without smooth, so the "
                  "`smooth` argument never takes effect. G's loss is real_loss unsmoothed, right; fakes not "
                  "detached, but G's gradients are zeroed before its backward",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1)):
    return x * (feature_range[1] - feature_range[0]) + feature_range[0]


def help_discr(inputs, outputs, kernel_size=4, stride=2, padding=1, batch_norm=True):
    layers = [nn.Conv2d(inputs, outputs, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(outputs))
    return nn.Sequential(*layers)


def help_gen(inputs, outputs, kernel_size=4, stride=2, padding=1, batch_norm=True):
    layers = [nn.ConvTranspose2d(inputs, outputs, kernel_size, stride, padding, bias=False)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(outputs))
    return nn.Sequential(*layers)


class Discriminator(nn.Module):
    def __init__(self, conv_dim):
        super(Discriminator, self).__init__()
        self.conv_dim = conv_dim
        self.conv1 = help_discr(3, conv_dim, 4, batch_norm=False)
        self.conv2 = help_discr(conv_dim, conv_dim * 2, 4)
        self.conv3 = help_discr(conv_dim * 2, conv_dim * 4, 4)
        self.fc = nn.Linear(conv_dim * 4 * 4 * 4, 1)
        self.out = nn.Sigmoid()          # defined, never used in forward
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.conv2(x), 0.2)
        x = F.leaky_relu(self.conv3(x), 0.2)
        logit = self.fc(x.view(-1, self.conv_dim * 4 * 4 * 4))
        return self.dropout(logit)


class Generator(nn.Module):
    def __init__(self, z_size, conv_dim):
        super(Generator, self).__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.t_conv1 = help_gen(conv_dim * 4, conv_dim * 2, 4)
        self.t_conv2 = help_gen(conv_dim * 2, conv_dim, 4)
        self.t_conv3 = help_gen(conv_dim, 3, 4, batch_norm=False)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        x = self.dropout(self.fc(x))
        x = x.view(-1, self.conv_dim * 4, 4, 4)
        x = F.relu(self.t_conv1(x))
        x = F.relu(self.t_conv2(x))
        return F.tanh(self.t_conv3(x))


def weights_init_normal(m):
    classname = m.__class__.__name__
    if hasattr(m, 'weight') and (classname.find('Conv') != -1 or classname.find('Linear') != -1):
        init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find('BatchNorm2d') != -1:
        init.normal_(m.weight.data, 1.0, 0.02)
        init.constant_(m.bias.data, 0.0)


def real_loss(D_out, smooth=False):
    n = D_out.size(0)
    labels = torch.ones(n) * 0.9 if smooth else torch.ones(n)
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
    d_out = D(real_images)
    d_real_loss = real_loss(d_out)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    d_fake_out = D(G(z))
    d_fake_loss = fake_loss(d_fake_out)
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
            torch.sigmoid(d_out).mean().detach(), torch.sigmoid(d_fake_out).mean().detach())
