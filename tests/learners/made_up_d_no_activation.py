"""D with no activation between its convolutions: a linear map with batch norm, however deep."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"discriminator": ("no activation between the layers", r"0\.2|leaky")}
JUDGEMENT = {"discriminator": "mistake: conv -> batch norm -> conv ... with no nonlinearity"}


class Discriminator(_lesson.Discriminator):
    def forward(self, x):
        return self.fc(self.conv3(self.conv2(self.conv1(x))).flatten(1))
