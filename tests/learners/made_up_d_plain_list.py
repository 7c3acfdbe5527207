"""D's layers kept in a plain Python list: PyTorch does not register them, so D.parameters() misses them."""
from tests.learners._lesson import *  # noqa: F401,F403

SOURCE = "made up"
VERDICTS = {"discriminator": ("layers in a plain list, not registered", r"ModuleList|Sequential"),
            "train_step": ("(a correct step) D's layers not registered, so d_optimizer misses them",
                           r"ModuleList|Sequential")}
JUDGEMENT = {"discriminator": "mistake: self.layers = [conv, ...] is invisible to .parameters(), .to() and the "
                              "optimizer",
             "train_step": "correct, but D as written cannot learn: the check must name D, not the step"}


class Discriminator(nn.Module):
    def __init__(self, conv_dim=64):
        super().__init__()
        self.layers = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.Conv2d(conv_dim, conv_dim * 2, 4, 2, 1),
                       nn.Conv2d(conv_dim * 2, conv_dim * 4, 4, 2, 1)]
        self.norms = nn.ModuleList([nn.BatchNorm2d(conv_dim * 2), nn.BatchNorm2d(conv_dim * 4)])
        self.fc = nn.Linear(conv_dim * 4 * 16, 1)

    def forward(self, x):
        x = F.leaky_relu(self.layers[0](x), 0.2)
        for conv, norm in zip(self.layers[1:], self.norms):
            x = F.leaky_relu(norm(conv(x)), 0.2)
        return self.fc(x.flatten(1))
