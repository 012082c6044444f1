"""Plain torch networks, the nested arguments of the conformance modules (no Lightning in them)."""

import torch
from torch import nn


class MLP(nn.Module):
    """`num_layers` hidden layers of `hidden_dim` between `in_dim` and `out_dim`."""

    def __init__(self, in_dim: int = 8, hidden_dim: int = 16, out_dim: int = 4, num_layers: int = 1):
        super().__init__()
        sizes = [in_dim] + [hidden_dim] * num_layers
        layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], out_dim))

    def forward(self, x):
        return self.net(x)


class Residual(nn.Module):
    """`inner(x) * scale + x`: a wrapper whose argument is itself a module (nesting at any depth)."""

    def __init__(self, inner: nn.Module, scale: float = 1.0):
        super().__init__()
        self.inner = inner
        self.scale = scale

    def forward(self, x):
        return self.inner(x) * self.scale + x


class Head(nn.Module):
    """A base class a module's argument is typed with; the config gives one of its subclasses."""

    def __init__(self, in_dim: int = 4, num_classes: int = 2):
        super().__init__()
        self.in_dim = in_dim
        self.num_classes = num_classes


class LinearHead(Head):
    """One linear layer."""

    def __init__(self, in_dim: int = 4, num_classes: int = 2, bias: bool = True):
        super().__init__(in_dim, num_classes)
        self.fc = nn.Linear(in_dim, num_classes, bias=bias)

    def forward(self, x):
        return self.fc(x)


class MLPHead(Head):
    """Two linear layers."""

    def __init__(self, in_dim: int = 4, num_classes: int = 2, hidden: int = 8):
        super().__init__(in_dim, num_classes)
        self.fc = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.fc(x)


class Noise(nn.Module):
    """A transform with no parameters (an Optional argument of the data modules)."""

    def __init__(self, std: float = 0.1):
        super().__init__()
        self.std = std

    def forward(self, x):
        return x + self.std * torch.randn_like(x)
