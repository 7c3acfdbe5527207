"""iArunava/DCGAN at 159c4122: train.py (loss, labels, optimizers, loop), with models/Discriminator.py,
models/Generator.py and utils.py (init_weight).

Adapted: the classes take the lesson's arguments: Discriminator's c1_channels becomes conv_dim (with its
default i_channels_in_2=True the next layers double it; the unused inhw is gone), Generator's z_size stays
and conv_dim is accepted but unused (its channels are the defaults 512, 256, 128, with
d_channels_in_2=False); for 32x32, D loses conv4/bnorm4 (c3 -> c4), so conv5 reads the c3 channels on 4x4,
and G loses convt_3/bnorm3 (ct3 -> ct4), so convt_4 reads the ct3 channels; G's forward still takes z as
(B, z_size, 1, 1). init_weight is renamed weights_init_normal. There is no real_loss/fake_loss: they are
written as the loop computes them (nn.BCELoss against torch.full((b,), real_label) with the int labels
real_label = 1, fake_label = 0), and real_loss gets the lesson's smooth (target 0.9). The optimizer lines
become make_optimizers (dlr and glr are both lr, (beta1, beta2) is (betas[0], betas[1])). The loop's
per-batch body becomes train_step, returning d_loss, g_loss and D's mean outputs on the real and fake
batches as tensors.
"""
import torch
import torch.nn as nn
import torch.optim as optim

SOURCE = "https://github.com/iArunava/DCGAN/blob/159c41227a74aa96d7764e9e844d52400d676a89/train.py"

_Z4 = r"\(B, z_size\)|\(batch, z_size\)|z_size, 1, 1"
VERDICTS = {
    "discriminator": ("a sigmoid at D's end (and .squeeze() drops the batch axis for a batch of 1)",
                      r"sigmoid|squeeze|batch of 1|B ?= ?1|any batch size"),
    "generator": ("G only takes z as (B, z_size, 1, 1) (and its channels ignore conv_dim)",
                  _Z4 + r"|view|reshape|unsqueeze|conv_dim"),
    "weights_init": ("batch norm weights from N(0.1, 0.02), not N(1, 0.02) (and Linear left out)",
                     r"batch ?norm|BatchNorm|Linear"),
    "losses": ("nn.BCELoss takes probabilities, not D's logits; labels (B,) fail a (B, 1) D_out (and the int "
               "labels make Long targets)",
               r"logits|BCEWithLogits|binary_cross_entropy_with_logits|dtype|Long|integer|"
               r"target size|same size|shape"),
    "optimizers": "pass",
    "train_step": ("z drawn as (B, z_size, 1, 1) (and the Long labels of the int real_label/fake_label crash "
                   "BCELoss)", _Z4 + r"|dtype|Long|integer"),
}
JUDGEMENT = {
    "discriminator": "mistake: 3 stride-2 convs (conv_dim, x2, x4), batch norm from the second, leaky ReLU 0.2, a "
                     "4x4 conv head, then a sigmoid; x.view(-1, 1).squeeze() gives (B,) probabilities, and a "
                     "0-d tensor for a batch of 1",
    "generator": "mistake: convt_0 = ConvTranspose2d(z_size, 512, 4, 1, 0) on a 1x1 input needs z as "
                 "(B, z_size, 1, 1); channels 512 -> 256 -> 128 -> 3 fixed whatever conv_dim; BN + ReLU on "
                 "hidden layers, tanh, 32x32",
    "weights_init": "mistake: 'Conv' class names get N(0, 0.02) (m.weight.data.normal_), but batch norm weights "
                    "N(0.1, 0.02), a tenth of the identity scale; bias 0. Linear is not handled",
    "losses": "mistake: nn.BCELoss expects probabilities, the lesson's losses take logits; besides, "
              "torch.full((b,), 1) is int64 in today's PyTorch, which BCELoss refuses (the smoothed 0.9 target "
              "is float); the labels are (b,) (the loop flattens D's output"
              " first), so the lesson's (B, 1) D_out makes BCELoss raise a size mismatch",
    "optimizers": "correct: one Adam per network with the lr and both betas passed in (the source's separate "
                  "dlr and glr both become lr)",
    "train_step": "mistake: z = torch.randn(b, z_size, 1, 1); and fake_loss / G's real_loss build int64 labels, "
                  "so the step crashes in BCELoss. Otherwise correct: D's zero_grad, real and detached fake "
                  "backward passes, step; G's zero_grad, real labels on the updated D for the same fakes",
}

