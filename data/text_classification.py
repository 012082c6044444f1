"""Text classification from a Hub dataset, local files or a built-in corpus, tokenized once per sweep.

`prepare_data()` (called once by the driver, before any trial) loads the source with
`datasets.load_dataset`, maps labels to ids, tokenizes with a batched `map` and saves the result
with `save_to_disk` into a cache entry keyed by a fingerprint of everything that decides it.
`setup()` (in every trial) only memory-maps that entry with `load_from_disk`: trials share the
pages of the Arrow files, and a trial never tokenizes (it raises if the cache is missing).
"""

import os
import shutil
import sys
from pathlib import Path

import lightning as L
from lightning.fabric.utilities.data import AttributeDict
from torch.utils.data import DataLoader

from . import text_cache

FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
CORPORA = ("python_docs",)


class TextClassificationDataModule(L.LightningDataModule):
    """Texts (or text pairs) and labels; string labels become ids 0..k-1 in sorted order.

    Give exactly one source: `data_files` ({split: path} or one path, CSV / JSON lines / Parquet),
    `dataset` (a Hub name or local dataset directory, with `subset` and `revision`), or `corpus`
    (`python_docs`: standard-library docstrings labelled by package, built locally).
    With no `tokenizer`, a WordPiece tokenizer of `wordpiece_vocab_size` is trained on the train split
    (its real size, `vocab_size`, may be smaller). Init args share no names with text_classifier's:
    Lightning merges both into the logged hyperparameters.
    """

    def __init__(
        self,
        data_files: dict[str, str] | str | None = None,
        dataset: str | None = None,
        subset: str | None = None,
        revision: str | None = None,
        corpus: str | None = None,
        text_column: str = "text",
        text_pair_column: str | None = None,
        label_column: str = "label",
        train_split: str = "train",
        validation_split: str = "validation",
        test_split: str = "test",
        val_fraction: float = 0.1,
        split_seed: int = 0,
        tokenizer: str | None = None,
        tokenizer_revision: str | None = None,
        wordpiece_vocab_size: int = 8000,
        lowercase: bool = True,
        max_length: int = 128,
        batch_size: int = 32,
        num_workers: int = 0,
        cache_dir: str | None = None,
    ):
        # Its own arguments, read back below: under LightningCLI's instantiator, save_hyperparameters stores the
        # config of the class it builds, so a subclass's hparams (tuning init's text template) lack these.
        self.settings = AttributeDict({k: v for k, v in locals().items() if k not in ("self", "__class__")})
        super().__init__()
        self.save_hyperparameters()
        if sum(x is not None for x in (data_files, dataset, corpus)) != 1:
            raise ValueError("give exactly one of data_files, dataset or corpus")
        if corpus is not None and corpus not in CORPORA:
            raise ValueError(f"corpus '{corpus}' is unknown; built-in corpora: {', '.join(CORPORA)}")
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.data_files = _check_files(data_files) if data_files is not None else None
        self.root = text_cache.cache_root(cache_dir)
        self.datasets: dict = {}
        self._entry: Path | None = None

    # ---- the cache entry -------------------------------------------------------------------------

    @property
    def entry(self) -> Path:
        """This configuration's cache directory, `<cache_dir>/<fingerprint>`."""
        if self._entry is None:
            self._entry = self.root / text_cache.fingerprint(self._cache_key())
        return self._entry

    def _cache_key(self) -> dict:
        """Everything that decides the tokenized data; batch_size, num_workers and cache_dir do not."""
        hp = self.settings
        if self.data_files is not None:
            source = {split: text_cache.file_digest(Path(p)) for split, p in self.data_files.items()}
        elif hp.corpus is not None:
            source = {"corpus": hp.corpus, "python": sys.version}
        else:
            local = Path(hp.dataset).expanduser()
            source = {
                "dataset": text_cache.path_digest(local) if local.exists() else hp.dataset,
                "subset": hp.subset,
                "revision": hp.revision,
            }
        if hp.tokenizer is None:
            tokenizer = {"wordpiece": hp.wordpiece_vocab_size, "lowercase": hp.lowercase}
        else:
            local = Path(hp.tokenizer).expanduser()
            tokenizer = {
                "tokenizer": text_cache.path_digest(local) if local.is_dir() else hp.tokenizer,
                "revision": hp.tokenizer_revision,
            }
        keys = (
            "text_column",
            "text_pair_column",
            "label_column",
            "train_split",
            "validation_split",
            "test_split",
            "val_fraction",
            "split_seed",
            "max_length",
        )
        return {"source": source, "tokenizer": tokenizer, **{k: hp[k] for k in keys}}

    @property
    def meta(self) -> dict:
        """Label names, sizes and tokenizer facts of the prepared data (prepares it if needed)."""
        if not text_cache.is_ready(self.entry):
            self.prepare_data()
        if not hasattr(self, "_meta"):
            self._meta = text_cache.read_meta(self.entry)
        return self._meta

    @property
    def label_names(self) -> list[str]:
        """Class names in id order."""
        return self.meta["label_names"]

    @property
    def num_labels(self) -> int:
        """Number of classes; models read it from here."""
        return len(self.label_names)

    @property
    def vocab_size(self) -> int:
        """Size of the tokenizer's vocabulary (special tokens included)."""
        return self.meta["vocab_size"]

    @property
    def pad_token_id(self) -> int:
        """The id padding uses."""
        return self.meta["pad_token_id"]

    # ---- Lightning hooks -------------------------------------------------------------------------

    def prepare_data(self) -> None:
        """Tokenize into the cache unless this exact configuration is cached already; never in a trial."""
        if text_cache.is_ready(self.entry):
            return
        text_cache.refuse_in_trial(self.entry)
        from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

        quiet = are_progress_bars_disabled()
        disable_progress_bars()  # one line below says what happened; bars would fill the sweep's console
        try:
            built = text_cache.build_entry(self.entry, self._build)
        finally:
            if not quiet:
                enable_progress_bars()
        if built:
            meta = text_cache.read_meta(self.entry)
            print(
                f"text_classification: tokenized {sum(meta['splits'].values())} texts in {meta['tokenize_s']:.1f} s "
                f"into {self.entry}; labels: {', '.join(meta['label_names'])}",
                file=sys.stderr,
            )

    def setup(self, stage: str | None = None) -> None:
        """Memory-map the cached Arrow files and load the cached tokenizer for dynamic padding."""
        if self.datasets:
            return
        from datasets import load_from_disk
        from transformers import AutoTokenizer, DataCollatorWithPadding

        self.prepare_data()  # a cache hit after the driver's prepare; lets setup() alone work outside sweeps
        saved = load_from_disk(str(self.entry / "dataset"))
        self.datasets = {"train": saved["train"], "val": saved["validation"]}
        if "test" in saved:
            self.datasets["test"] = saved["test"]
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.entry / "tokenizer"))
        self.collator = DataCollatorWithPadding(self.tokenizer)

    def _loader(self, split: str) -> DataLoader:
        workers = self.settings.num_workers
        return DataLoader(
            self.datasets[split],
            batch_size=self.settings.batch_size,
            shuffle=split == "train",
            collate_fn=self.collator,
            num_workers=workers,
            persistent_workers=workers > 0,
        )

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")

    # ---- building the cache (driver only) --------------------------------------------------------

    def _build(self, out: Path) -> dict:
        """Load, split, label, train or load the tokenizer, tokenize and save into `out`; returns meta."""
        from datasets import ClassLabel

        raw = self._splits(self._load_source(out / "source"))
        label_names, to_id = _label_mapping(raw, self.settings.label_column)
        tokenizer = self._tokenizer(raw["train"])
        encode = _encoder(tokenizer, self.settings, to_id)
        tokenized = raw.map(encode, batched=True, remove_columns=raw["train"].column_names, desc="tokenizing")
        tokenized = tokenized.cast_column("labels", ClassLabel(names=label_names))
        tokenized.save_to_disk(str(out / "dataset"))
        tokenizer.save_pretrained(str(out / "tokenizer"))
        shutil.rmtree(out / "source", ignore_errors=True)  # datasets' intermediate Arrow files
        arrow = sum(f.stat().st_size for f in (out / "dataset").rglob("*.arrow"))
        return {
            "fingerprint": self.entry.name,
            "key": self._cache_key(),
            "label_names": label_names,
            "num_labels": len(label_names),
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "splits": {name: len(ds) for name, ds in tokenized.items()},
            "arrow_bytes": arrow,
        }

    def _load_source(self, scratch: Path):
        """The source as a DatasetDict, through `datasets.load_dataset`."""
        from datasets import load_dataset

        hp = self.settings
        files = self.data_files
        if hp.corpus is not None:
            from .python_docs import build_corpus

            files = build_corpus(scratch / "corpus")
        if files is None:
            return load_dataset(hp.dataset, hp.subset, revision=hp.revision)
        builder = FORMATS[Path(next(iter(files.values()))).suffix]
        return load_dataset(builder, data_files=files, cache_dir=str(scratch / "hf"))

    def _splits(self, raw):
        """{train, validation[, test]}: a seeded hold-out of train when the source has no validation split."""
        from datasets import DatasetDict

        hp = self.settings
        if hp.train_split not in raw:
            raise ValueError(f"train_split '{hp.train_split}' is not a split of the source; splits: {list(raw)}")
        for column in filter(None, (hp.text_column, hp.text_pair_column, hp.label_column)):
            if column not in raw[hp.train_split].column_names:
                raise ValueError(
                    f"column '{column}' is not in the source; columns: {', '.join(raw[hp.train_split].column_names)}"
                )
        if hp.validation_split in raw:
            splits = {"train": raw[hp.train_split], "validation": raw[hp.validation_split]}
        else:
            held = raw[hp.train_split].train_test_split(test_size=hp.val_fraction, seed=hp.split_seed)
            splits = {"train": held["train"], "validation": held["test"]}
        if hp.test_split in raw:
            splits["test"] = raw[hp.test_split]
        return DatasetDict(splits)

    def _tokenizer(self, train):
        """The configured tokenizer, or WordPiece trained on the train split's texts."""
        from .tokenizer import load_tokenizer, train_wordpiece

        hp = self.settings
        if hp.tokenizer is not None:
            return load_tokenizer(hp.tokenizer, hp.tokenizer_revision)
        columns = [c for c in (hp.text_column, hp.text_pair_column) if c]
        texts = (
            text
            for batch in train.select_columns(columns).iter(batch_size=1000)
            for column in columns
            for text in batch[column]
            if text
        )
        return train_wordpiece(texts, hp.wordpiece_vocab_size, hp.lowercase, hp.max_length, pairs=len(columns) > 1)


