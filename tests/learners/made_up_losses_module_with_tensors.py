"""The loss module called with the tensors instead of being made first: nn.BCEWithLogitsLoss(D_out, labels)."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"losses": ("the loss module built with the tensors", r"nn\.BCEWithLogitsLoss\(\)\(")}
JUDGEMENT = {"losses": "mistake: nn.BCEWithLogitsLoss(D_out, labels) builds a module (D_out as its weight); "
                       "nn.BCEWithLogitsLoss()(D_out, labels) computes the loss"}


def real_loss(D_out, smooth=False):
    return nn.BCEWithLogitsLoss(D_out, torch.full_like(D_out, 0.9 if smooth else 1.0))


def fake_loss(D_out):
    return nn.BCEWithLogitsLoss(D_out, torch.zeros_like(D_out))
