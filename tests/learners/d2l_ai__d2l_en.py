"""d2l-ai/d2l-en at 0d12ac34: chapter_generative-adversarial-networks/dcgan.md, PyTorch tab (with update_D /
update_G of gan.md, which its train() calls through d2l).

Adapted: net_D and net_G become classes taking the lesson's arguments (n_D and n_G become conv_dim, the
latent 100 becomes z_size), built from the chapter's D_block and G_block; for 32x32, net_D loses its 4th
D_block (n_D*4 -> n_D*8), so its final 4x4 convolution reads conv_dim*4 channels, and net_G loses its last
G_block (n_G*2 -> n_G), so the output transpose convolution reads conv_dim*2 channels; G's forward still
takes z as (B, z_size, 1, 1). The init loop (every parameter of the net from N(0, 0.02)) becomes
weights_init_normal over the module's own parameters, which D.apply reaches for every module. The chapter
has no real_loss/fake_loss: they are written as update_D / update_G compute them (nn.BCEWithLogitsLoss with
reduction='sum' against ones / zeros reshaped to D's output), and real_loss gets the lesson's smooth
(target 0.9). The two Adams with trainer_hp ({'lr': lr, 'betas': [0.5, 0.999]}) become make_optimizers.
update_D then update_G, with the Z that train() draws, become train_step, which returns loss_D, loss_G and
D's mean probabilities (sigmoid of real_Y and fake_Y) as tensors.
"""
import torch
import torch.nn as nn

SOURCE = ("https://github.com/d2l-ai/d2l-en/blob/0d12ac3410106558611f48850c3aef902491f870/"
          "chapter_generative-adversarial-networks/dcgan.md")

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("batch norm on the first layer",
                      r"(batch ?norm|BatchNorm).*(first|input)|(first|input).*(batch ?norm|BatchNorm)"
                      r"|\(batch, 1\)"),  # and logits shaped (B, 1, 1, 1): added in review
    "generator": ("G only takes z as (B, z_size, 1, 1)", _Z4 + r"|view|reshape|unsqueeze"),
    "weights_init": ("batch norm weights from N(0, 0.02)", r"batch ?norm|BatchNorm"),
    "losses": ("the loss is summed over the batch, not averaged",
               r"\bsum|summ|average|reduction|batch size|grows with"),
    "optimizers": "pass",
    "train_step": ("z drawn as (B, z_size, 1, 1)", _Z4),
}
JUDGEMENT = {
    "discriminator": "mistake: every D_block is conv + BatchNorm2d + leaky ReLU 0.2, the first included (the "
                     "chapter's summary says 'except its input layer', its code does not); 3 stride-2 convs "
                     "(conv_dim, x2, x4), a 4x4 conv head with no sigmoid: raw logits, shaped (B, 1, 1, 1)",
    "generator": "mistake: the first G_block is ConvTranspose2d(z_size, conv_dim*8, 4, 1, 0) on a 1x1 input, so "
                 "z must be (B, z_size, 1, 1); otherwise BN + ReLU on hidden layers, tanh, 32x32",
    "weights_init": "mistake: every parameter, batch norm's weight and bias included, from N(0, 0.02); batch "
                    "norm's scale should be 1 or N(1, 0.02). (Linear would be covered, as every parameter is.)",
    "losses": "mistake: nn.BCEWithLogitsLoss on logits is right, but reduction='sum' adds the per-image losses "
              "up instead of averaging them; labels are ones / zeros reshaped to D's output, 0.9 with smooth",
    "optimizers": "correct: one Adam per network with the lr passed in; off-spec: betas written in as the list "
                  "[0.5, 0.999], the lesson's values but not the betas passed in",
    "train_step": "mistake: Z = torch.normal(0, 1, size=(B, z_size, 1, 1)), not (B, z_size); otherwise correct: "
                  "D first with zero_grad, fakes detached, loss_D = (real + fake) / 2 (a halved D loss, "
                  "off-spec), then G with zero_grad, new fakes from the same Z through the updated D, real "
                  "labels",
}


