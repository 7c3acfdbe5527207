"""puhach/facegen-dcgan at 91edc8934c06baf6a6476c1314e4b500b1fcd457: facegen.py (weights_init_normal, real_loss,
fake_loss, the optimizers and the training loop), with discriminator.py, generator.py and facedata.py (scale) of
the same commit: the Udacity face generation project turned into a command-line program.

Adapted: the signatures the lesson forces. Discriminator(conv_dim) and Generator(z_size, conv_dim) fill the
learner's other constructor arguments with the lesson's 32x32 RGB images and their command line's default
depth of 4 (image_size/target_size=32, in_channels/out_channels=3, depth=4); scale(x, feature_range) is their
scale(x, input_range=(0, 1), target_range) with target_range named feature_range and moved second; the
training loop's body as train_step (its return line added from the learner's own D outputs, with
torch.sigmoid as for every case, although this D already ends in a sigmoid); the optimizers as
make_optimizers(D, G, lr, betas), their args.lr, args.beta1, args.beta2 taken from the arguments; the
`scale(real_images)` call removed from the loop; their train_on_gpu argument as the module-level global.
`smooth` is not used: their real_loss has no such parameter.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = "https://github.com/puhach/facegen-dcgan/blob/91edc8934c06baf6a6476c1314e4b500b1fcd457/facegen.py"

VERDICTS = {
    "scale": "pass",
    "discriminator": ("a sigmoid at D's end: the loss should take logits", r"sigmoid"),
    "generator": "pass",
    "weights_init": "pass",
    "losses": ("least squares (MSE) instead of binary cross-entropy, and no smooth parameter",
               r"smooth|BCE|cross.?entropy|MSE|least.?squares|squared"),
    "optimizers": "pass",
    "train_step": ("z drawn from np.random.uniform(-1, 1), not N(0, 1)", r"randn|N\(0, ?1\)|normal|uniform"),
}
JUDGEMENT = {
    "scale": "correct: maps input_range (0, 1) to the target range for any target range",
    "discriminator": "mistake: 4 strided 4x4 conv blocks conv_dim..x8 (32 -> 2), batch norm on all but the "
                     "first, leaky ReLU 0.2, a linear head after view(batch, -1), but torch.sigmoid on the "
                     "head's output",
    "generator": "correct: linear to conv_dim*8 x 2x2, three transpose conv blocks with batch norm and ReLU "
                 "halving the channels, a biased transpose conv to 3 channels and tanh",
    "weights_init": "correct, off-spec: Linear, Conv2d and ConvTranspose2d weights from N(0, 0.02); their "
                    "biases also from N(0, 0.02) rather than 0 (tiny, harmless); batch norm left as PyTorch "
                    "made it",
    "losses": "mistake: mean((D_out - 1)^2) and mean(D_out^2): a least-squares loss, not BCE on logits, and "
              "real_loss(D_out) takes no smooth argument",
    "optimizers": "correct: one Adam per network with the lr and betas passed in",
    "train_step": "mistake: both z batches from np.random.uniform(-1, 1); D's zero_grad comes after the "
                  "forward passes but before backward, and G's zero_grad clears what D's backward left in G, "
                  "so the order is right",
}

train_on_gpu = torch.cuda.is_available()


def scale(x, feature_range=(-1, 1), input_range=(0, 1)):
    width = input_range[1] - input_range[0]
    assert width > 0, f"bad input range {input_range}"
    unit = (x - input_range[0]) / width                              # to (0, 1) first
    return feature_range[0] + unit * (feature_range[1] - feature_range[0])


def _conv_block(c_in, c_out, kernel_size, stride, padding, activation, batch_norm=True):
    """Conv (biased only without batch norm), optional batch norm, optional activation."""
    parts = [nn.Conv2d(in_channels=c_in, out_channels=c_out, kernel_size=kernel_size, stride=stride,
                       padding=padding, bias=not batch_norm)]
    if batch_norm:
        parts.append(nn.BatchNorm2d(c_out))
    if activation:
        parts.append(activation)
    return nn.Sequential(*parts)


class Discriminator(nn.Module):

    def __init__(self, conv_dim, image_size=32, in_channels=3, depth=4):
        super().__init__()
        self.image_size, self.in_channels, self.conv_dim, self.depth = image_size, in_channels, conv_dim, depth
        blocks = []
        channels_in, channels_out, size = in_channels, conv_dim, image_size
        for i in range(depth):
            blocks.append(_conv_block(channels_in, channels_out, kernel_size=4, stride=2, padding=1,
                                      activation=nn.LeakyReLU(negative_slope=0.2), batch_norm=i > 0))
            channels_in, channels_out = channels_out, channels_out * 2
            size = (size - 4 + 2 * 1) // 2 + 1
        self.conv_layers = nn.Sequential(*blocks)
        self.out_layer = nn.Linear(in_features=channels_in * size * size, out_features=1)

    def forward(self, x):
        x = self.conv_layers(x)
        x = x.view(x.shape[0], -1)
        return torch.sigmoid(self.out_layer(x))


def _deconv_block(c_in, c_out, kernel_size, stride, padding, activation=None, batch_norm=True):
    parts = [nn.ConvTranspose2d(in_channels=c_in, out_channels=c_out, kernel_size=kernel_size, stride=stride,
                                padding=padding, bias=not batch_norm)]
    if batch_norm:
        parts.append(nn.BatchNorm2d(c_out))
    if activation:
        parts.append(activation)
    return nn.Sequential(*parts)


class Generator(nn.Module):

    def __init__(self, z_size, conv_dim, target_size=32, out_channels=3, depth=4):
        super().__init__()
        self.target_size, self.out_channels, self.z_size = target_size, out_channels, z_size
        self.conv_dim, self.depth = conv_dim, depth
        self.initial_size = target_size // (2 ** depth)
        self.in_channels = conv_dim * (2 ** (depth - 1))
        assert self.initial_size >= 2, "the network is too deep for this image size"

        self.fc = nn.Linear(in_features=z_size, out_features=self.in_channels * self.initial_size ** 2)
        blocks, channels, size = [], self.in_channels, self.initial_size
        for _ in range(depth - 1):
            blocks.append(_deconv_block(channels, channels // 2, kernel_size=4, stride=2, padding=1,
                                        activation=nn.ReLU(), batch_norm=True))
            channels //= 2
            size *= 2
        assert channels == conv_dim
        assert size * 2 == target_size
        blocks.append(nn.ConvTranspose2d(in_channels=conv_dim, out_channels=out_channels, kernel_size=4,
                                         stride=2, padding=1))
        self.deconv_layers = nn.Sequential(*blocks)

    def forward(self, x):
        x = self.fc(x)
        x = x.view(x.shape[0], self.in_channels, self.initial_size, self.initial_size)
        return torch.tanh(self.deconv_layers(x))


def weights_init_normal(m):
    if isinstance(m, nn.Linear) or isinstance(m, nn.Conv2d) or isinstance(m, nn.ConvTranspose2d):
        if hasattr(m, 'weight') and m.weight is not None:
            nn.init.normal_(m.weight, mean=0, std=0.02)
        if hasattr(m, 'bias') and m.bias is not None:
            nn.init.normal_(m.bias, mean=0, std=0.02)


def real_loss(D_out):
    return torch.mean((D_out - 1) ** 2)


def fake_loss(D_out):
    return torch.mean((D_out - 0) ** 2)


def make_optimizers(D, G, lr, betas):
    beta1, beta2 = betas
    d_optimizer = optim.Adam(D.parameters(), lr=lr, betas=[beta1, beta2])
    g_optimizer = optim.Adam(G.parameters(), lr=lr, betas=[beta1, beta2])
    return d_optimizer, g_optimizer


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    batch_size = real_images.size(0)
    if train_on_gpu:
        real_images = real_images.cuda()

    # discriminator: losses first, zero_grad just before backward
    on_real = D(real_images)
    d_real_loss = real_loss(on_real)
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    on_fake = D(G(z))
    d_loss = d_real_loss + fake_loss(on_fake)
    d_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()

    # generator
    z = torch.from_numpy(np.random.uniform(-1, 1, size=(batch_size, z_size))).float()
    if train_on_gpu:
        z = z.cuda()
    g_loss = real_loss(D(G(z)))
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()

    return d_loss, g_loss, torch.sigmoid(on_real).mean(), torch.sigmoid(on_fake).mean()
