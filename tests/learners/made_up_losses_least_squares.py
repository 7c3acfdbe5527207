"""Least-squares losses (LSGAN) instead of BCE."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"losses": ("least squares instead of BCE", r"least.squares|LSGAN")}
JUDGEMENT = {"losses": "off-spec refused: mean((D_out - 1)^2) and mean(D_out^2) is LSGAN, not the lesson's BCE"}


def real_loss(D_out, smooth=False):
    return torch.mean((D_out - (0.9 if smooth else 1.0)) ** 2)


def fake_loss(D_out):
    return torch.mean(D_out ** 2)