class D_block(nn.Module):
    """Convolution, batch norm, leaky ReLU: halves the image with the defaults."""

    def __init__(self, out_channels, in_channels=3, kernel_size=4, strides=2, padding=1, alpha=0.2, **kwargs):
        super().__init__(**kwargs)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding, bias=False)
        self.batch_norm = nn.BatchNorm2d(out_channels)
        self.activation = nn.LeakyReLU(alpha, inplace=True)

    def forward(self, X):
        return self.activation(self.batch_norm(self.conv2d(X)))


class G_block(nn.Module):
    """Transpose convolution, batch norm, ReLU: doubles the image with the defaults."""

    def __init__(self, out_channels, in_channels=3, kernel_size=4, strides=2, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.conv2d_trans = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, strides, padding,
                                               bias=False)
        self.batch_norm = nn.BatchNorm2d(out_channels)
        self.activation = nn.ReLU()

    def forward(self, X):
        return self.activation(self.batch_norm(self.conv2d_trans(X)))


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        n_D = conv_dim
        self.net = nn.Sequential(
            D_block(n_D),                                        # 16x16
            D_block(in_channels=n_D, out_channels=n_D * 2),      # 8x8
            D_block(in_channels=n_D * 2, out_channels=n_D * 4),  # 4x4
            nn.Conv2d(in_channels=n_D * 4, out_channels=1, kernel_size=4, bias=False))  # 1x1

    def forward(self, X):
        return self.net(X)


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        n_G = conv_dim
        self.net = nn.Sequential(
            G_block(in_channels=z_size, out_channels=n_G * 8, strides=1, padding=0),  # 4x4
            G_block(in_channels=n_G * 8, out_channels=n_G * 4),                        # 8x8
            G_block(in_channels=n_G * 4, out_channels=n_G * 2),                        # 16x16
            nn.ConvTranspose2d(in_channels=n_G * 2, out_channels=3, kernel_size=4, stride=2, padding=1,
                               bias=False),                                             # 32x32
            nn.Tanh())

    def forward(self, X):
        return self.net(X)


def weights_init_normal(m):
    # every weight and bias this module holds itself, from N(0, 0.02)
    for w in m.parameters(recurse=False):
        nn.init.normal_(w, 0, 0.02)


loss = nn.BCEWithLogitsLoss(reduction='sum')


def real_loss(D_out, smooth=False):
    ones = torch.ones((D_out.shape[0],), device=D_out.device)
    if smooth:
        ones = ones * 0.9
    return loss(D_out, ones.reshape(D_out.shape))


def fake_loss(D_out):
    zeros = torch.zeros((D_out.shape[0],), device=D_out.device)
    return loss(D_out, zeros.reshape(D_out.shape))


def make_optimizers(D, G, lr, betas):
    trainer_hp = {'lr': lr, 'betas': [0.5, 0.999]}
    trainer_D = torch.optim.Adam(D.parameters(), **trainer_hp)
    trainer_G = torch.optim.Adam(G.parameters(), **trainer_hp)
    return trainer_D, trainer_G


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    imgs = real_images
    z = torch.normal(0, 1, size=(imgs.shape[0], z_size, 1, 1))
    z = z.to(imgs.device)
    # update_D
    d_optimizer.zero_grad()
    y_real = D(imgs)
    x_fake = G(z)
    y_fake = D(x_fake.detach())   # G gets no gradient from D's update
    d_loss = (real_loss(y_real, smooth) + fake_loss(y_fake)) / 2
    d_loss.backward()
    d_optimizer.step()
    p_real, p_fake = torch.sigmoid(y_real).mean(), torch.sigmoid(y_fake).mean()
    # update_G: new fakes from the same z, through the D just updated
    g_optimizer.zero_grad()
    x_fake = G(z)
    y_fake = D(x_fake)
    g_loss = real_loss(y_fake)
    g_loss.backward()
    g_optimizer.step()
    return d_loss, g_loss, p_real, p_fake
