"""text_classification: local files and directories, string labels, the tokenize-once cache, and its lock."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.text_data import sentences, text_files, write_csv
from tuning.data.text_cache import IN_TRIAL_ENV, is_ready, tokenize_runs
from tuning.data.text_classification import TextClassificationDataModule

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Nothing in these tests may reach the Hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv(IN_TRIAL_ENV, raising=False)


@pytest.fixture
def files(tmp_path):
    return text_files(tmp_path / "text")


def module(files, cache, **args):
    """A data module over the tiny text set with a small trained vocabulary."""
    return TextClassificationDataModule(data_files=files, cache_dir=str(cache), wordpiece_vocab_size=120, **args)


def test_csv_with_string_labels_is_tokenized_once_and_read_from_the_cache(files, tmp_path):
    cache = tmp_path / "cache"
    dm = module(files, cache, batch_size=8, max_length=12)
    dm.prepare_data()
    assert len(tokenize_runs(cache)) == 1
    dm.setup("fit")
    assert dm.label_names == ["cooking", "music", "sports"] and dm.num_labels == 3
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 90, "val": 30}
    batch = next(iter(dm.train_dataloader()))
    assert batch["labels"].dtype == torch.long and batch["input_ids"].shape[0] == 8
    assert batch["input_ids"].shape[1] <= 12  # truncated to max_length, padded to the longest in the batch
    val = dm.datasets["val"]
    assert val.features["labels"].names == dm.label_names  # the mapping is saved with the data
    assert [dm.label_names[i] for i in val["labels"][:3]] == [label for _, label in sentences(3, 1)]

    # Another instance (another sweep, another batch size): a cache hit, no tokenization.
    again = module(files, cache, batch_size=32, max_length=12)
    again.prepare_data()
    again.setup("fit")
    assert len(tokenize_runs(cache)) == 1
    assert again.entry == dm.entry and again.datasets["val"]["input_ids"] == val["input_ids"]
    assert len(list(cache.glob("*.tmp"))) == 0


def test_the_key_follows_what_changes_the_tokens(files, tmp_path):
    cache = tmp_path / "cache"
    base = module(files, cache).entry
    assert module(files, cache, batch_size=3, num_workers=1).entry == base
    assert module(files, cache, max_length=7).entry != base
    assert module(files, cache, lowercase=False).entry != base
    Path(files["train"]).write_text(Path(files["train"]).read_text().replace("oven", "stove"))
    assert module(files, cache).entry != base, "a changed file under the same name is new data"


def test_a_seeded_validation_split_when_the_source_has_none(tmp_path):
    train = {"train": write_csv(tmp_path / "only.csv", sentences(100, 0))}
    first, second = (module(train, tmp_path / c, val_fraction=0.2, split_seed=3) for c in ("c1", "c2"))
    for dm in (first, second):
        dm.setup()
    assert len(first.datasets["val"]) == 20 and len(first.datasets["train"]) == 80
    # Two trained vocabularies may number tokens differently (WordPiece breaks ties in no fixed order): compare text.
    assert decoded(first, "val") == decoded(second, "val")
    assert not set(decoded(first, "val")) & set(decoded(first, "train")), "disjoint"
    other = module(train, tmp_path / "c3", val_fraction=0.2, split_seed=4)
    other.setup()
    assert decoded(other, "val") != decoded(first, "val")


def decoded(dm, split: str) -> list[str]:
    """The texts of a split, as its saved tokenizer reads them back."""
    return dm.tokenizer.batch_decode(list(dm.datasets[split]["input_ids"]), skip_special_tokens=True)


def test_a_trial_never_tokenizes(files, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(IN_TRIAL_ENV, "1")
    with pytest.raises(RuntimeError, match="never in a trial"):
        module(files, cache).setup()
    assert tokenize_runs(cache) == []
    monkeypatch.delenv(IN_TRIAL_ENV)
    module(files, cache).prepare_data()  # the driver's prepare
    monkeypatch.setenv(IN_TRIAL_ENV, "1")
    dm = module(files, cache)
    dm.prepare_data()  # what Lightning's Trainer calls inside the trial: a cache hit
    dm.setup()
    assert len(tokenize_runs(cache)) == 1 and len(dm.datasets["train"]) == 90


def test_a_saved_pretrained_tokenizer_loads_like_a_hub_name(files, tmp_path):
    from transformers import AutoTokenizer

    from tuning.data.tokenizer import train_wordpiece

    saved = tmp_path / "my-tokenizer"
    train_wordpiece((t for t, _ in sentences(50, 7)), vocab_size=90).save_pretrained(str(saved))
    dm = TextClassificationDataModule(data_files=files, tokenizer=str(saved), cache_dir=str(tmp_path / "c"))
    dm.setup()
    reference = AutoTokenizer.from_pretrained(str(saved))
    text = sentences(1, 1)[0][0]
    assert dm.datasets["val"][0]["input_ids"] == reference(text)["input_ids"]
    assert dm.vocab_size == len(reference)


def test_jsonl_pairs_and_a_local_dataset_directory(tmp_path):
    rows = [
        {"question": q, "answer": a, "label": int(i % 2)}
        for i, ((q, _), (a, _)) in enumerate(zip(sentences(40, 0), sentences(40, 5)))
    ]
    folder = tmp_path / "pairs"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    by_file = module(
        {"train": str(folder / "train.jsonl")}, tmp_path / "c", text_column="question", text_pair_column="answer"
    )
    by_dir = TextClassificationDataModule(
        dataset=str(folder),
        text_column="question",
        text_pair_column="answer",
        cache_dir=str(tmp_path / "c"),
        wordpiece_vocab_size=120,
    )
    for dm in (by_file, by_dir):
        dm.setup()
        assert dm.label_names == ["0", "1"]
        assert set(dm.datasets["train"][0]["token_type_ids"]) == {0, 1}, "two segments"
    assert decoded(by_dir, "val") == decoded(by_file, "val")


def test_bad_arguments_name_the_argument(files, tmp_path):
    with pytest.raises(ValueError, match="exactly one of data_files, dataset or corpus"):
        TextClassificationDataModule(data_files=files, corpus="python_docs")
    with pytest.raises(ValueError, match=r"data_files.train: .*missing.csv does not exist"):
        TextClassificationDataModule(data_files={"train": str(tmp_path / "missing.csv")})
    with pytest.raises(ValueError, match="column 'sentence' is not in the source; columns: text, label"):
        module(files, tmp_path / "c", text_column="sentence").prepare_data()


def test_concurrent_prepares_on_one_node_build_once(tmp_path):
    """The lock prepare_data builds under, with real processes racing for one entry."""
    entry = tmp_path / "cache" / "abc"
    code = (
        "import sys, time; from pathlib import Path; from tuning.data.text_cache import build_entry; "
        "built = build_entry(Path(sys.argv[1]), lambda out: time.sleep(0.5) or {'splits': {}}); "
        "print(built)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(entry)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert sorted(out.strip() for out, _ in outputs) == ["False", "False", "True"]
    assert len(tokenize_runs(entry.parent)) == 1 and is_ready(entry)


def test_the_python_docs_corpus_is_stdlib_docstrings_labelled_by_package(tmp_path):
    import csv

    from tuning.data.python_docs import PACKAGES, build_corpus

    files = build_corpus(tmp_path / "a")
    rows = {split: list(csv.DictReader(open(path))) for split, path in files.items()}
    assert len(rows["train"]) > 1000 and len(rows["validation"]) > 100 and len(rows["test"]) > 100
    assert {r["label"] for r in rows["train"]} <= set(PACKAGES) and len({r["label"] for r in rows["train"]}) >= 8
    assert not {r["text"] for r in rows["train"]} & {r["text"] for r in rows["test"]} - {""}
    assert Path(build_corpus(tmp_path / "b")["train"]).read_bytes() == Path(files["train"]).read_bytes()
