"""tuning: hyperparameter sweeps for PyTorch Lightning models on Ray Tune, from one YAML file."""

__version__ = "0.1.0"
