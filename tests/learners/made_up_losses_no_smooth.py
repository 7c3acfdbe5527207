"""real_loss(D_out) without the smooth parameter (the newer Udacity template's signature)."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"losses": ("real_loss has no smooth parameter", r"smooth=False|smooth parameter")}
JUDGEMENT = {"losses": "mistake: the lesson's train_step calls real_loss(d_out, smooth)"}


def real_loss(D_out):
    return F.binary_cross_entropy_with_logits(D_out, torch.ones_like(D_out))
