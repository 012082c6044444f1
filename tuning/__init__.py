"""tuning: hyperparameter sweeps for PyTorch Lightning models on Ray Tune, from one YAML file."""
