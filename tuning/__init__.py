"""tuning: hyperparameter sweeps for PyTorch Lightning models on Ray Tune, from one YAML file."""

__version__ = "0.1.0"

from tuning import _moved

_moved.install()  # module paths of the flat layout, for the pickles of older experiments
