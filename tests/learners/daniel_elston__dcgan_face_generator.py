"""Daniel-Elston/dcgan-face-generator at d94faead: src/models/dcgan.py (a PyTorch Lightning DCGAN: weights_init,
loss, optimizers, training_step), with src/models/discriminator.py and src/models/generator.py.

Adapted: the classes take the lesson's arguments (n_disc_fm and n_gen_fm become conv_dim, latent_vec_dim
becomes z_size, n_channels is 3); for 32x32, D loses its 4th stride-2 convolution (fm*4 -> fm*8), so the
4x4 head reads conv_dim*4 channels, and G drops its fm*8 stage: the 1x1 -> 4x4 transpose convolution goes
straight to fm*4 (the fm*8 -> fm*4 layer is the one dropped); G's forward still takes z as
(B, z_size, 1, 1). weights_init is renamed weights_init_normal. There is no real_loss/fake_loss: they are
written as training_step computes them (nn.BCELoss of preds.view(-1) against torch.ones(b, 1).view(-1) /
torch.zeros(b, 1).view(-1)), and real_loss gets the lesson's smooth (target 0.9). configure_optimizers
becomes make_optimizers (hyperparams.lr is lr, hyperparams.beta1 is betas[0], 0.999 stays written in).
training_step becomes train_step (self.manual_backward(loss) is loss.backward(); self.optimizers() are the
two optimizers passed in; the logging is gone), returning d_loss, g_loss and D's mean outputs on the real
images and on the first fakes, as tensors.
"""
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = ("https://github.com/Daniel-Elston/dcgan-face-generator/blob/d94faead2e3cf05c203286848f9e59d83d1564a0/"
          "src/models/dcgan.py")

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("a sigmoid at D's end, and logits shaped (B, 1, 1, 1), not (B, 1)", r"sigmoid|\(batch, 1\)"),
    "generator": ("G only takes z as (B, z_size, 1, 1)", _Z4 + r"|view|reshape|unsqueeze"),
    "weights_init": ("Linear layers are left out of the N(0, 0.02) init", r"Linear"),
    "losses": ("nn.BCELoss takes probabilities, not D's logits",
               r"logits|BCEWithLogits|binary_cross_entropy_with_logits"),
    "optimizers": "pass",
    "train_step": ("D's gradients are not cleared before its backward (zero_grad only after step, and G's "
                   "backward fills them again); z drawn as (B, z_size, 1, 1)",
                   r"zero_grad|not cleared|accumulat|" + _Z4),
}
JUDGEMENT = {  # discriminator: the output shape added to the mistakes in review (the loop flattened it)
    "discriminator": "mistake: 3 stride-2 convs (conv_dim, x2, x4), no batch norm on the first, leaky ReLU 0.2, a "
                     "4x4 conv head, then nn.Sigmoid(): probabilities, shaped (B, 1, 1, 1)",
    "generator": "mistake: ConvTranspose2d(z_size, conv_dim*4, 4, 1, 0) on a 1x1 input needs z as "
                 "(B, z_size, 1, 1); otherwise BN + ReLU on hidden layers, tanh, 32x32",
    "weights_init": "mistake: 'Conv' class names get N(0, 0.02), batch norm N(1, 0.02) and bias 0; Linear is "
                    "not handled",
    "losses": "mistake: nn.BCELoss expects probabilities, the lesson's losses take logits; float labels, "
              "flattened, sized from D_out",
    "optimizers": "correct: one Adam per network, lr passed in, betas (betas[0], 0.999); off-spec: beta2 "
                  "written in as the lesson's own 0.999",
    "train_step": "mistake: d_optimizer.zero_grad() comes after d_optimizer.step(), and g_loss.backward() then "
                  "fills D's gradients too, so the next D update adds G's loss gradient (D pushed to call "
                  "fakes real); z = torch.randn(b, z_size, 1, 1). Otherwise D first, fakes detached, "
                  "d_loss halved (off-spec), G on fresh noise through the updated D with real labels",
}

criterion = nn.BCELoss()


def weights_init_normal(m):
    layer = m.__class__.__name__
    if layer.find('Conv') != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif layer.find('BatchNorm') != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        fm = conv_dim
        self.main = nn.Sequential(
            nn.Conv2d(3, fm, 4, 2, 1, bias=False),             # 16x16
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(fm, fm * 2, 4, 2, 1, bias=False),        # 8x8
            nn.BatchNorm2d(fm * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(fm * 2, fm * 4, 4, 2, 1, bias=False),    # 4x4
            nn.BatchNorm2d(fm * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(fm * 4, 1, 4, 1, 0, bias=False),         # one probability
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x)


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64):
        super().__init__()
        fm = conv_dim
        self.main = nn.Sequential(
            nn.ConvTranspose2d(z_size, fm * 4, 4, 1, 0, bias=False),   # 4x4
            nn.BatchNorm2d(fm * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(fm * 4, fm * 2, 4, 2, 1, bias=False),   # 8x8
            nn.BatchNorm2d(fm * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(fm * 2, fm, 4, 2, 1, bias=False),       # 16x16
            nn.BatchNorm2d(fm),
            nn.ReLU(True),
            nn.ConvTranspose2d(fm, 3, 4, 2, 1, bias=False),            # 32x32
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


def real_loss(D_out, smooth=False):
    valid_labels = torch.ones(D_out.size(0), 1, device=D_out.device)
    if smooth:
        valid_labels = valid_labels * 0.9
    return criterion(D_out.view(-1), valid_labels.view(-1))


def fake_loss(D_out):
    fake_labels = torch.zeros(D_out.size(0), 1, device=D_out.device)
    return criterion(D_out.view(-1), fake_labels.view(-1))


def make_optimizers(D, G, lr, betas):
    betas = (betas[0], 0.999)
    opt_D = optim.Adam(D.parameters(), lr=lr, betas=betas)
    opt_G = optim.Adam(G.parameters(), lr=lr, betas=betas)
    return opt_D, opt_G


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    x = real_images
    b = x.size(0)
    device = x.device

    # (1) the discriminator
    p_real = D(x)
    d_part_real = real_loss(p_real, smooth)
    z = torch.randn(b, z_size, 1, 1, device=device)
    fakes = G(z)
    p_fake = D(fakes.detach())
    d_part_fake = fake_loss(p_fake)
    d_loss = (d_part_real + d_part_fake) / 2
    d_loss.backward()
    d_optimizer.step()
    d_optimizer.zero_grad()
    mean_real, mean_fake = p_real.mean(), p_fake.mean()

    # (2) the generator, on new z
    z = torch.randn(b, z_size, 1, 1, device=device)
    fakes = G(z)
    p_fake = D(fakes)
    g_loss = real_loss(p_fake)
    g_loss.backward()
    g_optimizer.step()
    g_optimizer.zero_grad()
    return d_loss, g_loss, mean_real, mean_fake
