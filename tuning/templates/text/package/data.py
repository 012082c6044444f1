"""The data: CSV files with a `text` and a string `label` column, tokenized once per sweep.

Built on tuning's `text_classification` data module: `prepare_data` (run once, in the driver, before
any trial) trains a WordPiece tokenizer on the train split, tokenizes everything and caches it as
Arrow files keyed by the data and tokenizer settings; every trial memory-maps the same files.
"""

from tuning.data.text_classification import TextClassificationDataModule


class ReviewData(TextClassificationDataModule):
    """data/train.csv and data/validation.csv; pass `tokenizer` (a Hub name or a local directory) to use a pretrained
    one, `cache_dir` to keep the tokenized data elsewhere than ~/.cache/tuning/text."""

    def __init__(
        self,
        train_file: str = "data/train.csv",
        validation_file: str = "data/validation.csv",
        tokenizer: str | None = None,
        max_length: int = 64,
        batch_size: int = 32,
        cache_dir: str | None = None,
    ):
        super().__init__(
            data_files={"train": train_file, "validation": validation_file},
            tokenizer=tokenizer,
            wordpiece_vocab_size=2000,
            max_length=max_length,
            batch_size=batch_size,
            cache_dir=cache_dir,
        )
