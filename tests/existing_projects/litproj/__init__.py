"""A small Lightning project: plain networks, LightningModules in three shapes, a DataModule. No tuning inside."""