def _check_files(data_files: dict[str, str] | str) -> dict[str, str]:
    """{split: absolute path}; every file exists and all share one supported format."""
    files = {"train": data_files} if isinstance(data_files, str) else dict(data_files)
    resolved = {}
    for split, path in files.items():
        p = Path(path).expanduser().resolve()
        if p.suffix not in FORMATS:
            raise ValueError(f"data_files.{split}: {path} is not one of {', '.join(FORMATS)}")
        if not p.is_file():
            raise ValueError(f"data_files.{split}: {path} does not exist (relative to {os.getcwd()})")
        resolved[split] = str(p)
    if len({FORMATS[Path(p).suffix] for p in resolved.values()}) > 1:
        raise ValueError("data_files: all files must have the same format")
    return resolved


def _label_mapping(raw, column: str) -> tuple[list[str], dict | None]:
    """Class names in id order and value -> id (None when the column is a ClassLabel already)."""
    from datasets import ClassLabel

    feature = raw["train"].features[column]
    if isinstance(feature, ClassLabel):
        return list(feature.names), None
    values = set()
    for split in raw.values():
        values.update(split.unique(column))
    if None in values:
        raise ValueError(f"label_column '{column}' has missing values")
    ordered = sorted(values)
    return [str(v) for v in ordered], {v: i for i, v in enumerate(ordered)}


def _encoder(tokenizer, hp, to_id):
    """The batched map function: token ids, attention mask and integer `labels`."""

    def encode(batch):
        pairs = batch[hp.text_pair_column] if hp.text_pair_column else None
        out = tokenizer(batch[hp.text_column], pairs, truncation=True, max_length=hp.max_length)
        labels = batch[hp.label_column]
        out["labels"] = labels if to_id is None else [to_id[v] for v in labels]
        return dict(out)

    return encode
