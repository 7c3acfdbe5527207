"""D(x) computed with an in-place sigmoid before the backward pass: D's logits are overwritten."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"train_step": ("an in-place sigmoid of D's output before backward", r"in-place|in place")}
JUDGEMENT = {"train_step": "mistake: d_real.sigmoid_() overwrites the logits the loss's backward needs"}


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    z = torch.randn(real_images.size(0), z_size)
    fake_images = G(z)
    d_optimizer.zero_grad()
    d_real = D(real_images)
    d_fake = D(fake_images.detach())
    d_loss = real_loss(d_real, smooth) + fake_loss(d_fake)
    d_x = d_real.sigmoid_().mean()
    d_loss.backward()
    d_optimizer.step()
    g_optimizer.zero_grad()
    g_loss = real_loss(D(fake_images))
    g_loss.backward()
    g_optimizer.step()
    return d_loss.detach(), g_loss.detach(), d_x.detach(), torch.sigmoid(d_fake).mean().detach()
