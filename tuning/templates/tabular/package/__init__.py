"""__package__: a tabular classifier and its data, tuned with `tuning run sweep.yaml`."""
