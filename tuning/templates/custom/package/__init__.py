"""__package__: your own model and data, tuned with `tuning run sweep.yaml`."""
