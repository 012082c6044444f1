"""Plain torch networks, injected into the LightningModules as their `net`."""

from torch import nn


class MLP(nn.Module):
    """A one-hidden-layer perceptron."""

    def __init__(self, in_features: int = 64, hidden_dim: int = 32, num_classes: int = 10, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, num_classes)
        )

    def forward(self, x):
        return self.layers(x)


class SimpleDenseNet(nn.Module):
    """The Lightning + Hydra template's `src/models/components/simple_dense_net.py`, as it is."""

    def __init__(
        self,
        input_size: int = 784,
        lin1_size: int = 256,
        lin2_size: int = 256,
        lin3_size: int = 256,
        output_size: int = 10,
    ):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(input_size, lin1_size),
            nn.BatchNorm1d(lin1_size),
            nn.ReLU(),
            nn.Linear(lin1_size, lin2_size),
            nn.BatchNorm1d(lin2_size),
            nn.ReLU(),
            nn.Linear(lin2_size, lin3_size),
            nn.BatchNorm1d(lin3_size),
            nn.ReLU(),
            nn.Linear(lin3_size, output_size),
        )

    def forward(self, x):
        return self.model(x.view(x.size(0), -1))
