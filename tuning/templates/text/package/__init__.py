"""__package__: a text classifier and its data, tuned with `tuning run sweep.yaml`."""
