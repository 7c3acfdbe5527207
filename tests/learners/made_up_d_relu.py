"""D with plain ReLU (slope 0) where the lesson asks for leaky ReLU 0.2: learners reuse G's activation."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"discriminator": ("ReLU instead of leaky ReLU 0.2", r"0\.2")}
JUDGEMENT = {"discriminator": "mistake: F.relu after each hidden conv; D's gradient dies for inputs it scores low"}


class Discriminator(_lesson.Discriminator):
    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        return self.fc(x.flatten(1))