real_label = 1
fake_label = 0
criterion = nn.BCELoss()


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64, c2_channels=128, c3_channels=256, i_channels_in_2=True):
        super().__init__()
        self.c1_channels = conv_dim
        if i_channels_in_2:
            self.c2_channels = self.c1_channels * 2
            self.c3_channels = self.c2_channels * 2
        else:
            self.c2_channels = c2_channels
            self.c3_channels = c3_channels

        self.conv1 = nn.Conv2d(in_channels=3, out_channels=self.c1_channels,
                               kernel_size=4, stride=2, padding=1, bias=False)
        self.conv2 = nn.Conv2d(in_channels=self.c1_channels, out_channels=self.c2_channels,
                               kernel_size=4, stride=2, padding=1, bias=False)
        self.bnorm2 = nn.BatchNorm2d(num_features=self.c2_channels)
        self.conv3 = nn.Conv2d(in_channels=self.c2_channels, out_channels=self.c3_channels,
                               kernel_size=4, stride=2, padding=1, bias=False)
        self.bnorm3 = nn.BatchNorm2d(num_features=self.c3_channels)
        self.conv5 = nn.Conv2d(in_channels=self.c3_channels, out_channels=1,
                               kernel_size=4, padding=0, stride=1, bias=False)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2)
        self.sigmoid = nn.Sigmoid()

    def forward(self, img):
        x = self.lrelu(self.conv1(img))                 # 16x16
        x = self.lrelu(self.bnorm2(self.conv2(x)))      # 8x8
        x = self.lrelu(self.bnorm3(self.conv3(x)))      # 4x4
        x = self.conv5(x)                               # 1x1
        x = self.sigmoid(x)
        return x.view(-1, 1).squeeze()


class Generator(nn.Module):
    def __init__(self, z_size=100, conv_dim=64, ct1_channels=512, ct2_channels=256, ct3_channels=128,
                 d_channels_in_2=False):
        super().__init__()
        self.ct1_channels = ct1_channels
        if d_channels_in_2:
            self.ct2_channels = self.ct1_channels // 2
            self.ct3_channels = self.ct2_channels // 2
        else:
            self.ct2_channels = ct2_channels
            self.ct3_channels = ct3_channels

        self.convt_0 = nn.ConvTranspose2d(in_channels=z_size, out_channels=self.ct1_channels,
                                          kernel_size=4, padding=0, stride=1, bias=False)
        self.bnorm0 = nn.BatchNorm2d(self.ct1_channels)
        self.convt_1 = nn.ConvTranspose2d(in_channels=self.ct1_channels, out_channels=self.ct2_channels,
                                          kernel_size=4, stride=2, padding=1, bias=False)
        self.bnorm1 = nn.BatchNorm2d(num_features=self.ct2_channels)
        self.convt_2 = nn.ConvTranspose2d(in_channels=self.ct2_channels, out_channels=self.ct3_channels,
                                          kernel_size=4, stride=2, padding=1, bias=False)
        self.bnorm2 = nn.BatchNorm2d(num_features=self.ct3_channels)
        self.convt_4 = nn.ConvTranspose2d(in_channels=self.ct3_channels, out_channels=3,
                                          kernel_size=4, stride=2, padding=1, bias=False)
        self.relu = nn.ReLU()
        self.tanh = nn.Tanh()

    def forward(self, z):
        x = self.relu(self.bnorm0(self.convt_0(z)))     # 4x4
        x = self.relu(self.bnorm1(self.convt_1(x)))     # 8x8
        x = self.relu(self.bnorm2(self.convt_2(x)))     # 16x16
        return self.tanh(self.convt_4(x))               # 32x32


def weights_init_normal(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        m.weight.data.normal_(0.1, 0.02)
        m.bias.data.fill_(0)


def real_loss(D_out, smooth=False):
    label = torch.full((D_out.size(0),), 0.9 if smooth else real_label, device=D_out.device)
    return criterion(D_out, label)


def fake_loss(D_out):
    label = torch.full((D_out.size(0),), fake_label, device=D_out.device)
    return criterion(D_out, label)


def make_optimizers(D, G, lr, betas):
    dlr = glr = lr
    beta1, beta2 = betas
    d_opt = optim.Adam(D.parameters(), lr=dlr, betas=(beta1, beta2))
    g_opt = optim.Adam(G.parameters(), lr=glr, betas=(beta1, beta2))
    return d_opt, g_opt


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    device = real_images.device
    b = real_images.size(0)

    # the discriminator
    d_optimizer.zero_grad()
    on_real = D(real_images)
    loss_r = real_loss(on_real, smooth)
    loss_r.backward()

    z = torch.randn(b, z_size, 1, 1, device=device)
    fakes = G(z)
    on_fake = D(fakes.detach())
    loss_f = fake_loss(on_fake)
    loss_f.backward()
    d_loss = loss_r + loss_f
    d_optimizer.step()

    # the generator
    g_optimizer.zero_grad()
    on_fake_after = D(fakes)
    g_loss = real_loss(on_fake_after)
    g_loss.backward()
    g_optimizer.step()
    return d_loss, g_loss, on_real.mean(), on_fake.mean()
