"""fake_loss as 1 - real_loss."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"losses": ("fake_loss as 1 - real_loss", r"label 0|labelled 0|zeros")}
JUDGEMENT = {"losses": "mistake: 1 - BCE(D_out, 1) is not BCE(D_out, 0)"}


def fake_loss(D_out):
    return 1 - _lesson.real_loss(D_out)
