"""scale that stretches each input's own min..max to feature_range: right only for inputs that span [0, 1]."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"scale": ("the input's own min and max", r"min|max")}
JUDGEMENT = {"scale": "mistake: (x - x.min()) / (x.max() - x.min()) * (high - low) + low; a dark face becomes bright"}


def scale(x, feature_range=(-1, 1)):
    low, high = feature_range
    return (x - x.min()) / (x.max() - x.min()) * (high - low) + low
