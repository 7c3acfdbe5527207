"""bragajj/DCGAN-Anime-Faces at 1518cba2: train.py (loss, optimizers, train_one_epoch), with models/model.py
(the networks and init_weights) and config.py (BATCH_SIZE 128) at that commit.

Adapted: the classes take the lesson's arguments (features_gen and features_d become conv_dim,
channels_noise becomes z_size, the image channels are 3); for 32x32, D loses its last _default_block
(features_d*4 -> features_d*8), so its final convolution (kernel 4, stride 2, padding 0) reads conv_dim*4
channels on 4x4, and G loses its last _default_block (features_gen*2 -> features_gen), so the output
transpose convolution reads conv_dim*2 channels; G's forward still takes z as (B, z_size, 1, 1).
init_weights(model), a loop over model.modules(), becomes weights_init_normal(m) on one module (D.apply
visits them all). There is no real_loss/fake_loss: they are written as the loop computes them (nn.BCELoss
against torch.ones_like / torch.zeros_like of D's reshaped output), and real_loss gets the lesson's smooth
(target 0.9). The optimizer lines become make_optimizers (cfg.LEARNING_RATE is lr; betas=(0.5, 0.999) stays
written in). The loop's per-batch body becomes train_step: cfg.BATCH_SIZE is the notebook's global
batch_size (128 here, as in config.py), cfg.Z_DIMENSION is z_size; it returns loss_disc, loss_gen and the
means of disc_real and disc_fake (which its metric logger receives), as tensors.
"""
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = "https://github.com/bragajj/DCGAN-Anime-Faces/blob/1518cba208ad7e1b6b866bbc3a2da06cc61a0478/train.py"

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("a sigmoid at D's end, and logits shaped (B, 1, 1, 1), not (B, 1)", r"sigmoid|\(batch, 1\)"),
    "generator": ("G only takes z as (B, z_size, 1, 1)", _Z4 + r"|view|reshape|unsqueeze"),
    "weights_init": ("batch norm weights from N(0, 0.02) (and Linear left out)", r"batch ?norm|BatchNorm|Linear"),
    "losses": ("nn.BCELoss takes probabilities, not D's logits",
               r"logits|BCEWithLogits|binary_cross_entropy_with_logits"),
    "optimizers": "pass",
    "train_step": ("z drawn as (batch_size, z_size, 1, 1) with the global batch size, not the real batch's",
                   _Z4 + r"|batch size|batch_size"),
}
JUDGEMENT = {  # discriminator: the output shape added to the mistakes in review (the loop flattened it)
    "discriminator": "mistake: 3 stride-2 convs (conv_dim, x2, x4), batch norm from the second, leaky ReLU 0.2, a "
                     "4x4 conv head (stride 2, padding 0, still 1x1), then nn.Sigmoid(): probabilities, "
                     "(B, 1, 1, 1)",
    "generator": "mistake: the first block is ConvTranspose2d(z_size, conv_dim*8, 4, 1, 0) on a 1x1 input, so z "
                 "must be (B, z_size, 1, 1). Off-spec: its hidden blocks use LeakyReLU(0.2), not ReLU "
                 "(accepted); BN on hidden layers, tanh, 32x32",
    "weights_init": "mistake: Conv2d, ConvTranspose2d and BatchNorm2d weights all from N(0, 0.02): batch norm's "
                    "scale should be 1 or N(1, 0.02), not near 0; biases left as PyTorch made them; Linear is "
                    "not handled",
    "losses": "mistake: nn.BCELoss expects probabilities, the lesson's losses take logits; labels ones_like / "
              "zeros_like D_out",
    "optimizers": "correct: one Adam per network with the lr passed in; off-spec: betas written in as "
                  "(0.5, 0.999), the lesson's values but not the betas passed in",
    "train_step": "mistake: noise = torch.randn(batch_size, z_size, 1, 1) with the notebook's global batch_size, "
                  "not real_images.size(0) and not (B, z_size); otherwise correct: D's loss "
                  "(real + fake) / 2 (halved, off-spec) with fakes detached, D.zero_grad() before its "
                  "backward, step; G on the same fakes through the updated D, G.zero_grad(), step",
}

batch_size = 128  # the notebook's hyperparameter (config.py's BATCH_SIZE)
criterion = nn.BCELoss()


class Generator(nn.Module):
    """A full transpose-convolution generator."""

    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        f = conv_dim
        self.body = nn.Sequential(
            self._default_block(z_size, f * 8, 4, 1, 0),     # 4x4
            self._default_block(f * 8, f * 4, 4, 2, 1),      # 8x8
            self._default_block(f * 4, f * 2, 4, 2, 1),      # 16x16
            nn.ConvTranspose2d(f * 2, 3, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1)),  # 32x32
            nn.Tanh(),
        )

    def _default_block(self, in_channels, out_channels, kernel_size, stride, padding):
        return nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x):
        return self.body(x)


class Discriminator(nn.Module):
    """A full convolution discriminator."""

    def __init__(self, conv_dim=64):
        super().__init__()
        f = conv_dim
        self.body = nn.Sequential(
            nn.Conv2d(3, f, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1)),   # 16x16
            nn.LeakyReLU(0.2),
            self._default_block(f, f * 2, 4, 2, 1),                               # 8x8
            self._default_block(f * 2, f * 4, 4, 2, 1),                           # 4x4
            nn.Conv2d(f * 4, 1, kernel_size=(4, 4), stride=(2, 2), padding=(0, 0)),  # 1x1
            nn.Sigmoid(),
        )

    def _default_block(self, in_channels, out_channels, kernel_size, stride, padding):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x):
        return self.body(x)


def weights_init_normal(m):
    # the paper's N(0, 0.02), for convolutions and batch norm alike
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight.data, 0.0, 0.02)


def real_loss(D_out, smooth=False):
    target = torch.ones_like(D_out)
    if smooth:
        target = target * 0.9
    return criterion(D_out, target)


def fake_loss(D_out):
    return criterion(D_out, torch.zeros_like(D_out))


def make_optimizers(D, G, lr, betas):
    opt_gen = optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_disc = optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    return opt_disc, opt_gen


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    device = real_images.device
    x = real_images
    z = torch.randn(batch_size, z_size, 1, 1).to(device)
    fakes = G(z)

    # discriminator: log(D(x)) + log(1 - D(G(z))) up
    d_real = D(x).reshape(-1)
    d_real_part = real_loss(d_real, smooth)
    d_fake = D(fakes.detach()).reshape(-1)
    d_fake_part = fake_loss(d_fake)
    d_loss = (d_real_part + d_fake_part) / 2
    D.zero_grad()
    d_loss.backward()
    d_optimizer.step()

    # generator: log(D(G(z))) up
    d_again = D(fakes).reshape(-1)
    g_loss = real_loss(d_again)
    G.zero_grad()
    g_loss.backward()
    g_optimizer.step()
    return d_loss, g_loss, d_real.mean(), d_fake.mean()
