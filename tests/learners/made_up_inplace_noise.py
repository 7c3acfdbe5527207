"""Instance noise added to the fakes in place, after D has scored them: autograd needs the tanh's output."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"train_step": ("an in-place change of a tensor backward needs", r"in-place|in place")}
JUDGEMENT = {"train_step": "mistake: fake_images.add_(noise) changes G's tanh output, which backward needs; "
                           "fake_images = fake_images + noise does not"}


def train_step(D, G, d_optimizer, g_optimizer, real_images, z_size, smooth=True):
    z = torch.randn(real_images.size(0), z_size)
    fake_images = G(z)
    d_optimizer.zero_grad()
    d_real = D(real_images)
    d_fake = D(fake_images.detach())
    d_loss = real_loss(d_real, smooth) + fake_loss(d_fake)
    d_loss.backward()
    d_optimizer.step()
    g_optimizer.zero_grad()
    fake_images.add_(0.05 * torch.randn_like(fake_images))
    g_loss = real_loss(D(fake_images))
    g_loss.backward()
    g_optimizer.step()
    return d_loss.detach(), g_loss.detach(), torch.sigmoid(d_real).mean().detach(), torch.sigmoid(d_fake).mean().detach()
