"""D that flattens with x.view(x.size(0), -1), the tutorials' idiom: valid, and must train."""
from tests.learners._lesson import *  # noqa: F401,F403
from tests.learners import _lesson

SOURCE = "made up"
VERDICTS = {"discriminator": "pass", "train_step": "pass"}
JUDGEMENT = {"discriminator": "correct: .view needs contiguous memory, which channels-last tensors are not",
             "train_step": "correct: the lesson's step with this D"}


class Discriminator(_lesson.Discriminator):
    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.conv2(x), 0.2)
        x = F.leaky_relu(self.conv3(x), 0.2)
        return self.fc(x.view(x.size(0), -1))
