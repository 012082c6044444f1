"""Every registered DataModule: seeded disjoint splits, the right tensor types, loaders that cover each split."""

from collections.abc import Mapping

import pytest
import torch

from tuning.data import DATA
from tuning.sweep.class_paths import resolve_class


@pytest.fixture
def table_files(tmp_path):
    """The same small table as CSV and as Parquet, with string labels."""
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    g = torch.Generator().manual_seed(0)
    n = 60
    table = pa.table(
        {
            "f1": torch.randn(n, generator=g).tolist(),
            "f2": torch.randn(n, generator=g).tolist(),
            "species": [["setosa", "virginica", "versicolor"][i % 3] for i in range(n)],
        }
    )
    pv.write_csv(table, tmp_path / "t.csv")
    pq.write_table(table, tmp_path / "t.parquet")
    return tmp_path


def example_args(name: str, files) -> dict:
    """Init args for each registered data module; a new registry entry must add its own here."""
    from tests.text_data import text_files

    return {
        "digits": {"batch_size": 32},
        "tabular": {"path": str(files / "t.csv"), "label_column": "species", "batch_size": 16},
        "text_classification": {
            "data_files": text_files(files / "text"),
            "cache_dir": str(files / "text-cache"),
            "wordpiece_vocab_size": 120,
            "batch_size": 16,
        },
    }[name]


def unpack(batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) of a batch: a (features, labels) pair or a dict of token ids with `labels`."""
    return (batch["input_ids"], batch["labels"]) if isinstance(batch, Mapping) else batch


def rows(dataset) -> list[tuple]:
    """The inputs of a split, one hashable row each (feature vectors or token ids)."""
    inputs = dataset.tensors[0].tolist() if hasattr(dataset, "tensors") else dataset["input_ids"]
    return [tuple(r) for r in inputs]


@pytest.mark.parametrize("name", sorted(DATA))
def test_data_module_contract(name, table_files):
    cls = resolve_class("data", name)
    dm = cls(**example_args(name, table_files))
    dm.prepare_data()
    dm.setup("fit")
    sizes = {split: len(data) for split, data in dm.datasets.items()}
    assert sizes["train"] > sizes["val"] > 0 and set(sizes) <= {"train", "val", "test"}
    x, y = unpack(next(iter(dm.train_dataloader())))
    assert x.dtype in (torch.float32, torch.long) and y.dtype == torch.long and x.ndim == 2 and len(x) == len(y)
    assert sum(len(unpack(b)[1]) for b in dm.val_dataloader()) == sizes["val"]

    again = cls(**example_args(name, table_files))
    again.prepare_data()
    again.setup("fit")
    assert rows(again.datasets["val"]) == rows(dm.datasets["val"]), "same seed, same split"
    assert not set(rows(dm.datasets["train"])) & set(rows(dm.datasets["val"])), "splits are disjoint"


def test_tabular_reads_parquet_like_csv_and_maps_labels(table_files):
    from tuning.data.tabular import TabularDataModule

    dms = [TabularDataModule(path=str(table_files / f), label_column="species") for f in ("t.csv", "t.parquet")]
    for dm in dms:
        dm.setup()
    assert dms[0].label_names == dms[1].label_names == ["setosa", "versicolor", "virginica"]
    assert torch.equal(dms[0].datasets["train"].tensors[1], dms[1].datasets["train"].tensors[1])


def test_tabular_names_a_missing_column(table_files):
    from tuning.data.tabular import TabularDataModule

    with pytest.raises(ValueError, match="label_column 'label' is not a column.*species"):
        TabularDataModule(path=str(table_files / "t.csv"), label_column="label").setup()
