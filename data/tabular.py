"""A local CSV or Parquet table: feature columns and one label column."""

from pathlib import Path

import torch

from .arrays import ArrayDataModule


class TabularDataModule(ArrayDataModule):
    """Classification on a local table; string or integer labels are mapped to ids 0..k-1 in sorted order."""

    def __init__(
        self,
        path: str,
        label_column: str,
        feature_columns: list[str] | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.2,
        test_fraction: float = 0.1,
        split_seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.label_names: list = []

    def load_arrays(self):
        table = read_table(Path(self.hparams.path).expanduser())
        label = self.hparams.label_column
        if label not in table.column_names:
            raise ValueError(
                f"label_column '{label}' is not a column of {self.hparams.path}; "
                f"columns: {', '.join(table.column_names)}"
            )
        features = self.hparams.feature_columns or [c for c in table.column_names if c != label]
        missing = [c for c in features if c not in table.column_names]
        if missing:
            raise ValueError(f"feature_columns {missing} are not columns of {self.hparams.path}")
        x = torch.tensor([table.column(c).to_pylist() for c in features], dtype=torch.float32).T
        labels = table.column(label).to_pylist()
        self.label_names = sorted(set(labels))
        ids = {name: i for i, name in enumerate(self.label_names)}
        return x, torch.tensor([ids[v] for v in labels], dtype=torch.long)


def read_table(path: Path):
    """A pyarrow Table from a .csv or .parquet file."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    if path.suffix == ".csv":
        import pyarrow.csv as pv

        return pv.read_csv(path)
    raise ValueError(f"{path}: expected a .csv or .parquet file")
