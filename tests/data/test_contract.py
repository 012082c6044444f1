"""Every registered DataModule: seeded disjoint splits, the right tensor types, loaders that cover each split."""

import pytest
import torch

from data import DATA
from tuning.classes import resolve_class


@pytest.fixture
def table_files(tmp_path):
    """The same small table as CSV and as Parquet, with string labels."""
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    g = torch.Generator().manual_seed(0)
    n = 60
    table = pa.table({"f1": torch.randn(n, generator=g).tolist(), "f2": torch.randn(n, generator=g).tolist(),
                      "species": [["setosa", "virginica", "versicolor"][i % 3] for i in range(n)]})
    pv.write_csv(table, tmp_path / "t.csv")
    pq.write_table(table, tmp_path / "t.parquet")
    return tmp_path


def example_args(name: str, files) -> dict:
    """Init args for each registered data module; a new registry entry must add its own here."""
    return {
        "digits": {"batch_size": 32},
        "tabular": {"path": str(files / "t.csv"), "label_column": "species", "batch_size": 16},
    }[name]


@pytest.mark.parametrize("name", sorted(DATA))
def test_data_module_contract(name, table_files):
    cls = resolve_class("data", name)
    dm = cls(**example_args(name, table_files))
    dm.prepare_data()
    dm.setup("fit")
    sizes = {split: len(dm.datasets[split]) for split in ("train", "val", "test")}
    assert sizes["train"] > sizes["val"] > 0
    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.float32 and y.dtype == torch.long and x.ndim == 2 and len(x) == len(y)
    assert sum(len(b[1]) for b in dm.val_dataloader()) == sizes["val"]

    again = cls(**example_args(name, table_files))
    again.setup("fit")
    assert torch.equal(again.datasets["val"].tensors[0], dm.datasets["val"].tensors[0]), "same seed, same split"
    train_rows = {tuple(r.tolist()) for r in dm.datasets["train"].tensors[0]}
    assert not train_rows & {tuple(r.tolist()) for r in dm.datasets["val"].tensors[0]}, "splits are disjoint"


def test_tabular_reads_parquet_like_csv_and_maps_labels(table_files):
    from data.tabular import TabularDataModule

    dms = [TabularDataModule(path=str(table_files / f), label_column="species") for f in ("t.csv", "t.parquet")]
    for dm in dms:
        dm.setup()
    assert dms[0].label_names == dms[1].label_names == ["setosa", "versicolor", "virginica"]
    assert torch.equal(dms[0].datasets["train"].tensors[1], dms[1].datasets["train"].tensors[1])


def test_tabular_names_a_missing_column(table_files):
    from data.tabular import TabularDataModule

    with pytest.raises(ValueError, match="label_column 'label' is not a column.*species"):
        TabularDataModule(path=str(table_files / "t.csv"), label_column="label").setup()
