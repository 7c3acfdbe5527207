"""BCE's arguments swapped: the labels as the input, the logits as the target."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"losses": ("the arguments of BCE swapped", r"order|swap|first")}
JUDGEMENT = {"losses": "mistake: F.binary_cross_entropy_with_logits(labels, D_out)"}


def real_loss(D_out, smooth=False):
    return F.binary_cross_entropy_with_logits(torch.full_like(D_out, 0.9 if smooth else 1.0), D_out)


def fake_loss(D_out):
    return F.binary_cross_entropy_with_logits(torch.zeros_like(D_out), D_out)
